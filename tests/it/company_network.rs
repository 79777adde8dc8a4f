//! Behind a company network (docs/datacenter.md, docs/troubleshooting.md):
//! real git and our helper against the fakes behind a TLS front with a
//! throwaway company CA, a forward proxy on loopback, and a front that
//! asks for a client certificate. The helper follows git's own `http.*`
//! settings, so where git gets through, it does too; where it cannot, its
//! message names the setting to check. Evidence: the fakes' request logs,
//! the proxy's log, the TLS front's handshake counts, git's output.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::env::TestEnv;
use crate::common::fake::{FakeBitbucket, FakeOptions};
use crate::common::fake_dc::{DcOptions, FakeDataCenter};
use crate::common::proxy::FakeProxy;
use crate::common::tls_front::{TestCa, TlsFront};
use crate::common::{assert_failure, assert_success, sleep_until, stderr, stdout};

/// The fake's port, from its `http://127.0.0.1:PORT`.
fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// A fake Cloud behind a TLS front, reached as `https://HOST:PORT`, with
/// the helper configured for that remote: token and API endpoints over
/// https through the front, the authorize page (the fake browser's) plain.
struct Company {
    fake: FakeBitbucket,
    front: TlsFront,
    ca: TestCa,
    env: TestEnv,
    base: String,
}

impl Company {
    fn cloud(host: &str, client_cert: bool) -> Company {
        let fake = FakeBitbucket::start(FakeOptions::default());
        let env = TestEnv::new();
        let ca = TestCa::new(&env.root().join("company-ca"));
        let front = TlsFront::start(&ca, port_of(&fake.base_url()), client_cert);
        let base = front.base_url(host);
        let over_tls = |url: String| url.replacen(&fake.base_url(), &base, 1);
        env.configure_helper(
            &base,
            "cloud",
            &fake,
            &[
                ("bitbucketAuthorizeUrl", &fake.authorize_url()),
                ("bitbucketTokenUrl", &over_tls(fake.token_url())),
                ("bitbucketApiUrl", &over_tls(fake.api_url())),
                ("bitbucketRedirectUri", "http://127.0.0.1/"),
            ],
        );
        Company {
            fake,
            front,
            ca,
            env,
            base,
        }
    }

    fn repo_url(&self) -> String {
        self.fake
            .repo_url()
            .replacen(&self.fake.base_url(), &self.base, 1)
    }

    fn trust_the_ca(&self) {
        self.env
            .set_config("http.sslCAInfo", &self.ca.file("ca.pem"));
    }

    /// `git credential fill` for the repository: git itself sends nothing,
    /// so the helper alone meets the network.
    fn fill(&self) -> Output {
        let mut cmd = self
            .env
            .git_command(&self.env.work_dir(), &["credential", "fill"]);
        cmd.env("GIT_TERMINAL_PROMPT", "0");
        let input = format!("url={}\n\n", self.repo_url());
        self.env.run(cmd, Some(input.as_bytes()))
    }

    fn code_exchanges_served(&self) -> usize {
        self.fake
            .token_requests("authorization_code")
            .iter()
            .filter(|r| r.status == 200)
            .count()
    }
}

#[test]
fn cloud_over_https_with_the_company_ca_in_http_sslcainfo_clones_refreshes_and_pushes() {
    let c = Company::cloud("127.0.0.1", false);
    c.trust_the_ca();
    // Lifetime 4 s: due for refresh 3 s after it was issued.
    c.fake.set_access_lifetime(4);

    c.env.git_ok(&["clone", &c.repo_url(), "clone"]);
    let issued_by = Instant::now();
    let dir = c.env.work_dir().join("clone");
    assert_eq!(c.code_exchanges_served(), 1, "{:#?}", c.fake.requests());

    sleep_until(issued_by + Duration::from_millis(3500));
    c.env.git_in_ok(&dir, &["fetch", "origin"]);
    let refreshes = c.fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "{:#?}", c.fake.requests());
    assert_eq!(refreshes[0].status, 200);

    c.env
        .commit_file(&dir, "notes.txt", b"through the company CA\n", "Add notes");
    c.env.git_in_ok(&dir, &["push", "origin", "main"]);
    assert_eq!(c.fake.server_rev("refs/heads/main"), c.env.head_of(&dir));
    assert_eq!(c.front.failed_handshakes(), 0);
    assert_eq!(c.env.browser_opens(), 1);
}

#[test]
fn without_the_company_ca_the_helper_names_http_sslcainfo() {
    let c = Company::cloud("127.0.0.1", false);

    let out = c.fill();

    assert_failure(&out, "credential fill without the CA");
    let err = stderr(&out);
    assert!(
        err.contains(
            "the certificate of 127.0.0.1 was signed by an unknown authority: git's \
             http.sslCAInfo (or the OS trust store) must hold it"
        ),
        "{err}"
    );
    assert_eq!(c.code_exchanges_served(), 0);
    assert!(c.front.failed_handshakes() >= 1);
}

#[test]
fn ssl_verify_false_works_and_warns_on_every_request() {
    let c = Company::cloud("127.0.0.1", false);
    c.env.set_config("http.sslVerify", "false");

    let out = c.env.git(&["clone", &c.repo_url(), "clone"]);

    assert_success(&out, "clone with http.sslVerify=false");
    let err = stderr(&out);
    let warnings = err
        .lines()
        .filter(|l| l.contains("warning: not verifying the certificate of 127.0.0.1"))
        .count();
    // The code exchange and the account lookup.
    assert_eq!(warnings, 2, "{err}");
    assert!(err.contains("http.sslVerify"), "{err}");
    assert_eq!(c.code_exchanges_served(), 1);
}

#[test]
fn data_center_over_https_with_the_company_ca_clones() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let fake = FakeDataCenter::start(DcOptions {
        ..DcOptions::with_redirect_port(port)
    });
    let env = TestEnv::new();
    let ca = TestCa::new(&env.root().join("company-ca"));
    let front = TlsFront::start(&ca, port_of(&fake.base_url()), false);
    let base = front.base_url("localhost");
    // Token and API endpoints derived from the https remote; the
    // authorize page is the fake browser's, plain.
    env.configure_helper(
        &base,
        "datacenter",
        &fake,
        &[
            ("bitbucketRedirectUri", &fake.redirect_uri()),
            ("bitbucketAuthorizeUrl", &fake.authorize_url()),
        ],
    );
    env.set_config("http.sslCAInfo", &ca.file("ca.pem"));
    let url = fake.repo_url().replacen(&fake.base_url(), &base, 1);

    env.git_ok(&["clone", &url, "clone"]);

    let served = fake
        .token_requests("authorization_code")
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(served, 1, "{:#?}", fake.requests());
    assert_eq!(front.failed_handshakes(), 0);
}

/// A company whose Bitbucket is `bitbucket.test`, a name only the proxy
/// resolves: whatever reaches it went through the proxy.
fn behind_proxy(auth: Option<(&str, &str)>) -> (Company, FakeProxy) {
    let c = Company::cloud("bitbucket.test", false);
    c.trust_the_ca();
    let proxy = FakeProxy::start(&[("bitbucket.test", "127.0.0.1")], auth);
    (c, proxy)
}

fn connects_to(proxy: &FakeProxy, target: &str, status: u16) -> usize {
    proxy
        .requests()
        .iter()
        .filter(|r| r.method == "CONNECT" && r.target == target && r.status == status)
        .count()
}

#[test]
fn http_proxy_carries_the_token_and_api_requests() {
    let (c, proxy) = behind_proxy(None);
    c.env.set_config("http.proxy", &proxy.url(None));

    c.env.git_ok(&["clone", &c.repo_url(), "clone"]);

    // git's own requests and the helper's token exchange and account
    // lookup: the helper cannot resolve bitbucket.test itself.
    assert_eq!(c.code_exchanges_served(), 1, "{:#?}", c.fake.requests());
    let target = format!("bitbucket.test:{}", c.front.port());
    assert!(
        connects_to(&proxy, &target, 200) >= 3,
        "{:#?}",
        proxy.requests()
    );
}

#[test]
fn http_url_proxy_wins_over_http_proxy_as_in_git() {
    let (c, proxy) = behind_proxy(None);
    // The global proxy refuses every connection; the one for this URL works.
    c.env.set_config("http.proxy", "http://127.0.0.1:9");
    c.env
        .set_config(&format!("http.{}.proxy", c.base), &proxy.url(None));

    c.env.git_ok(&["clone", &c.repo_url(), "clone"]);

    assert_eq!(c.code_exchanges_served(), 1);
    let target = format!("bitbucket.test:{}", c.front.port());
    assert!(
        connects_to(&proxy, &target, 200) >= 3,
        "{:#?}",
        proxy.requests()
    );
}

#[test]
fn basic_proxy_auth_works_and_a_wrong_password_names_the_proxy_without_showing_it() {
    let (c, proxy) = behind_proxy(Some(("corp", "Pr0xy-pass")));
    c.env
        .set_config("http.proxy", &proxy.url(Some("corp:Pr0xy-pass")));
    let trace = c.env.root().join("trace.log");
    c.env.set_env("GIT_CREDENTIAL_BITBUCKET_TRACE", &trace);

    c.env.git_ok(&["clone", &c.repo_url(), "clone"]);
    assert_eq!(c.code_exchanges_served(), 1);

    // status --json and doctor name the proxy and the CA file, never the
    // password.
    let status = c.env.helper(&["status", "--json"], "");
    assert_success(&status, "status --json");
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).expect("JSON");
    let host = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == c.base.as_str())
        .expect("the host")
        .clone();
    let shown = proxy.url(Some("corp"));
    assert_eq!(host["network"]["proxy"], shown.as_str(), "{host}");
    assert_eq!(
        host["network"]["ca_file"],
        c.ca.file("ca.pem").as_str(),
        "{host}"
    );
    let doctor = c.env.helper(&["doctor"], "");
    let said = format!("{}{}", stdout(&doctor), stderr(&doctor));
    assert!(said.contains(&shown) && said.contains("ca.pem"), "{said}");
    // Its probes go the same way: bitbucket.test resolves only there.
    let token_url = format!("token endpoint {}/site/oauth2/access_token answers", c.base);
    assert!(said.contains(&token_url), "{said}");

    c.env
        .set_config("http.proxy", &proxy.url(Some("corp:wrong-word")));
    // A new sign-in: drop the saved one.
    let out = c.env.helper(&["logout", &c.base], "");
    assert_success(&out, "logout");
    let out = c.fill();

    assert_failure(&out, "credential fill with a wrong proxy password");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the proxy {shown} refused the connection")),
        "{err}"
    );
    assert!(err.contains("407"), "{err}");
    let traced = std::fs::read_to_string(&trace).expect("the trace");
    assert!(
        traced.contains(&format!("network: proxy: {shown} (from http.proxy)")),
        "{traced}"
    );
    let everything = format!("{}{err}{said}{}{traced}", stdout(&out), stdout(&status));
    assert!(!everything.contains("wrong-word") && !everything.contains("Pr0xy-pass"));
    assert!(proxy.requests().iter().any(|r| r.status == 407));
}

#[test]
fn a_plain_http_remote_goes_through_the_proxy_as_absolute_uri_and_connect() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.configure_cloud(&fake);
    let proxy = FakeProxy::start(&[], None);
    env.set_config("http.proxy", &proxy.url(None));
    env.set_env("NO_PROXY", "");
    env.set_env("no_proxy", "");

    env.git_ok(&["clone", &fake.repo_url(), "clone"]);

    let host = fake.host();
    let log = proxy.requests();
    // The helper tunnels; git (curl) sends absolute URIs.
    assert!(
        log.iter()
            .any(|r| r.method == "CONNECT" && r.target == host),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|r| r.method != "CONNECT" && r.target.starts_with(&fake.base_url())),
        "{log:#?}"
    );
}

#[test]
fn a_client_certificate_from_http_sslcert_gets_through_mutual_tls() {
    let c = Company::cloud("127.0.0.1", true);
    c.trust_the_ca();

    // Without a certificate: the front refuses the helper's handshake.
    let out = c.fill();
    assert_failure(&out, "credential fill without a client certificate");
    let err = stderr(&out);
    assert!(
        err.contains("http.sslCert and http.sslKey"),
        "names the settings:\n{err}"
    );
    assert_eq!(c.code_exchanges_served(), 0);

    // An encrypted key is refused plainly, before any request.
    c.env.set_config("http.sslCert", &c.ca.file("client.pem"));
    c.env
        .set_config("http.sslKey", &c.ca.file("client-encrypted.key"));
    let out = c.fill();
    assert_failure(&out, "credential fill with an encrypted key");
    let err = stderr(&out);
    assert!(err.contains("is encrypted"), "{err}");

    c.env.set_config("http.sslKey", &c.ca.file("client.key"));
    c.env.git_ok(&["clone", &c.repo_url(), "clone"]);
    assert_eq!(c.code_exchanges_served(), 1, "{:#?}", c.fake.requests());
}
