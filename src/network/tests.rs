//! Which of git's network settings wins, as git decides it.

use super::*;

fn remote(url: &str) -> Remote {
    Remote::from_url(url).expect("a remote URL")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn settings(
    config: &[(&str, &str)],
    env: &'static [(&'static str, &'static str)],
    url: &str,
) -> Settings {
    let var = move |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    Settings::from_sources(&pairs(config), &var, &remote(url))
}

#[test]
fn the_proxy_follows_git_url_matching_then_the_environment() {
    let config = [
        ("http.proxy", "http://global:1"),
        ("http.https://dc.example.com.proxy", "http://scoped:2"),
        ("http.https://*.other.com.proxy", ""),
    ];
    let env = &[
        ("HTTPS_PROXY", "http://env:3"),
        ("https_proxy", "http://lower:4"),
    ];
    let p = |url| settings(&config, env, url).proxy.map(|p| (p.shown, p.from));
    assert_eq!(
        p("https://dc.example.com/scm/p/r.git"),
        Some((
            "http://scoped:2".into(),
            "http.https://dc.example.com.proxy".into()
        ))
    );
    assert_eq!(
        p("https://bitbucket.org"),
        Some(("http://global:1".into(), "http.proxy".into()))
    );
    // An empty value turns the proxy off, even over a global one.
    assert_eq!(p("https://a.other.com"), None);
    // No config: the environment, lower case first (curl's rule).
    let from_env = |env| {
        settings(&[], env, "https://bitbucket.org")
            .proxy
            .map(|p| p.from)
    };
    assert_eq!(from_env(env), Some("https_proxy".into()));
    assert_eq!(
        from_env(&[("HTTPS_PROXY", "http://e:3"), ("ALL_PROXY", "http://a:5")]),
        Some("HTTPS_PROXY".into())
    );
    assert_eq!(
        from_env(&[("ALL_PROXY", "http://a:5")]),
        Some("ALL_PROXY".into())
    );
    // http remotes read http_proxy, never HTTPS_PROXY.
    let http = settings(
        &[],
        &[("HTTPS_PROXY", "http://e:3")],
        "http://127.0.0.1:7990",
    );
    assert!(http.proxy.is_none());
    assert_eq!(from_env(&[("https_proxy", "")]), None);
}

#[test]
fn the_proxy_password_is_never_shown() {
    let s = settings(
        &[("http.proxy", "http://alice:s3cret%21@proxy.corp:3128")],
        &[],
        "https://bitbucket.org",
    );
    let shown = format!("{:?} {}", s, s.describe().join("\n"));
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("http://alice@proxy.corp:3128"), "{shown}");
    assert!(!s.to_json().to_string().contains("s3cret"));
    let built = s.ureq_proxy().expect("usable").expect("a proxy");
    assert_eq!(built.password(), Some("s3cret!"));
    // Without a scheme git assumes http.
    let bare = settings(&[("http.proxy", "proxy.corp:8080")], &[], "https://h");
    assert_eq!(bare.proxy.expect("set").shown, "http://proxy.corp:8080");
    let socks = settings(&[("http.proxy", "socks5://p:1080")], &[], "https://h");
    let refused = socks.problem.expect("refused");
    assert!(
        matches!(&refused, SetupError::Proxy(m) if m.contains("SOCKS")),
        "{refused}"
    );
}

#[test]
fn no_proxy_names_hosts_and_the_domains_below_them() {
    let env = &[
        ("HTTPS_PROXY", "http://p:1"),
        ("NO_PROXY", "corp.example, .internal,127.0.0.1"),
    ];
    let s = settings(&[], env, "https://bitbucket.org");
    assert!(s.proxy_for("https://api.bitbucket.org/2.0/user").is_some());
    assert!(s.proxy_for("https://git.corp.example/rest").is_none());
    assert!(s.proxy_for("https://corp.example/rest").is_none());
    assert!(s.proxy_for("https://a.internal:8443/").is_none());
    assert!(s.proxy_for("http://127.0.0.1:7990/").is_none());
    assert!(s.proxy_for("https://notcorp.example/").is_some());
}

#[test]
fn trust_settings_follow_git_with_the_environment_winning() {
    let config = [
        ("http.sslcainfo", "/etc/company-ca.pem"),
        ("http.https://dc.example.com.sslcainfo", "~/dc-ca.pem"),
        ("http.sslverify", "false"),
        ("http.sslcert", "/c.pem"),
        ("http.sslkey", "/k.pem"),
    ];
    let s = settings(&config, &[("HOME", "/home/u")], "https://dc.example.com");
    let ca = s.ca_file.expect("set");
    assert_eq!(ca.value, PathBuf::from("/home/u/dc-ca.pem"));
    assert_eq!(ca.from, "http.https://dc.example.com.sslCAInfo");
    assert_eq!(s.no_verify.as_deref(), Some("http.sslVerify"));
    assert_eq!(s.cert.expect("set").value, PathBuf::from("/c.pem"));
    let env = &[("GIT_SSL_CAINFO", "/env.pem"), ("GIT_SSL_NO_VERIFY", "")];
    let s = settings(&config, env, "https://bitbucket.org");
    let ca = s.ca_file.expect("set");
    assert_eq!(
        (ca.value, ca.from.as_str()),
        (PathBuf::from("/env.pem"), "GIT_SSL_CAINFO")
    );
    assert_eq!(s.no_verify.as_deref(), Some("GIT_SSL_NO_VERIFY"));
    let plain = settings(&[], &[], "https://bitbucket.org");
    assert!(plain.ca_file.is_none() && plain.no_verify.is_none() && plain.problem.is_none());
    assert_eq!(
        plain.describe(),
        vec!["proxy: none", "trust: the OS trust store"]
    );
    // Git for Windows with schannel: the Windows store, not its bundle.
    let windows = [
        (
            "http.sslcainfo",
            "C:/Program Files/Git/mingw64/etc/ssl/certs/ca-bundle.crt",
        ),
        ("http.sslbackend", "schannel"),
    ];
    assert!(settings(&windows, &[], "https://h").ca_file.is_none());
    let told = [
        windows[0],
        windows[1],
        ("http.schannelusesslcainfo", "true"),
    ];
    assert!(settings(&told, &[], "https://h").ca_file.is_some());
    let bad = settings(&[("http.sslverify", "maybe")], &[], "https://h");
    assert!(bad.tls_config().is_err());
}

#[test]
fn an_encrypted_client_key_is_refused_with_what_to_do() {
    let dir = std::env::temp_dir().join(format!("gcb-net-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cert = dir.join("c.pem");
    let key = dir.join("k.pem");
    // Not a real certificate: only the PEM framing matters before the key.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    std::fs::write(
        &key,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .expect("write");
    let c = cert.to_string_lossy().into_owned();
    let k = key.to_string_lossy().into_owned();
    let s = Settings::from_sources(
        &pairs(&[("http.sslcert", &c), ("http.sslkey", &k)]),
        &|_| None,
        &remote("https://h"),
    );
    let e = s.tls_config().expect_err("refused").to_string();
    assert!(
        e.contains("is encrypted") && e.contains("http.sslKey"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
