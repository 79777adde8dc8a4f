//! `configure`: what the options, the file and the guided mode ask for,
//! then the store, then the git config entries, then what changed.

use super::checks::{check_usable, warn_about_later_helpers};
use super::gitfile::{changes, git_config, git_config_ok, snapshot, unset_all, Snapshot};
use super::guided::{guided, Way};
use super::token::{check_token, read_secret, store_token, token_kind};
use super::{host_scope, scope_name, Settings};
use crate::bitbucket::facts::Kind;
use crate::bitbucket::facts::{app_password_message, is_app_password};
use crate::config::{Flow, Key};
use crate::error::Error;
use crate::secret::Secret;
use crate::spelled::NotAccepted;
use crate::store::choice::StoreChoice;

/// The file `configure` writes and what it holds now.
struct Target {
    remote: crate::config::Remote,
    /// `protocol://host[:port]`, the URL scope of every key written.
    base: String,
    before: Snapshot,
}

impl Target {
    /// `credential.<base>.<k>`.
    fn key(&self, k: &str) -> String {
        format!("credential.{}.{k}", self.base)
    }

    /// What `k` holds in the file now.
    fn set(&self, k: Key) -> Option<String> {
        self.before.get(k.name()).cloned().flatten()
    }
}

/// What `configure` settled on before writing anything.
struct Plan {
    kind: Kind,
    store: StoreChoice,
    /// The flow to write; `None` removes the key (the default, browser).
    flow: Option<Flow>,
    /// client_credentials: the consumer may come from the environment.
    ci: bool,
    client_id: Option<String>,
    /// A consumer secret to keep in the store.
    secret: Option<Secret>,
    /// A consumer secret found in this gitconfig file.
    in_gitconfig: Option<String>,
    /// Whether that secret moves into the store.
    moving: bool,
    /// bitbucket.org with the consumer built into this build: nothing to
    /// ask or write about consumers.
    built_in: bool,
}

/// Whether `t` is bitbucket.org and this build has a consumer built in
/// that nothing set or given overrides (contract.md §1).
fn built_in_consumer(s: &Settings, t: &Target, kind: Kind) -> bool {
    kind == Kind::Cloud
        && t.remote.is_cloud()
        && crate::config::BUILTIN_CLIENT_ID.is_some()
        && s.client_id.is_none()
        && t.set(Key::ClientId).is_none()
}

/// `configure`.
///
/// A re-run keeps what is set in the chosen file unless an option changes
/// it, and ends with what changed (or "nothing changed"). The consumer
/// secret goes into the token store, never into the gitconfig file.
pub fn configure(mut s: Settings) -> Result<(), Error> {
    let (remote, base) = host_scope(s.url.as_deref())?;
    let no_options = s
        == Settings {
            url: s.url.clone(),
            scope: s.scope.clone(),
            ..Settings::default()
        };
    let before = snapshot(&s.scope, &base)?;
    let t = Target {
        remote,
        base,
        before,
    };
    let kind = kind_of(&s, &t)?;
    let store = store_of(&s, &t)?;
    let (secret, pasted) = guide_if_asked(&mut s, &t, kind, store, no_options)?;
    let flow = flow_of(&mut s, &t, kind)?;
    let token_kind = match s.api_token {
        true => Some(token_kind(s.token_kind, kind, s.username.as_deref())?),
        false => None,
    };
    let plan = consumer(&s, &t, kind, store, flow, secret)?;
    let token = match (s.api_token, pasted) {
        (true, Some(pasted)) => Some(pasted),
        (true, None) => Some(read_secret("the token")?),
        (false, _) => None,
    };
    if token.as_ref().is_some_and(is_app_password) {
        return Err(Error::Failed(app_password_message("this token", &t.base)));
    }
    if let (Some(token), Some((token_kind, user))) = (&token, &token_kind) {
        check_token(&t.remote, kind, token, *token_kind, user)?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find this program's own path: {e}")))?;
    let exe = exe.to_string_lossy().into_owned();

    // The store first: if it fails (a locked keyring), the git config is
    // left as it was.
    let stored_in = match (token, token_kind) {
        (Some(token), Some((token_kind, user))) => Some(store_token(
            &t.remote, plan.store, token, token_kind, &user,
        )?),
        _ => None,
    };
    let notes = keep_secret(&t, &plan)?;
    write_entries(&s, &t, &plan, &exe)?;
    report(&s, &t, &plan, &exe, &notes, stored_in)
}

/// `--kind`, else what is set: a host's kind never flips on a re-run.
fn kind_of(s: &Settings, t: &Target) -> Result<Kind, Error> {
    Ok(match (s.kind, t.set(Key::Kind)) {
        (Some(given), _) => given,
        (None, Some(now)) => now.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!(
                "{} is {now:?}, which is not {}; give --kind",
                t.key(Key::Kind.name()),
                e.0.join(" or ")
            ))
        })?,
        (None, None) if t.remote.is_cloud() => Kind::Cloud,
        (None, None) => Kind::DataCenter,
    })
}

/// `--store`, else what is set, else `auto`.
fn store_of(s: &Settings, t: &Target) -> Result<StoreChoice, Error> {
    Ok(match (s.store, t.set(Key::Store)) {
        (Some(given), _) => given,
        (None, Some(now)) => now.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!(
                "{} {now:?}: accepted values are {}",
                t.key(Key::Store.name()),
                e.list()
            ))
        })?,
        (None, None) => StoreChoice::Auto,
    })
}

/// On a terminal, without a consumer given: the guided mode, with what is
/// set now as the defaults. A re-run with options keeps the consumer.
/// Returns the consumer secret typed in, and the token pasted, if any.
fn guide_if_asked(
    s: &mut Settings,
    t: &Target,
    kind: Kind,
    store: StoreChoice,
    no_options: bool,
) -> Result<(Option<Secret>, Option<Secret>), Error> {
    let wants_consumer = !s.api_token && s.flow != Some(Flow::ClientCredentials);
    let consumer_set = t.set(Key::ClientId).is_some();
    if !wants_consumer || s.client_id.is_some() || (consumer_set && !no_options) {
        return Ok((None, None));
    }
    // A built-in consumer leaves nothing to ask: the helper is set up,
    // and the first git command signs in.
    if built_in_consumer(s, t, kind) {
        return Ok((None, None));
    }
    match guided(&t.base, kind, &t.before, store) {
        Ok(Way::Consumer { id, secret }) => {
            s.client_id = Some(id);
            Ok((secret, None))
        }
        Ok(Way::ApiToken { username, token }) => {
            s.api_token = true;
            s.username = username;
            Ok((None, Some(token)))
        }
        // No terminal, but a consumer is set: keep it.
        Err(_) if consumer_set => Ok((None, None)),
        Err(e) => Err(e),
    }
}

/// The flow to write: `--flow`, the token flow with `--api-token`, else
/// what is set; giving a consumer again after a token flow means OAuth
/// again.
fn flow_of(s: &mut Settings, t: &Target, kind: Kind) -> Result<Option<Flow>, Error> {
    if s.api_token {
        s.flow = Some(Flow::Token);
    }
    let in_file = t.set(Key::Flow);
    let flow = match (s.flow, &s.client_id, in_file.as_deref()) {
        (Some(f), _, _) => Some(f),
        (None, Some(_), Some(f)) if f == Flow::ClientCredentials.as_str() => {
            Some(Flow::ClientCredentials)
        }
        (None, Some(_), _) | (None, None, None) => None,
        (None, None, Some(f)) => Some(f.parse().map_err(|e: NotAccepted| {
            Error::Usage(format!("--flow {f:?}: accepted values are {}", e.list()))
        })?),
    };
    match (flow, kind) {
        (None | Some(Flow::Browser), _) | (Some(Flow::ClientCredentials), Kind::Cloud) => {}
        (Some(Flow::Token), _) if s.api_token || s.flow.is_none() => {}
        (Some(Flow::Token), _) => {
            return Err(Error::Usage(
                "--flow token goes with --api-token, which stores the token".into(),
            ))
        }
        (Some(Flow::ClientCredentials), Kind::DataCenter) => return Err(Error::Usage(
            "--flow client_credentials: Data Center has no such grant; use browser or --api-token"
                .into(),
        )),
    }
    Ok(flow)
}

/// The OAuth consumer and its secret: none for the token flow; CI with
/// client_credentials may give it through GIT_CREDENTIAL_BITBUCKET_*.
fn consumer(
    s: &Settings,
    t: &Target,
    kind: Kind,
    store: StoreChoice,
    flow: Option<Flow>,
    mut secret: Option<Secret>,
) -> Result<Plan, Error> {
    let ci = flow == Some(Flow::ClientCredentials);
    let client_id = s.client_id.clone().or(t.set(Key::ClientId));
    let built_in = !s.api_token && !ci && built_in_consumer(s, t, kind);
    if !s.api_token && !ci && client_id.is_none() && !built_in {
        return Err(Error::Usage(
            "configure needs --client-id (and --client-secret-stdin) when there is no terminal"
                .into(),
        ));
    }
    if secret.is_none() && s.client_secret_stdin && !s.api_token {
        if client_id.is_none() {
            return Err(Error::Usage(
                "--client-secret-stdin: give --client-id too; the secret is kept for that consumer"
                    .into(),
            ));
        }
        secret = Some(read_secret("the consumer secret")?);
    }
    // A secret left in this gitconfig file: moved on request, or when a
    // new one is given (the old one would win over the stored one).
    let in_gitconfig = t.set(Key::ClientSecret).filter(|v| !v.is_empty());
    let moving = secret.is_none() && s.move_secret && in_gitconfig.is_some();
    if s.move_secret && in_gitconfig.is_none() {
        crate::say!(
            "no consumer secret is set in {}; nothing to move",
            scope_name(&s.scope)
        );
    }
    if moving {
        secret = in_gitconfig.clone().map(Secret::new);
    }
    Ok(Plan {
        kind,
        store,
        flow,
        ci,
        client_id,
        secret,
        in_gitconfig,
        moving,
        built_in,
    })
}

/// Keeps a new or moved consumer secret in the store; says so when that
/// changed anything.
fn keep_secret(t: &Target, plan: &Plan) -> Result<Vec<String>, Error> {
    let mut notes: Vec<String> = Vec::new();
    if let (Some(sec), Some(id)) = (&plan.secret, &plan.client_id) {
        let dir = crate::store::data_dir()?;
        let old = crate::store::secrets::load(&dir, plan.store, &t.base, id)?;
        let place = crate::store::secrets::save(&dir, plan.store, &t.base, id, sec)?;
        if old.as_ref() != Some(sec) || plan.moving {
            notes.push(format!(
                "the consumer secret is kept in the {} store, not in gitconfig",
                place.name()
            ));
        }
    }
    Ok(notes)
}

/// The helper entries, then our keys.
fn write_entries(s: &Settings, t: &Target, plan: &Plan, exe: &str) -> Result<(), Error> {
    let scope = &s.scope;
    let key = |k: &str| t.key(k);
    // Already the reset and us, in that order: leave the file as it is.
    let helpers = git_config(scope, &["-z", "--get-all", &key("helper")])?;
    if helpers.stdout != format!("\0{exe}\0").into_bytes() {
        unset_all(scope, &key("helper"))?;
        git_config_ok(scope, &["--add", &key("helper"), ""])?;
        git_config_ok(scope, &["--add", &key("helper"), exe])?;
    }
    git_config_ok(scope, &[&key(Key::Kind.name()), plan.kind.as_str()])?;
    if let Some(client_id) = s.client_id.as_deref() {
        git_config_ok(scope, &[&key(Key::ClientId.name()), client_id])?;
    }
    if plan.secret.is_some() && plan.in_gitconfig.is_some() {
        unset_all(scope, &key(Key::ClientSecret.name()))?;
    }
    for (k, v) in [
        (Key::RedirectUri, s.redirect_uri.as_deref()),
        (Key::AuthorizeUrl, s.authorize_url.as_deref()),
        (Key::TokenUrl, s.token_url.as_deref()),
        (Key::ApiUrl, s.api_url.as_deref()),
        (Key::Flow, plan.flow.map(Flow::as_str)),
        // Where the token went is where `get` must look.
        (Key::Store, s.store.map(StoreChoice::as_str)),
    ] {
        if let Some(v) = v {
            git_config_ok(scope, &[&key(k.name()), v])?;
        }
    }
    if plan.flow.is_none() {
        // Setting up OAuth again after a token flow: back to the default.
        unset_all(scope, &key(Key::Flow.name()))?;
    }
    if let (Some(user), false) = (&s.username, s.api_token) {
        git_config_ok(scope, &[&key("username"), user])?;
    }
    Ok(())
}

/// What changed, what is still to do, and what git does next.
fn report(
    s: &Settings,
    t: &Target,
    plan: &Plan,
    exe: &str,
    notes: &[String],
    stored_in: Option<&str>,
) -> Result<(), Error> {
    let (scope, base) = (&s.scope, &t.base);
    let after = snapshot(scope, base)?;
    crate::say!("configured {base} to use {exe}.");
    let changes = changes(&t.before, &after);
    if changes.is_empty() && notes.is_empty() && stored_in.is_none() {
        crate::say!("nothing changed in {}.", scope_name(scope));
    }
    for c in changes.iter().chain(notes) {
        crate::say!("{c}");
    }
    warn_about_later_helpers(base, exe);
    crate::gcm::say_what_happens(base, &t.remote.hostname());
    if plan.secret.is_none() && plan.in_gitconfig.is_some() {
        crate::say!(
            "the consumer secret is still in {}, which others can often read; `git \
             credential-bitbucket configure {base} --move-secret` moves it into the token store.",
            scope_name(scope)
        );
    }
    check_usable(scope, &t.remote)?;
    if let Some(where_) = stored_in {
        crate::say!("stored the token for {base} in the {where_} store; git uses it from now on.");
        return Ok(());
    }
    let has_secret = plan.secret.is_some()
        || plan.in_gitconfig.is_some()
        || plan.client_id.as_deref().is_some_and(|id| {
            crate::store::data_dir()
                .ok()
                .and_then(|d| crate::store::secrets::load(&d, plan.store, base, id).ok())
                .flatten()
                .is_some()
        });
    if plan.built_in {
        crate::say!(
            "{base} uses the OAuth consumer built into this build; nothing to register. \
             (`--client-id` sets up your own instead.)"
        );
    } else if !has_secret && !plan.ci {
        // Nothing signs in until then: no word about the browser.
        crate::say!(
            "no consumer secret is set, so git commands for {base} fail until it is. Run \
             `git credential-bitbucket configure {base}` on a terminal (it asks), give it with \
             --client-secret-stdin, or set GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET in the \
             environment."
        );
        return Ok(());
    }
    if plan.ci {
        crate::say!(
            "git now gets a client_credentials token for {base} by itself; no browser is involved."
        );
    } else if let Some(account) = signed_in_as(&t.remote) {
        crate::say!(
            "{account} is signed in to {base} with this consumer already; git goes on using that \
             sign-in (`git credential-bitbucket login {base}` signs in anew)."
        );
    } else {
        crate::say!("the next git command for {base} opens the browser once to sign in (or run `git credential-bitbucket login {base}`).");
    }
    Ok(())
}

/// The account `get` would answer with for `remote` now, with the
/// configuration just written: a saved sign-in of this consumer. Any
/// trouble reading counts as none; this only picks the closing words.
fn signed_in_as(remote: &crate::config::Remote) -> Option<String> {
    let git = crate::config::GitConfig::load().ok()?;
    let keyed = crate::app::keyed_remote(&git, Some(&remote.url())).ok()?;
    let cfg = crate::config::resolve(&git, &crate::env::ProcessEnv, &keyed).ok()??;
    let host = cfg.remote.store_key();
    let dir = crate::store::data_dir().ok()?;
    let store = crate::commands::existing_store(&dir, cfg.store, &host).ok()?;
    let asked = crate::app::asked_account(keyed.username.as_deref());
    let record = crate::app::find(store.as_ref(), &host, asked, &cfg).ok()??;
    Some(crate::bitbucket::account_label(&record.account))
}
