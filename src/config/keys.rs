//! The keys this helper reads under `credential.<url>.` (contract.md §3),
//! one `Key` variant each, with its name, environment variable, default
//! and help text.

use super::{AuthType, Flow, Kind, StoreChoice};
use std::fmt::Write;

/// A key of contract.md §3. A new key is a new variant: the compiler then
/// asks for its name, variable and help in [`Key::spec`], and `resolve`,
/// `doctor`, `help config` and the manual follow from [`Key::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `bitbucketKind`.
    Kind,
    /// `bitbucketClientId`.
    ClientId,
    /// `bitbucketClientSecret`.
    ClientSecret,
    /// `bitbucketAuthorizeUrl`.
    AuthorizeUrl,
    /// `bitbucketTokenUrl`.
    TokenUrl,
    /// `bitbucketApiUrl`.
    ApiUrl,
    /// `bitbucketRedirectUri`.
    RedirectUri,
    /// `bitbucketStore`.
    Store,
    /// `bitbucketBrowser`.
    Browser,
    /// `bitbucketFlow`.
    Flow,
    /// `bitbucketScopes`.
    Scopes,
    /// `bitbucketLoginTimeout`.
    LoginTimeout,
    /// `bitbucketRefreshMargin`.
    RefreshMargin,
    /// `bitbucketAuthType`.
    AuthType,
    /// `bitbucketAllowHttp`.
    AllowHttp,
}

/// What is known about one key.
struct Spec {
    /// The name under `credential.<url>.`, as documented (git ignores case).
    name: &'static str,
    /// The environment variable that overrides it for a host that is ours.
    env: &'static str,
    /// Without a URL it counts for bitbucket.org only, so a global client
    /// id or secret never goes to another server.
    host_bound: bool,
    /// Its presence makes a URL ours (contract.md §4).
    marks_ours: bool,
    /// The default, in words.
    default: &'static str,
    /// What it means, after the accepted values when it has a list.
    help: &'static str,
}

impl Key {
    /// Every key, in the order help texts list them.
    pub const ALL: [Key; 15] = [
        Key::Kind,
        Key::ClientId,
        Key::ClientSecret,
        Key::AuthorizeUrl,
        Key::TokenUrl,
        Key::ApiUrl,
        Key::RedirectUri,
        Key::Store,
        Key::Browser,
        Key::Flow,
        Key::Scopes,
        Key::LoginTimeout,
        Key::RefreshMargin,
        Key::AuthType,
        Key::AllowHttp,
    ];

    /// One arm per key: the table itself, so its length is the number of
    /// keys, not logic to split.
    const fn spec(self) -> Spec {
        const fn s(
            name: &'static str,
            env: &'static str,
            host_bound: bool,
            marks_ours: bool,
            default: &'static str,
            help: &'static str,
        ) -> Spec {
            Spec {
                name,
                env,
                host_bound,
                marks_ours,
                default,
                help,
            }
        }
        match self {
            Key::Kind => s(
                "bitbucketKind",
                "GIT_CREDENTIAL_BITBUCKET_KIND",
                true,
                true,
                "cloud for bitbucket.org, else datacenter",
                "",
            ),
            Key::ClientId => s(
                "bitbucketClientId",
                "GIT_CREDENTIAL_BITBUCKET_CLIENT_ID",
                true,
                true,
                "none",
                "the OAuth consumer key (Cloud) or client id (Data Center)",
            ),
            Key::ClientSecret => s(
                "bitbucketClientSecret",
                "GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET",
                true,
                false,
                "none",
                "the consumer secret; `configure` keeps it in the token store instead, which this key overrides",
            ),
            Key::AuthorizeUrl => s(
                "bitbucketAuthorizeUrl",
                "GIT_CREDENTIAL_BITBUCKET_AUTHORIZE_URL",
                true,
                false,
                "from the kind",
                "the authorize endpoint",
            ),
            Key::TokenUrl => s(
                "bitbucketTokenUrl",
                "GIT_CREDENTIAL_BITBUCKET_TOKEN_URL",
                true,
                false,
                "from the kind",
                "the token endpoint",
            ),
            Key::ApiUrl => s(
                "bitbucketApiUrl",
                "GIT_CREDENTIAL_BITBUCKET_API_URL",
                true,
                false,
                "from the kind",
                "the REST API base",
            ),
            Key::RedirectUri => s(
                "bitbucketRedirectUri",
                "GIT_CREDENTIAL_BITBUCKET_REDIRECT_URI",
                true,
                false,
                "Cloud http://127.0.0.1 (any free port), DC http://localhost:34107/",
                "the loopback redirect; a port pins it",
            ),
            Key::Store => s(
                "bitbucketStore",
                "GIT_CREDENTIAL_BITBUCKET_STORE",
                false,
                false,
                StoreChoice::Auto.as_str(),
                ": where tokens and the consumer secret are kept",
            ),
            Key::Browser => s(
                "bitbucketBrowser",
                "GIT_CREDENTIAL_BITBUCKET_BROWSER",
                false,
                false,
                "$BROWSER, then the platform opener",
                "the command that opens the sign-in URL (given as one argument)",
            ),
            Key::Flow => s(
                "bitbucketFlow",
                "GIT_CREDENTIAL_BITBUCKET_FLOW",
                true,
                true,
                Flow::Browser.as_str(),
                ": how tokens are obtained (client_credentials on Cloud only; token: a stored API token)",
            ),
            Key::Scopes => s(
                "bitbucketScopes",
                "GIT_CREDENTIAL_BITBUCKET_SCOPES",
                true,
                false,
                "Cloud none, DC REPO_READ REPO_WRITE",
                "scopes asked for at sign-in, space separated",
            ),
            Key::LoginTimeout => s(
                "bitbucketLoginTimeout",
                "GIT_CREDENTIAL_BITBUCKET_LOGIN_TIMEOUT",
                false,
                false,
                "300",
                "seconds to wait for the browser sign-in",
            ),
            Key::RefreshMargin => s(
                "bitbucketRefreshMargin",
                "GIT_CREDENTIAL_BITBUCKET_REFRESH_MARGIN",
                false,
                false,
                "600",
                "seconds before expiry to refresh (at most a quarter of the lifetime)",
            ),
            Key::AuthType => s(
                "bitbucketAuthType",
                "GIT_CREDENTIAL_BITBUCKET_AUTH_TYPE",
                true,
                false,
                AuthType::Basic.as_str(),
                " (bearer only when git offers it)",
            ),
            Key::AllowHttp => s(
                "bitbucketAllowHttp",
                "GIT_CREDENTIAL_BITBUCKET_ALLOW_HTTP",
                false,
                false,
                "false",
                "allow plain http to a host that is not loopback",
            ),
        }
    }

    /// The name under `credential.<url>.`, e.g. `bitbucketClientId`.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// The environment variable that overrides it, e.g.
    /// `GIT_CREDENTIAL_BITBUCKET_CLIENT_ID`.
    pub const fn env_var(self) -> &'static str {
        self.spec().env
    }

    /// Whether a value without a URL counts for bitbucket.org only.
    pub const fn host_bound(self) -> bool {
        self.spec().host_bound
    }

    /// Whether setting it for a URL makes that URL ours (contract.md §4).
    pub const fn marks_ours(self) -> bool {
        self.spec().marks_ours
    }

    /// The default, in words, for `help config` and the manual.
    pub const fn default_text(self) -> &'static str {
        self.spec().default
    }

    /// The values it accepts, when it takes one of a list.
    pub const fn accepted(self) -> Option<&'static [&'static str]> {
        match self {
            Key::Kind => Some(Kind::ACCEPTED),
            Key::Store => Some(StoreChoice::ACCEPTED),
            Key::Flow => Some(Flow::ACCEPTED),
            Key::AuthType => Some(AuthType::ACCEPTED),
            _ => None,
        }
    }

    /// What it means, for `help config` and the manual: the accepted
    /// values first when it has a list ("auto, keyring or file: …").
    pub fn help(self) -> String {
        let mut text = self.accepted().map(or_list).unwrap_or_default();
        let _ = write!(text, "{}", self.spec().help);
        text
    }

    /// The key named `name`, in any case (git's key names ignore case).
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// `a, b or c`.
fn or_list(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The names of every key this helper reads under `credential.<url>.`.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    Key::ALL.into_iter().map(Key::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_its_own_name_and_variable() {
        for (i, a) in Key::ALL.iter().enumerate() {
            assert_eq!(Key::from_name(&a.name().to_uppercase()), Some(*a));
            assert!(a.name().starts_with("bitbucket"), "{a:?}");
            assert!(
                a.env_var().starts_with("GIT_CREDENTIAL_BITBUCKET_"),
                "{a:?}"
            );
            assert!(!a.help().is_empty(), "{a:?}");
            for b in &Key::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.env_var(), b.env_var());
            }
        }
        assert_eq!(Key::from_name("bitbucketStor"), None);
    }

    #[test]
    fn help_names_the_accepted_values_first() {
        assert_eq!(
            Key::Store.help(),
            "auto, keyring or file: where tokens and the consumer secret are kept"
        );
        assert_eq!(Key::Kind.help(), "cloud or datacenter");
        assert_eq!(
            Key::AuthType.help(),
            "basic or bearer (bearer only when git offers it)"
        );
    }
}
