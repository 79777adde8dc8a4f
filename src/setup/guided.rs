//! The guided mode of `configure` on the terminal: which way in, then the
//! consumer's key and secret, with what is set now as the defaults.

use super::gitfile::Snapshot;
use crate::app::NAME;
use crate::config::{Flow, Key, Kind, StoreChoice};
use crate::error::Error;
use crate::secret::Secret;
use std::io::{BufRead, Write};

/// What the guided mode settled on.
pub(super) enum Way {
    /// An OAuth consumer; `secret` is `None` when the one set is kept.
    Consumer { id: String, secret: Option<Secret> },
    /// A stored API token (or access token), read next by `read_secret`.
    ApiToken { username: Option<String> },
}

/// The guided mode on the terminal: which way in, then the consumer's key
/// and secret, with what is set now as the defaults (Enter keeps them).
pub(super) fn guided(
    base: &str,
    kind: Kind,
    set: &Snapshot,
    store: StoreChoice,
) -> Result<Way, Error> {
    let (tty, mut out) = crate::platform::open_terminal().map_err(|_| {
        Error::Usage(
            "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                .into(),
        )
    })?;
    let mut input = std::io::BufReader::new(tty);
    let current = |k: &str| set.get(k).cloned().flatten().filter(|v| !v.is_empty());
    let mut line = |out: &mut std::fs::File, prompt: &str| -> Result<String, Error> {
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        let mut l = String::new();
        match input.read_line(&mut l) {
            Ok(0) => Err(Error::Failed(
                "the terminal closed; nothing was configured".into(),
            )),
            Ok(_) => Ok(l.trim().to_owned()),
            Err(e) => Err(Error::Failed(format!(
                "could not read from the terminal: {e}"
            ))),
        }
    };

    let _ = writeln!(out, "Set up {base} for {NAME}.\n");
    let token_now = current(Key::Flow.name()).as_deref() == Some(Flow::Token.as_str());
    let (consumer_who, token_what) = match kind {
        Kind::Cloud => (
            "a workspace admin creates it once, in the workspace settings",
            "an API token with the repository scopes, which any user\n\
             \x20    creates in their Atlassian account settings",
        ),
        Kind::DataCenter => (
            "a Bitbucket administrator creates it once (an application link)",
            "a personal HTTP access token, which any user creates in\n\
             \x20    their Bitbucket profile",
        ),
    };
    // One write: a reader of the terminal (a person, or a test driving
    // it) never sees half the menu ending in ": " as if it were a prompt.
    let menu = format!(
        "Two ways in:\n\
         \x20 1. An OAuth consumer: you sign in in the browser and tokens renew by themselves;\n\
         \x20    {consumer_who}.\n\
         \x20    Pick this when you are that admin, or one will create it for you.\n\
         \x20 2. A token you create: {token_what}.\n\
         \x20    No admin needed; it is used as is until you replace it. Pick this when no\n\
         \x20    consumer can be had.\n\n"
    );
    let _ = out.write_all(menu.as_bytes());
    let default_way = if token_now { "2" } else { "1" };
    let mut way = None;
    for _ in 0..3 {
        let answer = line(&mut out, &format!("Choose 1 or 2 [{default_way}]: "))?;
        let answer = if answer.is_empty() {
            default_way.to_owned()
        } else {
            answer
        };
        match answer.as_str() {
            "1" => way = Some(1),
            "2" => way = Some(2),
            _ => {
                let _ = writeln!(out, "Please type 1 or 2.");
                continue;
            }
        }
        break;
    }
    let way = way.ok_or_else(|| Error::Failed("no choice made; nothing was configured".into()))?;
    if way == 2 {
        let default_user = current("username");
        let prompt = match (kind, &default_user) {
            (_, Some(u)) => format!("Your Bitbucket username [{u}]: "),
            // With an API token git needs the username (the email fails),
            // or the fixed x-bitbucket-api-token-auth.
            (Kind::Cloud, None) => {
                "Your Bitbucket username, not your email (Enter to use x-bitbucket-api-token-auth): "
                    .to_owned()
            }
            (Kind::DataCenter, None) => "Your Bitbucket username: ".to_owned(),
        };
        let answer = line(&mut out, &prompt)?;
        let username = match answer.is_empty() {
            true => default_user,
            false => Some(answer),
        };
        if kind == Kind::DataCenter && username.is_none() {
            return Err(Error::Failed(
                "a Data Center personal token needs your username; nothing was configured".into(),
            ));
        }
        return Ok(Way::ApiToken { username });
    }

    let steps = match kind {
        Kind::Cloud => "\
         1. In Bitbucket open your workspace's Settings > OAuth consumers > Add consumer.\n\
         2. Callback URL: http://127.0.0.1:34107/\n\
         3. Permissions: Account: Read, Repositories: Write. Leave \"This is a private consumer\" unticked.\n\
         4. Save, then open the consumer to see its Key and Secret.\n",
        Kind::DataCenter => "\
         1. A Bitbucket administrator opens Administration > Application Links > Create link >\n\
         \x20  External application > Incoming (see docs/datacenter.md).\n\
         2. Redirect URL: http://localhost:34107/ (exactly).\n\
         3. Permissions: Repositories: Write (includes Read).\n\
         4. Save; the link shows the Client ID and Client secret.\n",
    };
    let id_now = current(Key::ClientId.name());
    let _ = writeln!(out, "{steps}");
    if kind == Kind::Cloud && id_now.is_none() {
        // Offer to open the workspace's OAuth consumers page.
        let ws = line(
            &mut out,
            "Workspace ID, to open its OAuth consumers page (Enter to skip): ",
        )?;
        if !ws.is_empty()
            && ws
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            let page = format!("https://bitbucket.org/{ws}/workspace/settings/api");
            let _ = writeln!(out, "{page}");
            match crate::signin::find_browser(None, &crate::config::ProcessEnv) {
                Some(b) => crate::signin::open_browser(&b, &page),
                None => {
                    let _ = writeln!(out, "(no browser here: open it on any machine)");
                }
            }
        }
    }
    let label = match kind {
        Kind::Cloud => ("Consumer key", "Consumer secret"),
        Kind::DataCenter => ("Client ID", "Client secret"),
    };
    let id = match &id_now {
        Some(now) => {
            let answer = line(&mut out, &format!("{} [{now}]: ", label.0))?;
            if answer.is_empty() {
                now.clone()
            } else {
                answer
            }
        }
        None => line(&mut out, &format!("{}: ", label.0))?,
    };
    if id.is_empty() {
        return Err(Error::Failed(
            "nothing entered; nothing was configured".into(),
        ));
    }
    // A secret is known when it is in this file or in our store for this
    // consumer: then Enter keeps it (moved out of the file, if it was there).
    let in_file = current(Key::ClientSecret.name());
    let stored = crate::store::data_dir()
        .ok()
        .and_then(|d| crate::store::secrets::load(&d, store, base, &id).ok())
        .flatten();
    let keep_hint = match (&in_file, &stored) {
        (Some(_), _) => "; Enter keeps the one set now and moves it into the token store",
        (None, Some(_)) => "; Enter keeps the one stored now",
        (None, None) => "",
    };
    // Echo off before the prompt appears: a fast paste must not show.
    let answer = crate::platform::prompt_hidden(
        &mut input,
        &mut out,
        &format!("{} (not shown{keep_hint}): ", label.1),
    )
    .map(|l| l.trim().to_owned())
    .map_err(|e| Error::Failed(format!("could not read from the terminal: {e}")))?;
    let secret = match (answer.is_empty(), in_file, stored) {
        (false, _, _) => Some(Secret::new(answer)),
        (true, Some(v), _) => Some(Secret::new(v)),
        (true, None, Some(_)) => None,
        (true, None, None) => {
            return Err(Error::Failed(
                "nothing entered; nothing was configured".into(),
            ))
        }
    };
    Ok(Way::Consumer { id, secret })
}
