//! The little URL handling the helper needs: percent-encoding for query
//! strings and form bodies, query parsing for the OAuth callback, and a
//! strict parser for the `http(s)://host[:port][/path]` URLs we configure.
//! A full URL crate would bring ICU and IDNA for what is a few lines here.

crate::spelled::value_enum! {
    /// The two schemes git's http transport and our endpoints use.
    pub enum Scheme {
        Http => "http",
        Https => "https",
    }
}

impl Scheme {
    /// `http` or `https` in any case (URLs and git's `protocol=` ignore
    /// it); `None` for anything else.
    pub fn parse(s: &str) -> Option<Scheme> {
        s.to_ascii_lowercase().parse().ok()
    }

    /// The port a URL of this scheme means when it names none.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (form encoding). Invalid escapes are kept
/// as written; invalid UTF-8 is replaced, never a panic.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `a=1&b=2` into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Builds `a=1&b=2` from pairs, encoding both sides.
pub fn build_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An `http` or `https` URL broken into the parts we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host without brackets, lower case (`::1` for `[::1]`).
    pub host: String,
    /// The port, if written.
    pub port: Option<u16>,
    /// The path, `/` when empty. Query and fragment are kept in it.
    pub path: String,
}

impl HttpUrl {
    /// Parses `http(s)://host[:port][/path]`; anything else is `None`.
    pub fn parse(s: &str) -> Option<HttpUrl> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = Scheme::parse(scheme)?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_host_port(authority)?;
        let path = if path.is_empty() || path.starts_with(['?', '#']) {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Some(HttpUrl {
            scheme,
            host,
            port,
            path,
        })
    }

    /// Whether the host is a loopback address or `localhost` (contract.md §3:
    /// loopback may use plain http).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// The host as written in a URL (`[::1]` for IPv6).
    pub fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// Splits `host[:port]` (with `[v6]` brackets); the host is lower-cased.
pub fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return None,
            None => (authority, None),
        }
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@'))
    {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// 127.0.0.0/8, ::1 and localhost.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_and_decodes() {
        assert_eq!(
            encode("http://127.0.0.1:1/a b"),
            "http%3A%2F%2F127.0.0.1%3A1%2Fa%20b"
        );
        assert_eq!(decode("a%20b+c%2"), "a b c%2");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(
            parse_query("code=x%2By&state=s&flag"),
            vec![
                ("code".into(), "x+y".into()),
                ("state".into(), "s".into()),
                ("flag".into(), String::new())
            ]
        );
    }

    #[test]
    fn schemes_are_http_and_https_in_any_case_with_their_ports() {
        for scheme in Scheme::ALL {
            assert_eq!(
                Scheme::parse(&scheme.as_str().to_uppercase()),
                Some(*scheme)
            );
        }
        assert_eq!(Scheme::parse("ssh"), None);
        assert_eq!(Scheme::Https.default_port(), 443);
        assert_eq!(Scheme::Http.default_port(), 80);
    }

    #[test]
    fn parses_http_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:34107/").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", Some(34107), "/")
        );
        let u = HttpUrl::parse("HTTPS://Host.Example/ctx/x?y").expect("valid");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.path.as_str()),
            (Scheme::Https, "host.example", "/ctx/x?y")
        );
        let u = HttpUrl::parse("http://[::1]:80").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(80)));
        assert!(u.is_loopback());
        for bad in [
            "ftp://x",
            "http://",
            "http://a:b",
            "http://u@h/",
            "http://h:0/",
            "h/x",
        ] {
            assert_eq!(HttpUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "bitbucket.org",
            "10.0.0.1",
            "localhost.evil.com",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(s in "\\PC{0,40}") {
            prop_assert_eq!(decode(&encode(&s)), s);
        }

        #[test]
        fn decode_and_parse_never_panic(s in "\\PC{0,60}") {
            let _ = decode(&s);
            let _ = parse_query(&s);
            let _ = HttpUrl::parse(&s);
        }
    }
}
