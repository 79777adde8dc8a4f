//! `Remote`: the request's remote as git gave it, and the URLs and store
//! key made from it.

use crate::bitbucket::facts;
use crate::bitbucket::facts::Kind;
use crate::url::{split_host_port, Scheme};

/// The request's remote, as git gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https` or `http`.
    pub protocol: Scheme,
    /// Host with port if any, lower case.
    pub host: String,
    /// The path, only with `credential.useHttpPath`.
    pub path: Option<String>,
    /// The username from the URL or `credential.username`.
    pub username: Option<String>,
}

impl Remote {
    /// `protocol://host[:port]`: the scope `configure` writes and messages
    /// name. The scheme's default port is left out, as git's urlmatch
    /// treats `https://h:443` and `https://h` as the same, so that both
    /// find one record and one sign-in.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.protocol, self.authority())
    }

    /// `host[:port]` without the scheme's default port.
    fn authority(&self) -> &str {
        let default = self.protocol.default_port();
        match split_host_port(&self.host) {
            Some((_, Some(port))) if port == default => self
                .host
                .rsplit_once(':')
                .map_or(self.host.as_str(), |(h, _)| h),
            _ => &self.host,
        }
    }

    /// The remote as its records are keyed for a host of `kind`: Bitbucket
    /// Cloud has no context path (its paths are repositories, and one
    /// sign-in serves them all), so a Cloud remote drops the path git sent
    /// with `credential.useHttpPath`, whatever its host name. The kind is
    /// the configured `bitbucketKind` (docs/configuration.md), not a guess
    /// from the host name.
    pub fn keyed(mut self, kind: Kind) -> Remote {
        if kind == Kind::Cloud {
            self.path = None;
        }
        self
    }

    /// Where records are kept: host plus context path when git sent one
    /// (Data Center under a context path, with `credential.useHttpPath`).
    /// Cloud has none: callers key a Cloud remote with [`Remote::keyed`]
    /// first, and bitbucket.org is Cloud whatever the path.
    pub fn store_key(&self) -> crate::store::StoreKey {
        if self.is_cloud() {
            return self.base_url().into();
        }
        // Data Center repositories live at `[/<context>]/scm/<PROJECT>/…`:
        // only the context belongs to the key, so one sign-in serves every
        // repository of the server.
        let path = format!("/{}", self.path.as_deref().unwrap_or("").trim_matches('/'));
        match facts::dc_context(&path) {
            "" => self.base_url().into(),
            ctx => format!("{}/{ctx}", self.base_url()).into(),
        }
    }

    /// The whole URL again (`protocol://[user@]host[/path]`).
    pub fn url(&self) -> String {
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{}@", crate::url::encode(u)))
            .unwrap_or_default();
        let path = self
            .path
            .as_deref()
            .map(|p| format!("/{}", p.trim_start_matches('/')))
            .unwrap_or_default();
        format!("{}://{user}{}{path}", self.protocol, self.host)
    }

    /// Whether this is Bitbucket Cloud (bitbucket.org), where keys without
    /// a URL and a built-in consumer count (contract.md §4).
    pub fn is_cloud(&self) -> bool {
        facts::is_cloud_host(&self.host)
    }

    /// The host without the port, lower case.
    pub fn hostname(&self) -> String {
        split_host_port(&self.host)
            .map(|(h, _)| h)
            .unwrap_or_else(|| self.host.to_ascii_lowercase())
    }

    /// Parses a URL typed by the user (`login URL`): `https://[user@]host[/path]`.
    pub fn from_url(url: &str) -> Option<Remote> {
        let (protocol, rest) = url.split_once("://")?;
        let protocol = Scheme::parse(protocol)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (username, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(crate::url::decode(u)), h),
            None => (None, authority),
        };
        split_host_port(hostport)?;
        Some(Remote {
            protocol,
            host: hostport.to_ascii_lowercase(),
            path: path.filter(|p| !p.is_empty()).map(str::to_owned),
            username: username.filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve;
    use crate::config::test_support::*;

    #[test]
    fn the_default_port_names_the_same_host() {
        let key = |url: &str| Remote::from_url(url).expect("valid").store_key();
        assert_eq!(key("https://bb.example:443"), "https://bb.example");
        assert_eq!(
            key("https://bb.example:0443/scm/P/r.git"),
            "https://bb.example"
        );
        assert_eq!(key("http://bb.example:80/ctx"), "http://bb.example/ctx");
        assert_eq!(key("https://bb.example:80"), "https://bb.example:80");
        assert_eq!(key("http://bb.example:443"), "http://bb.example:443");
        assert_eq!(key("https://[::1]:443"), "https://[::1]");
        assert_eq!(key("https://[::1]:8443"), "https://[::1]:8443");
        assert_eq!(
            key("https://bitbucket.org:443/ws/r"),
            "https://bitbucket.org"
        );
        assert_eq!(
            remote("https", "bitbucket.org:443").base_url(),
            "https://bitbucket.org"
        );
        // The Data Center endpoints hang off the same base.
        let git = cfg(&[
            ("credential.https://dc.example.bitbucketclientid", "id"),
            ("credential.https://dc.example.bitbucketclientsecret", "s"),
        ]);
        let c = resolve(&git, &no_env(), &remote("https", "dc.example:443"))
            .expect("valid")
            .expect("ours");
        assert_eq!(c.token_url, "https://dc.example/rest/oauth2/latest/token");
    }

    /// Issue 21, item 6: the key follows the configured kind, not the name.
    #[test]
    fn a_cloud_host_of_any_name_is_keyed_without_the_path() {
        let repo = |url: &str| Remote::from_url(url).expect("valid");
        let key = |url: &str, kind| repo(url).keyed(kind).store_key();
        assert_eq!(
            key("https://bb.example/ws/r.git", Kind::Cloud),
            "https://bb.example"
        );
        assert_eq!(
            key("https://bb.example/ctx/scm/P/r.git", Kind::DataCenter),
            "https://bb.example/ctx"
        );
        let git = cfg(&[
            ("credential.https://bb.example.bitbucketkind", "cloud"),
            ("credential.https://bb.example.bitbucketclientid", "id"),
            ("credential.https://bb.example.usehttppath", "true"),
        ]);
        let r = repo("https://bb.example/ws/r.git");
        assert_eq!(crate::config::kind(&git, &no_env(), &r), Kind::Cloud);
        let c = resolve(&git, &no_env(), &r).expect("valid").expect("ours");
        assert_eq!(c.remote.store_key(), "https://bb.example");
        assert_eq!(
            crate::config::kind(&cfg(&[]), &no_env(), &r),
            Kind::DataCenter
        );
    }

    #[test]
    fn remote_from_url() {
        let r = Remote::from_url("https://alice@bitbucket.org/ws/repo.git").expect("valid");
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.host, "bitbucket.org");
        assert_eq!(r.base_url(), "https://bitbucket.org");
        let r = Remote::from_url("http://127.0.0.1:8080").expect("valid");
        assert_eq!(r.hostname(), "127.0.0.1");
        assert_eq!(r.store_key(), "http://127.0.0.1:8080");
        let key = |url: &str| Remote::from_url(url).expect("valid").store_key();
        assert_eq!(
            key("https://dc.example/bitbucket/scm/P/r.git"),
            "https://dc.example/bitbucket"
        );
        assert_eq!(key("https://dc.example/scm/P/r.git"), "https://dc.example");
        assert_eq!(
            key("https://dc.example/bitbucket"),
            "https://dc.example/bitbucket"
        );
        assert_eq!(
            key("https://bitbucket.org/ws/r.git"),
            "https://bitbucket.org"
        );
        assert!(Remote::from_url("ssh://x").is_none());
    }
}
