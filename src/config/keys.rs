//! The keys this helper reads under `credential.<url>.` (contract.md §3),
//! one `Key` variant each, with its name, environment variable, default
//! and help text.

use super::{AuthType, Flow};
use crate::bitbucket::facts::Kind;
use crate::store::choice::StoreChoice;
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
        match self {
            Key::Kind => Spec {
                name: "bitbucketKind",
                env: "GIT_CREDENTIAL_BITBUCKET_KIND",
                host_bound: true,
                marks_ours: true,
                default: "cloud for bitbucket.org, else datacenter",
                help: "",
            },
            Key::ClientId => Spec {
                name: "bitbucketClientId",
                env: "GIT_CREDENTIAL_BITBUCKET_CLIENT_ID",
                host_bound: true,
                marks_ours: true,
                default: "none",
                help: "the OAuth consumer key (Cloud) or client id (Data Center)",
            },
            Key::ClientSecret => Spec {
                name: "bitbucketClientSecret",
                env: "GIT_CREDENTIAL_BITBUCKET_CLIENT_SECRET",
                host_bound: true,
                marks_ours: false,
                default: "none",
                help: "the consumer secret; `configure` keeps it in the token store instead, which this key overrides",
            },
            Key::AuthorizeUrl => Spec {
                name: "bitbucketAuthorizeUrl",
                env: "GIT_CREDENTIAL_BITBUCKET_AUTHORIZE_URL",
                host_bound: true,
                marks_ours: false,
                default: "from the kind",
                help: "the authorize endpoint",
            },
            Key::TokenUrl => Spec {
                name: "bitbucketTokenUrl",
                env: "GIT_CREDENTIAL_BITBUCKET_TOKEN_URL",
                host_bound: true,
                marks_ours: false,
                default: "from the kind",
                help: "the token endpoint",
            },
            Key::ApiUrl => Spec {
                name: "bitbucketApiUrl",
                env: "GIT_CREDENTIAL_BITBUCKET_API_URL",
                host_bound: true,
                marks_ours: false,
                default: "from the kind",
                help: "the REST API base",
            },
            Key::RedirectUri => Spec {
                name: "bitbucketRedirectUri",
                env: "GIT_CREDENTIAL_BITBUCKET_REDIRECT_URI",
                host_bound: true,
                marks_ours: false,
                default: "Cloud http://127.0.0.1 (any free port), DC http://localhost:34107/",
                help: "the loopback redirect; a port pins it",
            },
            Key::Store => Spec {
                name: "bitbucketStore",
                env: "GIT_CREDENTIAL_BITBUCKET_STORE",
                host_bound: false,
                marks_ours: false,
                default: StoreChoice::Auto.as_str(),
                help: ": where tokens and the consumer secret are kept",
            },
            Key::Browser => Spec {
                name: "bitbucketBrowser",
                env: "GIT_CREDENTIAL_BITBUCKET_BROWSER",
                host_bound: false,
                marks_ours: false,
                default: "$BROWSER, then the platform opener",
                help: "the command that opens the sign-in URL (given as one argument)",
            },
            Key::Flow => Spec {
                name: "bitbucketFlow",
                env: "GIT_CREDENTIAL_BITBUCKET_FLOW",
                host_bound: true,
                marks_ours: true,
                default: Flow::Browser.as_str(),
                help: ": how tokens are obtained (client_credentials on Cloud only; token: a stored API token)",
            },
            Key::Scopes => Spec {
                name: "bitbucketScopes",
                env: "GIT_CREDENTIAL_BITBUCKET_SCOPES",
                host_bound: true,
                marks_ours: false,
                default: "Cloud none, DC REPO_READ REPO_WRITE",
                help: "scopes asked for at sign-in, space separated",
            },
            Key::LoginTimeout => Spec {
                name: "bitbucketLoginTimeout",
                env: "GIT_CREDENTIAL_BITBUCKET_LOGIN_TIMEOUT",
                host_bound: false,
                marks_ours: false,
                default: "300",
                help: "seconds to wait for the browser sign-in",
            },
            Key::RefreshMargin => Spec {
                name: "bitbucketRefreshMargin",
                env: "GIT_CREDENTIAL_BITBUCKET_REFRESH_MARGIN",
                host_bound: false,
                marks_ours: false,
                default: "600",
                help: "seconds before expiry to refresh (at most a quarter of the lifetime)",
            },
            Key::AuthType => Spec {
                name: "bitbucketAuthType",
                env: "GIT_CREDENTIAL_BITBUCKET_AUTH_TYPE",
                host_bound: true,
                marks_ours: false,
                default: AuthType::Basic.as_str(),
                help: " (bearer only when git offers it)",
            },
            Key::AllowHttp => Spec {
                name: "bitbucketAllowHttp",
                env: "GIT_CREDENTIAL_BITBUCKET_ALLOW_HTTP",
                host_bound: false,
                marks_ours: false,
                default: "false",
                help: "allow plain http to a host that is not loopback",
            },
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
