//! `doctor`'s endpoint check: each endpoint the host's flow uses is asked
//! something a Bitbucket endpoint answers in a known way, so a wrong URL
//! shows: the API's "who am I" without
//! credentials (401 at the right place, 404 at a wrong one), the token
//! endpoint a POST without a grant (400 or 401 at the right place). No
//! probe carries a secret.
//!
//! The probes of every host run at once, under one bound for them all, so
//! `doctor` over hundreds of hosts ends in seconds even when endpoints
//! hang; one URL shared by many hosts is asked once.

use super::{check, Check, Level};
use crate::bitbucket::facts::Kind;
use crate::config::{Flow, HostConfig, Key};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One request's wait.
const EACH: Duration = Duration::from_secs(5);
/// All probes of one `doctor` run.
const ALL: Duration = Duration::from_secs(30);
/// Probes in flight at once.
const AT_ONCE: usize = 64;

/// Which endpoint a probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Endpoint {
    Authorize,
    Token,
    Api,
}

impl Endpoint {
    fn what(self) -> &'static str {
        match self {
            Endpoint::Authorize => "authorize endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::Api => "API",
        }
    }

    fn key(self) -> Key {
        match self {
            Endpoint::Authorize => Key::AuthorizeUrl,
            Endpoint::Token => Key::TokenUrl,
            Endpoint::Api => Key::ApiUrl,
        }
    }
}

/// One request to make for one host.
pub(super) struct Probe {
    base: String,
    endpoint: Endpoint,
    /// The configured endpoint, as the message names it.
    configured: String,
    /// What is asked: the configured URL, or for the API its "who am I".
    url: String,
    /// Through the host's proxy and trust settings (git's `http.*`), as
    /// the helper's own requests go.
    agent: ureq::Agent,
}

/// What came back.
#[derive(Debug, Clone)]
enum Outcome {
    Status(u16),
    Unreachable(String),
    /// The overall bound ran out before this probe's turn.
    NotAsked,
}

/// The probes for the endpoints `cfg`'s flow uses, through `net` (the
/// host's proxy and trust settings).
pub(super) fn probes(cfg: &HostConfig, net: &crate::network::Settings) -> Vec<Probe> {
    let base = cfg.remote.base_url();
    let agent = net.probe_agent(EACH);
    let probe = |endpoint, configured: &str, url: String| Probe {
        base: base.clone(),
        endpoint,
        configured: configured.to_owned(),
        url,
        agent: agent.clone(),
    };
    let mut list = Vec::new();
    if cfg.flow == Flow::Browser {
        list.push(probe(
            Endpoint::Authorize,
            &cfg.authorize_url,
            cfg.authorize_url.clone(),
        ));
    }
    if cfg.flow != Flow::Token {
        list.push(probe(
            Endpoint::Token,
            &cfg.token_url,
            cfg.token_url.clone(),
        ));
    }
    // The resource the helper reads after a sign-in (bitbucket/client.rs).
    let who = match cfg.kind {
        Kind::Cloud => "user",
        Kind::DataCenter => "application-properties",
    };
    list.push(probe(
        Endpoint::Api,
        &cfg.api_url,
        format!("{}/{who}", cfg.api_url),
    ));
    list
}

/// Asks one probe, waiting at most `wait`.
fn ask(agent: &ureq::Agent, endpoint: Endpoint, url: &str, wait: Duration) -> Outcome {
    let answer = match endpoint {
        // An empty form: no grant, no client, no secret.
        Endpoint::Token => agent
            .post(url)
            .config()
            .timeout_global(Some(wait))
            .build()
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(""),
        _ => agent
            .get(url)
            .config()
            .timeout_global(Some(wait))
            .build()
            .call(),
    };
    match answer {
        Ok(resp) => Outcome::Status(resp.status().as_u16()),
        Err(e) => Outcome::Unreachable(e.to_string()),
    }
}

/// Runs every probe, each distinct request once, `AT_ONCE` at a time and
/// all within `ALL`; the checks come back in the probes' order.
pub(super) fn run_all(probes: &[&Probe]) -> Vec<Check> {
    // One URL shared by many hosts is asked once, through the first such
    // host's network settings.
    let mut unique: Vec<&Probe> = Vec::new();
    let mut index: HashMap<(Endpoint, &str), usize> = HashMap::new();
    let slots: Vec<usize> = probes
        .iter()
        .map(|p| {
            *index
                .entry((p.endpoint, p.url.as_str()))
                .or_insert_with(|| {
                    unique.push(p);
                    unique.len() - 1
                })
        })
        .collect();
    let outcomes = ask_all(&unique);
    probes
        .iter()
        .zip(slots)
        .map(|(p, i)| judge(p, &outcomes[i]))
        .collect()
}

/// The requests, asked by a few threads at once under the overall bound.
fn ask_all(requests: &[&Probe]) -> Vec<Outcome> {
    let deadline = Instant::now() + ALL;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(vec![Outcome::NotAsked; requests.len()]);
    std::thread::scope(|s| {
        for _ in 0..requests.len().min(AT_ONCE) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(probe) = requests.get(i) else {
                    return;
                };
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                let outcome = ask(&probe.agent, probe.endpoint, &probe.url, left.min(EACH));
                if let Ok(mut all) = results.lock() {
                    all[i] = outcome;
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// What an answer says about the configured endpoint: Bitbucket answers a
/// request without credentials or grant with 401 (or 400 for the token
/// endpoint; Data Center may answer its API anonymously), and a wrong
/// path with 404. A 5xx is the server's trouble, not the setting's.
fn judge(p: &Probe, outcome: &Outcome) -> Check {
    let (what, url) = (p.endpoint.what(), &p.configured);
    let key = format!("credential.{}.{}", p.base, p.endpoint.key().name());
    let at = |level, message: String| check(Some(&p.base), "endpoint", level, message);
    let status = match outcome {
        Outcome::Status(s) => *s,
        Outcome::Unreachable(e) => {
            return at(Level::Fail, format!("{what} {url} cannot be reached: {e}")).fix(format!(
                "check the network, git's http.proxy and http.sslCAInfo (or HTTPS_PROXY), or \
                 {key}"
            ));
        }
        Outcome::NotAsked => {
            return at(
                Level::Fail,
                format!(
                    "{what} {url} was not checked: the network checks of all hosts ran out of \
                     time ({} s)",
                    ALL.as_secs()
                ),
            )
            .fix(format!("git credential-bitbucket doctor {}", p.base));
        }
    };
    let right = match p.endpoint {
        Endpoint::Authorize => !matches!(status, 404 | 410),
        Endpoint::Token => matches!(status, 400 | 401),
        Endpoint::Api => matches!(status, 200 | 401 | 403),
    };
    if right {
        return at(
            Level::Ok,
            format!("{what} {url} answers as Bitbucket does (HTTP {status})"),
        );
    }
    if status >= 500 {
        return at(
            Level::Warn,
            format!("{what} {url} has trouble (HTTP {status}); git may fail until it recovers"),
        );
    }
    let asked = match p.endpoint {
        Endpoint::Token => "a request without a grant".to_owned(),
        _ => format!("GET {}", p.url),
    };
    at(
        Level::Fail,
        format!(
            "{what} {url} answers {asked} with HTTP {status}, where Bitbucket's {what} answers \
             {}: it is not the {what}",
            match p.endpoint {
                Endpoint::Token => "400 or 401",
                Endpoint::Api => "401",
                Endpoint::Authorize => "anything but 404",
            }
        ),
    )
    .fix(format!(
        "set {key} to the right URL (`git credential-bitbucket configure {}` shows the defaults), \
         or unset it to use the default",
        p.base
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(endpoint: Endpoint) -> Probe {
        Probe {
            base: "https://bitbucket.org".into(),
            endpoint,
            configured: "https://api.bitbucket.org/2.0".into(),
            url: "https://api.bitbucket.org/2.0/user".into(),
            agent: ureq::Agent::new_with_defaults(),
        }
    }

    #[test]
    fn only_the_answer_of_the_right_place_is_ok() {
        let level = |e, s| judge(&probe(e), &Outcome::Status(s)).level;
        assert_eq!(level(Endpoint::Api, 401), Level::Ok);
        assert_eq!(level(Endpoint::Api, 404), Level::Fail);
        assert_eq!(level(Endpoint::Token, 400), Level::Ok);
        assert_eq!(level(Endpoint::Token, 401), Level::Ok);
        assert_eq!(level(Endpoint::Token, 404), Level::Fail);
        assert_eq!(level(Endpoint::Token, 200), Level::Fail);
        assert_eq!(level(Endpoint::Token, 503), Level::Warn);
        assert_eq!(level(Endpoint::Authorize, 404), Level::Fail);
        let wrong = judge(&probe(Endpoint::Api), &Outcome::Status(404));
        assert!(
            wrong
                .fix
                .as_deref()
                .unwrap_or("")
                .contains("bitbucketApiUrl"),
            "{wrong:?}"
        );
        assert_eq!(
            judge(&probe(Endpoint::Api), &Outcome::NotAsked).level,
            Level::Fail
        );
    }
}
