//! `doctor` tells the truth (docs/contract.md §2): over a table of broken
//! setups and healthy ones, it fails, naming the key or the fix, exactly
//! when the next git command (a real `git ls-remote` against the fake
//! Bitbucket) fails. Also: `doctor` over hundreds of hosts whose
//! endpoints hang or refuse ends; `token` refuses an app password as `get`
//! does; `status` says what each flow does without a sign-in.

use crate::common::env::{cloud_setup, helper_path, key, TestEnv};
use crate::common::fake::FakeBitbucket;
use crate::common::{assert_failure, describe, stderr, stdout};
use std::time::Duration;

/// One setup: how it is broken (or not), and what `doctor` must say when
/// it fails.
struct Setup {
    name: &'static str,
    /// Changes the healthy Cloud setup (`configure_cloud`, not signed in).
    make: fn(&FakeBitbucket, &TestEnv),
    /// Words doctor's output holds when it fails (the key or the fix).
    names: &'static [&'static str],
}

fn unset(env: &TestEnv, k: &str) {
    let file = env.gitconfig();
    let file = file.to_str().expect("UTF-8 path");
    env.git_ok(&["config", "--file", file, "--unset-all", k]);
}

fn signed_in(fake: &FakeBitbucket, env: &TestEnv) {
    env.git_ok(&["ls-remote", &fake.repo_url()]);
}

const SETUPS: &[Setup] = &[
    Setup {
        name: "healthy, nobody signed in yet (the browser signs in)",
        make: |_, _| {},
        names: &[],
    },
    Setup {
        name: "healthy, signed in",
        make: signed_in,
        names: &[],
    },
    Setup {
        name: "no consumer secret (configure --client-id NEW keeps none)",
        make: |fake, env| unset(env, &key(fake, "bitbucketClientSecret")),
        names: &["no consumer secret", "--client-secret-stdin"],
    },
    Setup {
        name: "bitbucketApiUrl at a wrong path (the API answers 404)",
        make: |fake, env| {
            env.set_config(
                &key(fake, "bitbucketApiUrl"),
                &format!("{}/api/v2", fake.base_url()),
            )
        },
        names: &["bitbucketApiUrl", "HTTP 404"],
    },
    Setup {
        name: "a wrong token URL (404)",
        make: |fake, env| {
            env.set_config(
                &key(fake, "bitbucketTokenUrl"),
                &format!("{}/oauth/token", fake.base_url()),
            )
        },
        names: &["bitbucketTokenUrl", "HTTP 404"],
    },
    Setup {
        name: "an ESC in bitbucketTokenUrl",
        make: |fake, env| {
            env.set_config(
                &key(fake, "bitbucketTokenUrl"),
                &format!("{}\x1b]0;owned\x07", fake.token_url()),
            )
        },
        names: &["bitbucketTokenUrl", "control character"],
    },
    Setup {
        name: "a misspelled key (the secret under bitbucketClientSecert)",
        make: |fake, env| {
            unset(env, &key(fake, "bitbucketClientSecret"));
            env.set_config(&key(fake, "bitbucketClientSecert"), &fake.client_secret());
        },
        names: &[
            "bitbucketclientsecert",
            "did you mean bitbucketClientSecret?",
        ],
    },
    Setup {
        name: "a bad value",
        make: |fake, env| env.set_config(&key(fake, "bitbucketAuthType"), "token"),
        names: &["bitbucketAuthType", "basic, bearer"],
    },
    Setup {
        name: "no sign-in yet, and no browser or terminal to sign in with",
        make: |fake, env| unset(env, &key(fake, "bitbucketBrowser")),
        names: &["cannot sign in here", "login --no-browser"],
    },
    Setup {
        name: "the token flow with no token stored",
        make: |fake, env| env.set_config(&key(fake, "bitbucketFlow"), "token"),
        names: &["no API token", "--api-token"],
    },
];

/// `doctor`'s and git's verdicts on one setup, and what went wrong.
fn verdicts(fake: &FakeBitbucket, env: &TestEnv, setup: &Setup) -> Vec<String> {
    let doctor = env.helper(&["doctor", &fake.base_url()], "");
    let git = env.git(&["ls-remote", &fake.repo_url()]);
    let (doctor_ok, git_ok) = (doctor.status.success(), git.status.success());
    // Shown with --nocapture: what each setup looked like.
    eprintln!(
        "== {}: doctor {doctor_ok}, git {git_ok}\n{}",
        setup.name,
        stdout(&doctor)
    );
    let mut wrong = Vec::new();
    if doctor_ok != git_ok {
        wrong.push(format!(
            "{}: doctor {} but git {}\n{}\ngit: {}",
            setup.name,
            if doctor_ok { "passed" } else { "failed" },
            if git_ok { "passed" } else { "failed" },
            describe(&doctor),
            stderr(&git)
        ));
    }
    let said = stdout(&doctor);
    for word in setup.names.iter().filter(|_| !doctor_ok) {
        if !said.contains(word) {
            wrong.push(format!(
                "{}: doctor does not say {word:?}:\n{said}",
                setup.name
            ));
        }
    }
    let everything = format!("{said}{}{}", stderr(&doctor), stderr(&git));
    if everything.contains('\x1b') || everything.contains('\x07') {
        wrong.push(format!("{}: a control character was printed", setup.name));
    }
    wrong
}

#[test]
fn doctor_fails_exactly_when_the_next_git_command_fails() {
    let wrong: Vec<String> = SETUPS
        .iter()
        .flat_map(|setup| {
            let (fake, env) = cloud_setup();
            (setup.make)(&fake, &env);
            verdicts(&fake, &env, setup)
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n\n"));
}

#[cfg(unix)]
#[test]
fn doctor_fails_exactly_when_git_does_with_a_store_directory_of_another_user() {
    use std::os::unix::fs::MetadataExt;
    let (fake, env) = cloud_setup();
    let me = std::fs::metadata(env.root()).expect("temp dir").uid();
    if me != 0 {
        eprintln!("skipped: handing the store directory to another user needs root");
        return;
    }
    let dir = env.data_dir();
    std::fs::create_dir_all(&dir).expect("data dir");
    std::os::unix::fs::chown(&dir, Some(4242), Some(4242)).expect("chown");
    let setup = Setup {
        name: "a store directory of another user",
        make: |_, _| {},
        names: &["another user"],
    };
    let wrong = verdicts(&fake, &env, &setup);
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n\n"));
}

#[test]
fn doctor_fails_exactly_when_git_does_with_the_secret_in_a_locked_keyring() {
    let (fake, env) = cloud_setup();
    let Some(_guard) = crate::keyring::secret_service(&env) else {
        return;
    };
    env.set_config(&key(&fake, "bitbucketStore"), "keyring");
    let out = env.helper(
        &["configure", &fake.base_url(), "--client-secret-stdin"],
        &format!("{}\n", fake.client_secret()),
    );
    crate::common::assert_success(&out, "configure --client-secret-stdin");
    let gitconfig = std::fs::read_to_string(env.gitconfig()).expect("gitconfig");
    assert!(
        !gitconfig.contains(&fake.client_secret()),
        "moved to the keyring"
    );
    crate::keyring::lock_login_collection();
    let setup = Setup {
        name: "the consumer secret only in a locked keyring",
        make: |_, _| {},
        names: &["consumer secret cannot be read", "unlock"],
    };
    let wrong = verdicts(&fake, &env, &setup);
    crate::keyring::unlock_login_collection();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n\n"));
}

/// A loopback listener that accepts connections and never answers.
fn silent_listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

#[test]
fn doctor_over_500_hosts_with_hanging_or_closed_endpoints_ends() {
    let env = TestEnv::new();
    // Each doctor probe of these waits its full time: sequentially they
    // would take minutes, beyond this test's limit.
    let silent: Vec<_> = (0..12).map(|_| silent_listener()).collect();
    let closed = {
        let (l, port) = silent_listener();
        drop(l);
        port
    };
    let mut hosts: Vec<String> = silent
        .iter()
        .map(|(_, port)| format!("http://127.0.0.1:{port}"))
        .collect();
    hosts
        .extend((0..488).map(|i| format!("http://127.0.{}.{}:{closed}", 1 + i / 200, 1 + i % 200)));
    let mut text = String::new();
    for base in &hosts {
        for (k, v) in [
            ("helper", ""),
            ("helper", helper_path().to_str().expect("UTF-8")),
            ("bitbucketKind", "datacenter"),
            ("bitbucketClientId", "id"),
            ("bitbucketClientSecret", "secret"),
            ("bitbucketStore", "file"),
        ] {
            text.push_str(&format!("[credential \"{base}\"]\n\t{k} = {v}\n"));
        }
    }
    let mut config = std::fs::read_to_string(env.gitconfig()).expect("gitconfig");
    config.push_str(&text);
    std::fs::write(env.gitconfig(), config).expect("write gitconfig");
    env.set_timeout(Duration::from_secs(120));

    let out = env.helper(&["doctor"], "");
    assert_failure(&out, "doctor over unreachable hosts");
    let said = stdout(&out);
    for base in &hosts {
        assert!(
            said.contains(&format!("{base}:\n")),
            "{base} is missing:\n{}",
            describe(&out)
        );
    }
    let unreachable =
        said.matches("cannot be reached").count() + said.matches("was not checked").count();
    assert!(
        unreachable >= hosts.len(),
        "every host's endpoints fail: {unreachable}\n{said}"
    );
    drop(silent);
}

/// `configure` refuses an app password, so one stored by an older version
/// is made by storing an API token and editing the file store.
#[test]
fn token_refuses_a_stored_app_password_as_get_does() {
    let (fake, env) = cloud_setup();
    let url = fake.base_url();
    let api_token = "ATATTstoredbeforeappasswordswerechecked0123";
    let out = env.helper(
        &[
            "configure",
            &url,
            "--kind",
            "cloud",
            "--api-token",
            "--username",
            "alice",
            "--store",
            "file",
        ],
        &format!("{api_token}\n"),
    );
    crate::common::assert_success(&out, "configure --api-token");
    let tokens = env.data_dir().join("tokens.json");
    let doc = std::fs::read_to_string(&tokens).expect("tokens.json");
    assert!(doc.contains(api_token), "the token is in the file store");
    std::fs::write(
        &tokens,
        doc.replace(api_token, "ATBBanoldapppassword0123456789"),
    )
    .expect("edit");

    let get = env.helper(
        &["get"],
        &format!("protocol=http\nhost={}\n\n", fake.host()),
    );
    assert_eq!(stdout(&get), "quit=1\n", "{}", describe(&get));
    assert!(stderr(&get).contains("app password"), "{}", describe(&get));
    let token = env.helper(&["token", &url], "");
    assert_failure(&token, "token with an app password");
    assert!(
        !stdout(&token).contains("ATBB") && stderr(&token).contains("app password"),
        "{}",
        describe(&token)
    );
}

#[test]
fn status_with_the_token_flow_and_no_token_does_not_promise_a_sign_in() {
    let (fake, env) = cloud_setup();
    env.set_config(&key(&fake, "bitbucketFlow"), "token");
    let out = env.helper(&["status"], "");
    let said = stdout(&out);
    assert!(
        !said.contains("signs in") && said.contains("--api-token"),
        "{}",
        describe(&out)
    );
}

/// A config with an include is read by asking git; a git that started us
/// may leave git off PATH but says where it lives in GIT_EXEC_PATH.
#[test]
fn doctor_finds_git_through_git_exec_path_and_names_the_file_of_a_key() {
    let (fake, env) = cloud_setup();
    let included = env.root().join("included");
    std::fs::write(&included, "[user]\n\tname = Included\n").expect("write");
    env.set_config("include.path", included.to_str().expect("UTF-8"));
    env.set_config(&key(&fake, "bitbucketStor"), "file");
    let exec_path = env.git_ok(&["--exec-path"]);
    let exec_path = stdout(&exec_path).trim().to_owned();
    let no_git = env.root().join("empty-path");
    std::fs::create_dir_all(&no_git).expect("dir");

    let mut cmd = env.helper_command(&["doctor", &fake.base_url()]);
    cmd.env("PATH", &no_git).env("GIT_EXEC_PATH", &exec_path);
    let out = env.run(cmd, None);
    crate::common::assert_success(&out, "doctor without git on PATH");
    let said = stdout(&out);
    let gitconfig = env.gitconfig().to_string_lossy().into_owned();
    assert!(
        said.contains("bitbucketstor")
            && said.contains(&format!("in {gitconfig}"))
            && said.contains("did you mean bitbucketStore?"),
        "{}",
        describe(&out)
    );
}

/// A misspelled key in the user's gitconfig is named with the file it is
/// in, read in-process the way `get` reads it: natively with no git on
/// PATH at all, and under Wine (which has no Windows git) as it is.
#[test]
fn doctor_names_a_misspelled_key_and_its_file_without_asking_git() {
    let (fake, env) = cloud_setup();
    env.set_config(&key(&fake, "bitbucketStor"), "file");
    let mut cmd = env.helper_command(&["doctor", &fake.base_url()]);
    if !crate::common::wine::active() {
        let no_git = env.root().join("empty-path");
        std::fs::create_dir_all(&no_git).expect("dir");
        cmd.env("PATH", &no_git).env_remove("GIT_EXEC_PATH");
    }
    let out = env.run(cmd, None);
    let said = stdout(&out);
    let gitconfig = env.gitconfig();
    let file = match crate::common::wine::active() {
        true => crate::common::wine::windows_path(&gitconfig),
        false => gitconfig.to_string_lossy().into_owned(),
    };
    assert!(
        said.contains("bitbucketstor")
            && said.contains(&format!("in {file}"))
            && said.contains("did you mean bitbucketStore?"),
        "{}",
        describe(&out)
    );
}

#[test]
fn status_with_a_locked_keyring_says_so_and_fails() {
    let (fake, env) = cloud_setup();
    let Some(_guard) = crate::keyring::secret_service(&env) else {
        return;
    };
    env.set_config(&key(&fake, "bitbucketStore"), "keyring");
    env.git_ok(&["ls-remote", &fake.repo_url()]);
    crate::keyring::lock_login_collection();
    let out = env.helper(&["status"], "");
    crate::keyring::unlock_login_collection();
    assert_failure(&out, "status with a locked keyring");
    let said = stdout(&out);
    assert!(
        !said.contains("no sign-in yet") && said.contains("cannot be read"),
        "{}",
        describe(&out)
    );
    crate::common::assert_success(
        &env.helper(&["logout", &fake.base_url(), "--all"], ""),
        "logout",
    );
}
