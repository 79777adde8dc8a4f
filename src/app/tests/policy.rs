//! The policy at the top of `app` (contract.md §2, §4), tried in-process
//! through [`crate::app::run`] with a `Cursor` for stdin and a `Vec<u8>`
//! for stdout: a host that is not ours, a configuration error, input that
//! cannot be parsed, `store`, `capability` and `erase`, each with what git
//! reads, the exit status, what was touched and the store afterwards.

use super::testkit::{deps, record, FakeEndpoint, FakeSignIn, Log, MemStore, NoEnv, TempDir};
use super::NOW;
use crate::app::{run, Deps, World};
use crate::config::{ConfigError, GitConfig, HostConfig};
use crate::env::Env;
use crate::error::Error;
use crate::protocol::Action;
use crate::store::{Store, StoreKey, TokenKind};
use std::cell::RefCell;
use std::io::Cursor;

/// A world of fakes: git config from pairs, the memory store, the
/// ladder's fakes with nothing scripted (a call would fail loudly in the
/// log).
struct FakeWorld {
    config: Vec<(String, String)>,
    store: MemStore,
    locks: TempDir,
    log: Log,
}

impl World for FakeWorld {
    fn env(&self) -> &dyn Env {
        &NoEnv
    }

    fn git_config(&self) -> Result<GitConfig, ConfigError> {
        Ok(GitConfig::from_pairs(self.config.clone()))
    }

    fn open_store(&self, _cfg: &HostConfig) -> Result<Box<dyn Store + '_>, Error> {
        self.log.borrow_mut().push("open store".into());
        Ok(Box::new(&self.store))
    }

    fn deps(&self) -> Result<Deps<'_>, Error> {
        let endpoint = FakeEndpoint {
            answers: RefCell::default(),
            log: self.log.clone(),
        };
        let sign_in = FakeSignIn {
            outcome: None,
            log: self.log.clone(),
        };
        Ok(deps(NOW, &self.locks, endpoint, sign_in, Log::default()))
    }
}

/// One protocol action.
struct Case {
    name: &'static str,
    action: Action,
    /// What git writes on stdin.
    stdin: &'static str,
    /// Extra `credential.*` settings beside bitbucket.org's client id.
    config: &'static [(&'static str, &'static str)],
    /// alice's record on bitbucket.org at the start: (kind, access, refresh).
    alice: Option<(TokenKind, &'static str, Option<&'static str>)>,
    /// What git reads on stdout.
    stdout: &'static str,
    /// The exit status.
    status: u8,
    /// What was touched, in order.
    calls: &'static [&'static str],
    /// The store afterwards, `user access refresh`.
    after: &'static [&'static str],
}

const GET_CLOUD: &str = "protocol=https\nhost=bitbucket.org\nusername=alice\n\n";
const OAUTH_A1: Option<(TokenKind, &str, Option<&str>)> =
    Some((TokenKind::Oauth, "A1", Some("R1")));

const CASES: &[Case] = &[
    Case {
        name: "a host that is not ours: nothing on stdout, nothing touched",
        action: Action::Get,
        stdin: "protocol=https\nhost=github.com\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "a request that is not http(s): nothing on stdout, nothing touched",
        action: Action::Get,
        stdin: "protocol=ssh\nhost=bitbucket.org\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "our host misconfigured, get: quit, so git does not prompt",
        action: Action::Get,
        stdin: GET_CLOUD,
        config: &[("credential.bitbucketkind", "Cloud")],
        alice: OAUTH_A1,
        stdout: "quit=1\n",
        status: 0,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "our host misconfigured, erase: reported on stderr only, exit 0",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=A1\n\n",
        config: &[("credential.bitbucketkind", "Cloud")],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "input that is not key=value: exit 2, nothing on stdout",
        action: Action::Get,
        stdin: "protocol=https\nhost bitbucket.org\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 2,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "store: nothing kept, nothing touched",
        action: Action::Store,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=P9\n\n",
        config: &[],
        alice: None,
        stdout: "",
        status: 0,
        calls: &[],
        after: &[],
    },
    Case {
        name: "capability: its two lines, input not read",
        action: Action::Capability,
        stdin: "not a request",
        config: &[],
        alice: None,
        stdout: "version 0\ncapability authtype\n",
        status: 0,
        calls: &[],
        after: &[],
    },
    Case {
        name: "get, fresh: answered from the store",
        action: Action::Get,
        stdin: GET_CLOUD,
        config: &[],
        alice: OAUTH_A1,
        stdout: "username=alice\npassword=A1\npassword_expiry_utc=1800003600\n",
        status: 0,
        calls: &["open store"],
        after: &["alice A1 R1"],
    },
    Case {
        name: "erase of our access token: dropped, the refresh token kept",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=A1\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &["open store", "put alice - R1"],
        after: &["alice - R1"],
    },
    Case {
        name: "erase of a Bearer credential of ours: dropped too",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nauthtype=Bearer\ncredential=A1\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &["open store", "put alice - R1"],
        after: &["alice - R1"],
    },
    Case {
        name: "erase of a password that is not ours: nothing dropped",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=other\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &["open store"],
        after: &["alice A1 R1"],
    },
    Case {
        name: "erase without a password: the store is not even opened",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\n\n",
        config: &[],
        alice: OAUTH_A1,
        stdout: "",
        status: 0,
        calls: &[],
        after: &["alice A1 R1"],
    },
    Case {
        name: "erase of a stored token Bitbucket refuses: removed",
        action: Action::Erase,
        stdin: "protocol=https\nhost=bitbucket.org\nusername=alice\npassword=T1\n\n",
        config: &[("credential.bitbucketflow", "token")],
        alice: Some((TokenKind::ApiToken, "T1", None)),
        stdout: "",
        status: 0,
        calls: &["open store", "remove alice"],
        after: &[],
    },
];

/// Runs one case; returns what differs from its expectations.
fn run_case(index: usize, case: &Case) -> Vec<String> {
    let mut config: Vec<(String, String)> = vec![
        ("credential.bitbucketclientid".into(), "id".into()),
        ("credential.bitbucketclientsecret".into(), "secret".into()),
    ];
    config.extend(case.config.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    let log = Log::default();
    let host = StoreKey::new("https://bitbucket.org");
    let start = case.alice.iter().map(|(kind, access, refresh)| {
        let fresh = (3600, 3600);
        record(&host, "alice", *kind, (access, *refresh), NOW, fresh)
    });
    let world = FakeWorld {
        config,
        store: MemStore::new(start.collect(), None, log.clone()),
        locks: TempDir::new(&format!("policy-{index}")),
        log: log.clone(),
    };
    let mut stdout: Vec<u8> = Vec::new();
    let status = match run(
        case.action,
        Cursor::new(case.stdin.as_bytes()),
        &mut stdout,
        &world,
    ) {
        Ok(()) => 0,
        Err(e) => e.exit_code(),
    };
    let mut wrong = Vec::new();
    let stdout = String::from_utf8_lossy(&stdout);
    if stdout != case.stdout {
        wrong.push(format!("stdout: want {:?}, got {stdout:?}", case.stdout));
    }
    if status != case.status {
        wrong.push(format!("exit status: want {}, got {status}", case.status));
    }
    let calls = log.borrow().clone();
    if calls != case.calls {
        wrong.push(format!("calls: want {:?}, got {calls:?}", case.calls));
    }
    let after = world.store.summaries();
    if after != case.after {
        wrong.push(format!("store: want {:?}, got {after:?}", case.after));
    }
    wrong
}

#[test]
fn the_protocol_policy_holds_for_each_action() {
    let failures: Vec<String> = CASES
        .iter()
        .enumerate()
        .flat_map(|(i, case)| {
            run_case(i, case)
                .into_iter()
                .map(move |w| format!("{}: {w}", case.name))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
