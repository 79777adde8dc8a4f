//! The guided mode of `configure` on the terminal: which way in, then the
//! consumer's key and secret, with what is set now as the defaults.

use super::gitfile::Snapshot;
use crate::bitbucket::facts::Kind;
use crate::bitbucket::facts::{
    is_app_password, API_TOKEN_PAGE, API_TOKEN_PREFIX, API_TOKEN_SCOPES, API_TOKEN_USER,
    APP_PASSWORD_PREFIX, CLOUD_CONSUMER_PERMISSIONS, CLOUD_REDIRECT_URI, DC_LINK_PERMISSIONS,
    DC_REDIRECT_URI,
};
use crate::config::{Flow, Key};
use crate::error::Error;
use crate::secret::Secret;
use crate::store::choice::StoreChoice;
use crate::text::NAME;
use std::io::{BufRead, Write};

/// What the guided mode settled on.
pub(super) enum Way {
    /// An OAuth consumer; `secret` is `None` when the one set is kept.
    Consumer { id: String, secret: Option<Secret> },
    /// A stored API token (or access token), and the username git sends
    /// with it.
    ApiToken {
        username: Option<String>,
        token: Secret,
    },
}

/// The terminal the guided mode talks on.
struct Terminal {
    input: std::io::BufReader<std::fs::File>,
    out: std::fs::File,
}

impl Terminal {
    fn open() -> Result<Terminal, Error> {
        let (tty, out) = crate::platform::open_terminal().map_err(|_| {
            Error::Usage(
                "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                    .into(),
            )
        })?;
        Ok(Terminal {
            input: std::io::BufReader::new(tty),
            out,
        })
    }

    /// Text for the person at the terminal (a failed write changes nothing:
    /// the answer read next is what counts).
    fn say(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
    }

    /// One answer to `prompt`, trimmed.
    fn line(&mut self, prompt: &str) -> Result<String, Error> {
        let _ = write!(self.out, "{prompt}");
        let _ = self.out.flush();
        let mut l = String::new();
        match self.input.read_line(&mut l) {
            Ok(0) => Err(Error::Failed(
                "the terminal closed; nothing was configured".into(),
            )),
            Ok(_) => Ok(l.trim().to_owned()),
            Err(e) => Err(Error::Failed(format!(
                "could not read from the terminal: {e}"
            ))),
        }
    }

    /// One answer to `prompt` with echo off, set before the prompt
    /// appears: a fast paste must not show.
    fn hidden(&mut self, prompt: &str) -> Result<String, Error> {
        crate::platform::prompt_hidden(&mut self.input, &mut self.out, prompt)
            .map(|l| l.trim().to_owned())
            .map_err(|e| Error::Failed(format!("could not read from the terminal: {e}")))
    }
}

/// The guided mode on the terminal: which way in, then the consumer's key
/// and secret, with what is set now as the defaults (Enter keeps them).
pub(super) fn guided(
    base: &str,
    kind: Kind,
    set: &Snapshot,
    store: StoreChoice,
) -> Result<Way, Error> {
    let mut term = Terminal::open()?;
    let current = |k: &str| set.get(k).cloned().flatten().filter(|v| !v.is_empty());
    term.say(&format!("Set up {base} for {NAME}.\n\n"));
    let token_now = current(Key::Flow.name()).as_deref() == Some(Flow::Token.as_str());
    if choose_way(&mut term, kind, token_now)? == 2 {
        return token_user(&mut term, kind, current("username"));
    }
    consumer(&mut term, base, kind, store, &current)
}

/// The two ways in, and the person's choice: 1 (a consumer) or 2 (a token).
fn choose_way(term: &mut Terminal, kind: Kind, token_now: bool) -> Result<u8, Error> {
    let (consumer_who, token_what) = match kind {
        Kind::Cloud => (
            "you create it once, in the settings of any workspace you administer;\n\
             \x20    your own personal workspace will do (every account has one),\n\
             \x20    and it works for every repository your account can reach",
            "an API token with the repository scopes, which any user\n\
             \x20    creates in their Atlassian account settings",
        ),
        Kind::DataCenter => (
            "a Bitbucket administrator creates it once (an application link);\n\
             \x20    pick this when you are that admin, or one will create it for you",
            "a personal HTTP access token, which any user creates in\n\
             \x20    their Bitbucket profile",
        ),
    };
    // One write: a reader of the terminal (a person, or a test driving
    // it) never sees half the menu ending in ": " as if it were a prompt.
    term.say(&format!(
        "Two ways in:\n\
         \x20 1. An OAuth consumer: you sign in in the browser and tokens renew by themselves;\n\
         \x20    {consumer_who}.\n\
         \x20 2. A token you create: {token_what}.\n\
         \x20    No admin needed; it is used as is until you replace it. Pick this when no\n\
         \x20    consumer can be had.\n\n"
    ));
    let default_way = if token_now { "2" } else { "1" };
    for _ in 0..3 {
        let answer = term.line(&format!("Choose 1 or 2 [{default_way}]: "))?;
        let answer = if answer.is_empty() {
            default_way.to_owned()
        } else {
            answer
        };
        match answer.as_str() {
            "1" => return Ok(1),
            "2" => return Ok(2),
            _ => term.say("Please type 1 or 2.\n"),
        }
    }
    Err(Error::Failed(
        "no choice made; nothing was configured".into(),
    ))
}

/// Way 2: where the token is made and with which scopes, then the
/// username git sends with it.
fn token_user(term: &mut Terminal, kind: Kind, default_user: Option<String>) -> Result<Way, Error> {
    if kind == Kind::Cloud {
        let [read, write] = API_TOKEN_SCOPES;
        term.say(&format!(
            "Create the token at {API_TOKEN_PAGE}\n\
             (your Atlassian account > Security > Create and manage API tokens >\n\
             Create API token with scopes; app: Bitbucket), with the scopes\n\
             \x20 {read}  (clone, fetch)\n\
             \x20 {write}  (push; it does not include read)\n\
             (docs/bitbucket-facts.md A.9, from Atlassian's \"Using API tokens\").\n\
             git sends the token with your Bitbucket username (not your email),\n\
             or with {API_TOKEN_USER} if you give none.\n\n"
        ));
    }
    let prompt = match (kind, &default_user) {
        (_, Some(u)) => format!("Your Bitbucket username [{u}]: "),
        // With an API token git needs the username (the email fails),
        // or the fixed x-bitbucket-api-token-auth.
        (Kind::Cloud, None) => {
            format!("Your Bitbucket username, not your email (Enter to use {API_TOKEN_USER}): ")
        }
        (Kind::DataCenter, None) => "Your Bitbucket username: ".to_owned(),
    };
    let answer = term.line(&prompt)?;
    let username = match answer.is_empty() {
        true => default_user,
        false => Some(answer),
    };
    if kind == Kind::DataCenter && username.is_none() {
        return Err(Error::Failed(
            "a Data Center personal token needs your username; nothing was configured".into(),
        ));
    }
    let token = pasted_token(term)?;
    Ok(Way::ApiToken { username, token })
}

/// The token, pasted with echo off; an app password (dead since
/// 2026-07-28) or nothing asks again.
fn pasted_token(term: &mut Terminal) -> Result<Secret, Error> {
    for _ in 0..3 {
        let answer = term.hidden("Paste the token (not shown): ")?;
        if answer.is_empty() {
            term.say("Nothing was pasted.\n");
            continue;
        }
        let token = Secret::new(answer);
        if is_app_password(&token) {
            term.say(&format!(
                "That is an app password (it starts with {APP_PASSWORD_PREFIX}); app passwords \
                 stopped working on 2026-07-28.\nPaste an API token instead (it starts with \
                 {API_TOKEN_PREFIX}).\n"
            ));
            continue;
        }
        return Ok(token);
    }
    Err(Error::Failed(
        "no usable token was pasted; nothing was configured".into(),
    ))
}

/// Way 1: how to create the consumer, then its key and secret.
fn consumer(
    term: &mut Terminal,
    base: &str,
    kind: Kind,
    store: StoreChoice,
    current: &dyn Fn(&str) -> Option<String>,
) -> Result<Way, Error> {
    let steps = match kind {
        Kind::Cloud => format!("\
         1. In Bitbucket open the settings of a workspace you administer (your personal\n\
         \x20  workspace will do) > OAuth consumers > Add consumer.\n\
         2. Callback URL: {CLOUD_REDIRECT_URI} (exactly: no port, no slash at the end;\n\
         \x20  each sign-in then uses a free port).\n\
         3. Permissions: {CLOUD_CONSUMER_PERMISSIONS}. Leave \"This is a private consumer\" unticked.\n\
         4. Save, then open the consumer to see its Key and Secret.\n"),
        Kind::DataCenter => format!("\
         1. A Bitbucket administrator opens Administration > Application Links > Create link >\n\
         \x20  External application > Incoming (see docs/datacenter.md).\n\
         2. Redirect URL: {DC_REDIRECT_URI} (exactly).\n\
         3. Permissions: {DC_LINK_PERMISSIONS}.\n\
         4. Save; the link shows the Client ID and Client secret.\n"),
    };
    let id_now = current(Key::ClientId.name());
    term.say(&format!("{steps}\n"));
    if kind == Kind::Cloud && id_now.is_none() {
        offer_consumers_page(term)?;
    }
    let label = match kind {
        Kind::Cloud => ("Consumer key", "Consumer secret"),
        Kind::DataCenter => ("Client ID", "Client secret"),
    };
    let id = match &id_now {
        Some(now) => {
            let answer = term.line(&format!("{} [{now}]: ", label.0))?;
            if answer.is_empty() {
                now.clone()
            } else {
                answer
            }
        }
        None => term.line(&format!("{}: ", label.0))?,
    };
    if id.is_empty() {
        return Err(Error::Failed(
            "nothing entered; nothing was configured".into(),
        ));
    }
    let secret = consumer_secret(term, base, store, &id, current, label.1)?;
    Ok(Way::Consumer { id, secret })
}

/// Offers to open the workspace's OAuth consumers page.
fn offer_consumers_page(term: &mut Terminal) -> Result<(), Error> {
    let ws = term.line(
        "Workspace ID (your personal one is usually your username), to open its OAuth consumers page (Enter to skip): ",
    )?;
    if !ws.is_empty()
        && ws
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        let page = format!("https://bitbucket.org/{ws}/workspace/settings/api");
        term.say(&format!("{page}\n"));
        match crate::signin::find_browser(None, &crate::env::ProcessEnv) {
            Some(b) => crate::signin::open_browser(&b, &page),
            None => term.say("(no browser here: open it on any machine)\n"),
        }
    }
    Ok(())
}

/// The consumer secret, typed with echo off. A secret is known when it is
/// in this file or in our store for this consumer: then Enter keeps it
/// (moved out of the file, if it was there), and `None` means the stored
/// one stays.
fn consumer_secret(
    term: &mut Terminal,
    base: &str,
    store: StoreChoice,
    id: &str,
    current: &dyn Fn(&str) -> Option<String>,
    label: &str,
) -> Result<Option<Secret>, Error> {
    let in_file = current(Key::ClientSecret.name());
    let stored = crate::store::data_dir()
        .ok()
        .and_then(|d| crate::store::secrets::load(&d, store, base, id).ok())
        .flatten();
    let keep_hint = match (&in_file, &stored) {
        (Some(_), _) => "; Enter keeps the one set now and moves it into the token store",
        (None, Some(_)) => "; Enter keeps the one stored now",
        (None, None) => "",
    };
    let answer = term.hidden(&format!("{label} (not shown{keep_hint}): "))?;
    match (answer.is_empty(), in_file, stored) {
        (false, _, _) => Ok(Some(Secret::new(answer))),
        (true, Some(v), _) => Ok(Some(Secret::new(v))),
        (true, None, Some(_)) => Ok(None),
        (true, None, None) => Err(Error::Failed(
            "nothing entered; nothing was configured".into(),
        )),
    }
}
