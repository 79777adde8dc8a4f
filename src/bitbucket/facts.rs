//! What Bitbucket is, as the code relies on it: Cloud or Data Center, its
//! hosts and endpoints, the usernames git sends with tokens, the app-password
//! prefix, the scopes and consumer permissions; each cites docs/bitbucket-facts.md.

use super::Account;
use crate::secret::Secret;

crate::spelled::value_enum! {
    /// Cloud or Data Center.
    pub enum Kind {
        /// bitbucket.org.
        Cloud => "cloud",
        /// A self-hosted Bitbucket Data Center.
        DataCenter => "datacenter",
    }
}

impl Kind {
    /// Whether `name`, a username git sent, names `account`, compared the
    /// way the server compares usernames: Data Center ignores case (its
    /// user `Alice` signs in as `alice`), Cloud does not. A Cloud account
    /// whose user object had no username answers to its nickname.
    pub fn same_user(self, account: &Account, name: &str) -> bool {
        match self {
            Kind::DataCenter => {
                account.username == name || account.username.to_lowercase() == name.to_lowercase()
            }
            Kind::Cloud => account.username == name || account.nickname.as_deref() == Some(name),
        }
    }
}

/// Bitbucket Cloud's one host (bitbucket-facts.md A.3).
pub const CLOUD_HOST: &str = "bitbucket.org";

/// Whether `host` (`host[:port]`, as git sends it) is Bitbucket Cloud:
/// bitbucket.org on any port, or, in a `test-hooks` build, the loopback
/// fake a test made stand in for it (`stand_in.rs`).
pub fn is_cloud_host(host: &str) -> bool {
    let name = crate::url::split_host_port(host).map(|(h, _)| h);
    name.as_deref() == Some(CLOUD_HOST) || super::stand_in::is_stand_in(host)
}

/// Cloud's authorize endpoint (bitbucket-facts.md A.3).
pub fn cloud_authorize_url() -> String {
    super::stand_in::moved("https://bitbucket.org/site/oauth2/authorize")
}

/// Cloud's token endpoint (bitbucket-facts.md A.4).
pub fn cloud_token_url() -> String {
    super::stand_in::moved("https://bitbucket.org/site/oauth2/access_token")
}

/// Cloud's REST API, where `/user` is (bitbucket-facts.md 2026 changes).
pub fn cloud_api_url() -> String {
    super::stand_in::moved("https://api.bitbucket.org/2.0")
}

/// Cloud's default redirect: the loopback address with no port and no
/// path, which is also the Callback URL to register on the consumer. Cloud
/// accepts any `redirect_uri` that begins with the Callback URL, as a raw
/// string, so this one admits `http://127.0.0.1:<any port>/` and each
/// sign-in takes a free port (bitbucket-facts.md A.2). No trailing slash:
/// `http://127.0.0.1/` is no prefix of `http://127.0.0.1:5555/`.
pub const CLOUD_REDIRECT_URI: &str = "http://127.0.0.1";

/// Data Center's default redirect: it compares the redirect exactly and
/// allows plain http only for `localhost`, so the port is fixed and
/// registered as is (bitbucket-facts.md B.3).
pub const DC_REDIRECT_URI: &str = "http://localhost:34107/";

/// Data Center's authorize endpoint under `rest`, the server's base URL
/// with `/rest` (bitbucket-facts.md B.2).
pub fn dc_authorize_url(rest: &str) -> String {
    format!("{rest}/oauth2/latest/authorize")
}

/// Data Center's token endpoint under `rest` (bitbucket-facts.md B.2).
pub fn dc_token_url(rest: &str) -> String {
    format!("{rest}/oauth2/latest/token")
}

/// Data Center's REST API under `rest`, where `application-properties` is
/// (bitbucket-facts.md B.6).
pub fn dc_api_url(rest: &str) -> String {
    format!("{rest}/api/latest")
}

/// Data Center's revocation endpoint, beside its token endpoint
/// (`…/oauth2/latest/revoke`, bitbucket-facts.md B.2).
pub fn dc_revoke_url(token_url: &str) -> String {
    let base = token_url.strip_suffix("/token").unwrap_or(token_url);
    format!("{base}/revoke")
}

/// The scopes Data Center is asked for: push needs `REPO_WRITE`
/// (bitbucket-facts.md B.3).
pub const DC_SCOPES: &str = "REPO_READ REPO_WRITE";

/// The context path of a Data Center repository path: repositories live at
/// `[/<context>]/scm/<PROJECT>/…` (bitbucket-facts.md B.6), so what comes
/// before `/scm/` is the server's, the rest a repository's. `path` starts
/// with `/`; the answer has no slash at either end.
pub fn dc_context(path: &str) -> &str {
    match path.find("/scm/") {
        Some(i) => &path[..i],
        None => path,
    }
    .trim_matches('/')
}

/// The username that goes with an OAuth or access token on Cloud and names
/// no account (bitbucket-facts.md A.7, A.9).
pub const TOKEN_AUTH_USER: &str = "x-token-auth";

/// The username that may go with a Cloud API token instead of the account's
/// (bitbucket-facts.md A.9, 2026 changes).
pub const API_TOKEN_USER: &str = "x-bitbucket-api-token-auth";

/// Usernames of stored tokens that name no account (bitbucket-facts.md A.9).
pub const GENERIC_USERS: [&str; 2] = [TOKEN_AUTH_USER, API_TOKEN_USER];

/// How an app password starts (bitbucket-facts.md 2026 changes).
pub const APP_PASSWORD_PREFIX: &str = "ATBB";

/// How an API token starts (bitbucket-facts.md 2026 changes).
pub const API_TOKEN_PREFIX: &str = "ATATT";

/// Whether `token` is an app password. App passwords stopped working on
/// 2026-07-28, so one is never stored or handed to git.
pub fn is_app_password(token: &Secret) -> bool {
    token.expose().starts_with(APP_PASSWORD_PREFIX)
}

/// What to do instead of an app password; `what` names the token, `base`
/// the host's URL.
pub fn app_password_message(what: &str, base: &str) -> String {
    format!(
        "{what} is a Bitbucket app password (it starts with {APP_PASSWORD_PREFIX}); app passwords \
         stopped working on 2026-07-28. Create an API token instead (it starts with \
         {API_TOKEN_PREFIX}; give it the repository read and write scopes) and store it with \
         `git credential-bitbucket configure {base} --api-token`, or sign in with OAuth: \
         `git credential-bitbucket configure {base}`"
    )
}

/// Where an Atlassian API token is created: the account's security page,
/// "Create API token with scopes", app Bitbucket (bitbucket-facts.md A.9).
pub const API_TOKEN_PAGE: &str = "https://id.atlassian.com/manage-profile/security/api-tokens";

/// The API-token scopes git needs, spelled as Atlassian's form shows
/// them: read to clone and fetch, write to push; write does not imply
/// read (bitbucket-facts.md A.9).
pub const API_TOKEN_SCOPES: [&str; 2] = ["read:repository:bitbucket", "write:repository:bitbucket"];

/// The permissions a Cloud consumer needs, as Bitbucket's form names them
/// (bitbucket-facts.md A.2, A.9; `Account` for the `/user` lookup).
pub const CLOUD_CONSUMER_PERMISSIONS: &str = "Account: Read, Repositories: Write";

/// The permission a Data Center incoming link needs, as its form names it
/// (bitbucket-facts.md B.3).
pub const DC_LINK_PERMISSIONS: &str = "Repositories: Write (includes Read)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_center_usernames_ignore_case_cloud_ones_do_not() {
        let account = |name: &str| Account {
            username: name.into(),
            ..Account::default()
        };
        assert!(Kind::DataCenter.same_user(&account("alice"), "Alice"));
        assert!(Kind::DataCenter.same_user(&account("ärger"), "ÄRGER"));
        assert!(!Kind::DataCenter.same_user(&account("alice"), "alicia"));
        assert!(!Kind::Cloud.same_user(&account("alice"), "Alice"));
        assert!(Kind::Cloud.same_user(&account("alice"), "alice"));
        // An account Bitbucket gave no username answers to its nickname.
        let no_name = Account {
            username: "{u-1}".into(),
            uuid: Some("{u-1}".into()),
            nickname: Some("al".into()),
            ..Account::default()
        };
        assert!(Kind::Cloud.same_user(&no_name, "al"));
        assert!(Kind::Cloud.same_user(&no_name, "{u-1}"));
        assert!(!Kind::Cloud.same_user(&no_name, "bob"));
    }

    #[test]
    fn data_center_endpoints_hang_off_the_rest_base() {
        let rest = "https://dc.example/bb/rest";
        assert_eq!(
            dc_authorize_url(rest),
            "https://dc.example/bb/rest/oauth2/latest/authorize"
        );
        let token = dc_token_url(rest);
        assert_eq!(token, "https://dc.example/bb/rest/oauth2/latest/token");
        assert_eq!(
            dc_revoke_url(&token),
            "https://dc.example/bb/rest/oauth2/latest/revoke"
        );
        assert_eq!(dc_api_url(rest), "https://dc.example/bb/rest/api/latest");
    }

    #[test]
    fn the_context_is_what_comes_before_scm() {
        assert_eq!(dc_context("/bitbucket/scm/P/r.git"), "bitbucket");
        assert_eq!(dc_context("/scm/P/r.git"), "");
        assert_eq!(dc_context("/a/b/"), "a/b");
        assert_eq!(dc_context("/"), "");
    }

    #[test]
    fn app_passwords_are_told_from_api_tokens() {
        assert!(is_app_password(&Secret::new("ATBBxyz".to_owned())));
        assert!(!is_app_password(&Secret::new("ATATTxyz".to_owned())));
        let msg = app_password_message("this token", "https://bitbucket.org");
        assert_eq!(
            msg,
            "this token is a Bitbucket app password (it starts with ATBB); app passwords stopped \
             working on 2026-07-28. Create an API token instead (it starts with ATATT; give it the \
             repository read and write scopes) and store it with `git credential-bitbucket \
             configure https://bitbucket.org --api-token`, or sign in with OAuth: \
             `git credential-bitbucket configure https://bitbucket.org`"
        );
    }
}
