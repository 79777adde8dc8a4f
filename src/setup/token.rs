//! The token flow's token: which kind it is and the username it goes
//! with, that it is no app password, reading it (or the consumer secret)
//! from stdin, and storing it where `get` looks.

use crate::bitbucket::facts::Kind;
use crate::bitbucket::facts::{API_TOKEN_USER, TOKEN_AUTH_USER};
use crate::bitbucket::Account;
use crate::config::Remote;
use crate::error::Error;
use crate::secret::Secret;
use crate::store::choice::StoreChoice;
use crate::store::{GivenToken, Record, TokenKind};
use std::io::BufRead;

/// The token kinds a user can give for `kind`, the default first.
fn given_kinds(kind: Kind) -> [TokenKind; 2] {
    match kind {
        Kind::Cloud => [TokenKind::ApiToken, TokenKind::AccessToken],
        Kind::DataCenter => [TokenKind::PersonalToken, TokenKind::ProjectToken],
    }
}

/// The token kind and the username git must send with it (bitbucket-facts.md A.9, B.8).
pub(super) fn token_kind(
    flag: Option<GivenToken>,
    kind: Kind,
    username: Option<&str>,
) -> Result<(TokenKind, String), Error> {
    let allowed = given_kinds(kind);
    let chosen = match flag.map(GivenToken::kind) {
        None => allowed[0],
        Some(k) if allowed.contains(&k) => k,
        Some(k) => {
            let word = k.given().map_or("", GivenToken::as_str);
            let [a, b] = allowed.map(|k| k.given().map_or("", GivenToken::as_str));
            let host = match kind {
                Kind::Cloud => "on Bitbucket Cloud",
                Kind::DataCenter => "on Data Center",
            };
            return Err(Error::Usage(format!(
                "--token-kind {word:?}: {host}, {a} or {b}"
            )));
        }
    };
    match chosen {
        TokenKind::ApiToken => Ok((chosen, username.unwrap_or(API_TOKEN_USER).to_owned())),
        TokenKind::PersonalToken => match username {
            Some(u) => Ok((chosen, u.to_owned())),
            None => Err(Error::Usage(
                "--api-token on Data Center: a personal token needs --username NAME \
                 (or --token-kind project for a project or repository token)"
                    .into(),
            )),
        },
        _ => Ok((chosen, TOKEN_AUTH_USER.to_owned())),
    }
}

/// Reads a secret: a line on stdin, or a hidden prompt on the terminal
/// when stdin is one.
pub(super) fn read_secret(what: &str) -> Result<Secret, Error> {
    use std::io::IsTerminal;
    let mut line = String::new();
    if std::io::stdin().is_terminal() {
        let (_, mut tty) = crate::platform::open_terminal()
            .map_err(|e| Error::Failed(format!("cannot use the terminal: {e}")))?;
        line = crate::platform::prompt_hidden(
            &mut std::io::stdin().lock(),
            &mut tty,
            &format!("Paste {what} (not shown): "),
        )
        .map_err(|e| Error::Failed(format!("could not read {what}: {e}")))?;
    } else {
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Failed(format!("could not read {what} from stdin: {e}")))?;
    }
    let v = line.trim().to_owned();
    if v.is_empty() {
        return Err(Error::Usage(format!("{what}: nothing was given on stdin")));
    }
    Ok(Secret::new(v))
}

/// With a repository URL, `configure --api-token` checks the token before
/// keeping it: one `info/refs` request, as git's own first one, with the
/// username (or Bearer) `get` will hand git (bitbucket-facts.md A.9). A
/// refusal, or no answer, keeps nothing.
pub(super) fn check_token(
    remote: &Remote,
    kind: Kind,
    token: &Secret,
    token_kind: TokenKind,
    username: &str,
) -> Result<(), Error> {
    use base64::Engine;
    let Some(path) = remote.path.as_deref().map(|p| p.trim_matches('/')) else {
        return Ok(());
    };
    if path.is_empty() {
        return Ok(());
    }
    let repo = format!("{}/{path}", remote.base_url());
    let authorization = Secret::new(match token_kind.bearer_only() {
        true => format!("Bearer {}", token.expose()),
        false => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", token.expose()))
        ),
    });
    let no_scopes: [String; 0] = [];
    // Through git's proxy and trust settings for this remote, as git's own
    // request for the same `info/refs` goes (docs/configuration.md).
    let client = crate::bitbucket::Client::for_remote(
        crate::bitbucket::Endpoints {
            kind,
            authorize: "",
            token: "",
            api: "",
            consumer: crate::bitbucket::Consumer {
                id: "",
                secret: None,
                scopes: &no_scopes,
            },
        },
        remote,
    );
    let shown = crate::text::plain(&repo);
    let sent = match token_kind.bearer_only() {
        true => "as Bearer".to_owned(),
        false => format!("sent as {}", crate::text::plain(username)),
    };
    let read = match kind {
        Kind::Cloud => format!("the scope {}", crate::bitbucket::facts::API_TOKEN_SCOPES[0]),
        Kind::DataCenter => "repository read permission".to_owned(),
    };
    match client.git_refs_status(&repo, &authorization) {
        Ok(200) => {
            crate::say!("Bitbucket accepted the token for {shown} ({sent}).");
            Ok(())
        }
        Ok(status @ (401 | 403 | 404)) => Err(Error::Failed(format!(
            "Bitbucket refused this token for {shown} (HTTP {status}, {sent}); nothing was \
             stored. Check that the token has {read}, that its account can read this \
             repository, and the username (--username: your Bitbucket username, not your \
             email); a URL that names no repository is refused too (give the host's URL \
             alone to store the token unchecked)"
        ))),
        Ok(status) => Err(Error::Failed(format!(
            "could not check the token: {shown} answered HTTP {status}; nothing was stored. \
             Try again, or give the host's URL without the repository to store it unchecked"
        ))),
        Err(e) => Err(Error::Failed(format!(
            "could not check the token: {e}; nothing was stored. Try again, or give the \
             host's URL without the repository to store it unchecked"
        ))),
    }
}

/// Saves a token-flow record where `get` will look for it: in `choice`,
/// the store `configure` settled on (`--store`, else what the file sets),
/// the one the configuration it writes names.
pub(super) fn store_token(
    remote: &Remote,
    choice: StoreChoice,
    token: Secret,
    kind: TokenKind,
    username: &str,
) -> Result<&'static str, Error> {
    // Keyed exactly as `get` will look it up (useHttpPath decides whether
    // the path counts).
    let git = crate::config::GitConfig::load()?;
    let host = crate::app::keyed_remote(&git, Some(&remote.url()))?.store_key();
    let store = crate::store::choice::open(&crate::store::data_dir()?, choice, &host)?;
    let t = crate::store::now();
    store.put(&Record {
        access_token: Some(token),
        ..Record::new(&host, Account::named(username), kind, "", t)
    })?;
    Ok(store.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_kind_takes_its_own_token_words() {
        let ok = |flag, kind, user| token_kind(flag, kind, user).expect("accepted");
        assert_eq!(
            ok(None, Kind::Cloud, None),
            (TokenKind::ApiToken, "x-bitbucket-api-token-auth".into())
        );
        assert_eq!(
            ok(Some(GivenToken::ApiToken), Kind::Cloud, Some("alice")),
            (TokenKind::ApiToken, "alice".into())
        );
        assert_eq!(
            ok(Some(GivenToken::AccessToken), Kind::Cloud, Some("alice")),
            (TokenKind::AccessToken, "x-token-auth".into())
        );
        assert_eq!(
            ok(None, Kind::DataCenter, Some("alice")),
            (TokenKind::PersonalToken, "alice".into())
        );
        assert_eq!(
            ok(Some(GivenToken::Project), Kind::DataCenter, None),
            (TokenKind::ProjectToken, "x-token-auth".into())
        );
        let err = |flag, kind| {
            token_kind(flag, kind, None)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(None, Kind::DataCenter).contains("needs --username NAME"));
        assert!(err(Some(GivenToken::Project), Kind::Cloud)
            .contains("\"project\": on Bitbucket Cloud, api-token or access-token"));
        assert!(err(Some(GivenToken::ApiToken), Kind::DataCenter)
            .contains("\"api-token\": on Data Center, personal or project"));
    }
}
