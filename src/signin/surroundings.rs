//! Where a sign-in happens: is there a browser, a terminal, should a paste
//! be read (contract.md §6), decided once for who asks; are we over SSH.

use crate::config::HostConfig;
use crate::env::Env;

use crate::platform::Browser;

/// Who asks for the sign-in; it decides what may be used to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// Git, through `get`: only with `credential.interactive` and
    /// `GIT_TERMINAL_PROMPT` allowing it; with no way to answer, fail fast.
    Git,
    /// The `login` command: the terminal is read whatever
    /// `GIT_TERMINAL_PROMPT` says. With neither browser nor terminal,
    /// plain `login` fails fast; `login --no-browser` (the user opens the
    /// URL themselves) still prints the URL and waits for the redirect
    /// (e.g. through `ssh -L`).
    Login {
        /// `--no-browser` was given.
        no_browser: bool,
    },
}

/// What this process can use to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surroundings {
    /// A browser, when contract.md §6 finds one.
    pub browser: Option<Browser>,
    /// Whether `/dev/tty` can be used for a pasted redirect URL.
    pub terminal: bool,
    /// Whether to read a paste while waiting: `login` always does on a
    /// terminal, `get` only when there is no browser.
    pub paste: bool,
    pub asker: Asker,
}

/// Decides, in one place, whether there is a browser and a terminal
/// (contract.md §6), for `asker`.
pub fn detect(cfg: &HostConfig, env: &dyn Env, asker: Asker) -> Surroundings {
    let login = matches!(asker, Asker::Login { .. });
    if !cfg.interactive && !login {
        crate::trace!("sign-in: credential.interactive=false rules out browser and terminal");
        return Surroundings {
            browser: None,
            terminal: false,
            paste: false,
            asker,
        };
    }
    let browser = if asker == (Asker::Login { no_browser: true }) {
        None
    } else {
        find_browser(cfg.browser.as_deref(), env)
    };
    let prompt_ok = env
        .var("GIT_TERMINAL_PROMPT")
        .and_then(|v| crate::gitconfig::parse_bool(&v))
        .unwrap_or(true);
    let terminal = (login || prompt_ok) && tty_available();
    let paste = terminal && (login || browser.is_none());
    crate::trace!("sign-in: browser={browser:?} terminal={terminal} paste={paste}");
    Surroundings {
        browser,
        terminal,
        paste,
        asker,
    }
}

/// The browser contract.md §6 finds: `configured` (bitbucketBrowser), else
/// `$BROWSER`, else the platform opener where there is a display.
pub fn find_browser(configured: Option<&str>, env: &dyn Env) -> Option<Browser> {
    if let Some(cmd) = configured {
        return Some(Browser::Shell(cmd.to_owned()));
    }
    if let Some(cmd) = env.var("BROWSER").filter(|b| !b.trim().is_empty()) {
        return Some(Browser::Shell(cmd));
    }
    crate::platform::default_browser(&|name| env.var(name))
}

fn tty_available() -> bool {
    crate::platform::terminal_available()
}

/// Opens `url`; failures are reported, not fatal: the URL is printed too.
pub fn open_browser(browser: &Browser, url: &str) {
    match crate::platform::spawn_browser(browser, url) {
        Ok(mut child) => {
            crate::trace!("sign-in: browser started ({browser:?})");
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
        Err(e) => crate::say!("could not start the browser ({e}); open the URL above by hand"),
    }
}

/// Whether we run over SSH, where a browser elsewhere needs the port
/// forwarded to reach the listener.
pub(super) fn over_ssh() -> bool {
    crate::platform::over_ssh(&|v| std::env::var(v).ok())
}
