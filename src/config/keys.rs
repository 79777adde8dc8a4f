//! The keys this helper reads under `credential.<url>.` (contract.md §3).

/// The keys of contract.md §3: (camel case, lower case, env suffix, bound to the
/// host). Host-bound keys without a URL count for bitbucket.org only, so a
/// global client id or secret never goes to another server.
pub(super) const KEYS: &[(&str, &str, &str, bool)] = &[
    ("bitbucketKind", "bitbucketkind", "KIND", true),
    ("bitbucketClientId", "bitbucketclientid", "CLIENT_ID", true),
    (
        "bitbucketClientSecret",
        "bitbucketclientsecret",
        "CLIENT_SECRET",
        true,
    ),
    (
        "bitbucketAuthorizeUrl",
        "bitbucketauthorizeurl",
        "AUTHORIZE_URL",
        true,
    ),
    ("bitbucketTokenUrl", "bitbuckettokenurl", "TOKEN_URL", true),
    ("bitbucketApiUrl", "bitbucketapiurl", "API_URL", true),
    (
        "bitbucketRedirectUri",
        "bitbucketredirecturi",
        "REDIRECT_URI",
        true,
    ),
    ("bitbucketStore", "bitbucketstore", "STORE", false),
    ("bitbucketBrowser", "bitbucketbrowser", "BROWSER", false),
    ("bitbucketFlow", "bitbucketflow", "FLOW", true),
    ("bitbucketScopes", "bitbucketscopes", "SCOPES", true),
    (
        "bitbucketLoginTimeout",
        "bitbucketlogintimeout",
        "LOGIN_TIMEOUT",
        false,
    ),
    (
        "bitbucketRefreshMargin",
        "bitbucketrefreshmargin",
        "REFRESH_MARGIN",
        false,
    ),
    ("bitbucketAuthType", "bitbucketauthtype", "AUTH_TYPE", true),
    (
        "bitbucketAllowHttp",
        "bitbucketallowhttp",
        "ALLOW_HTTP",
        false,
    ),
];

/// The names of every key this helper reads under `credential.<url>.`.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(camel, ..)| *camel)
}
