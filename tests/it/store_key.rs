//! Where a sign-in is kept (issue 21, item 6): a host configured as
//! Bitbucket Cloud (`bitbucketKind=cloud`) keys its records by
//! `protocol://host[:port]` alone, whatever its name, so with
//! `credential.useHttpPath=true` one sign-in serves every repository; the
//! kind comes from the configuration, not from the host name (the fake is
//! Cloud on 127.0.0.1).
//!
//! Evidence: the browser log, the fake's code exchanges, the store file.

use crate::common::env::cloud_setup as setup;
use crate::common::steps::store_doc;
use crate::common::{assert_success, describe, stdout};

#[test]
fn a_cloud_host_with_use_http_path_signs_in_once_for_every_repository() {
    let (fake, env) = setup();
    env.set_config("credential.useHttpPath", "true");
    let fill = |path: &str| {
        let cmd = env.git_command(&env.work_dir(), &["credential", "fill"]);
        let input = format!("protocol=http\nhost={}\npath={path}\n\n", fake.host());
        env.run(cmd, Some(input.as_bytes()))
    };

    for repo in ["ws/one.git", "ws/two.git", "other/three.git"] {
        let out = fill(repo);
        assert_success(&out, "git credential fill");
        assert!(
            stdout(&out).contains("password="),
            "{repo}: {}",
            describe(&out)
        );
    }

    assert_eq!(env.browser_opens(), 1, "{}", env.browser_log());
    assert_eq!(fake.token_requests("authorization_code").len(), 1);
    let doc = store_doc(&env);
    let hosts: Vec<&str> = doc["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["host"].as_str())
        .collect();
    assert_eq!(hosts, [fake.base_url().as_str()], "{doc:#}");

    // `logout` with a repository's URL finds the same record.
    let out = env.helper(&["logout", &format!("{}/ws/two.git", fake.base_url())], "");
    assert_success(&out, "logout");
    let left = store_doc(&env)["records"].as_array().map(Vec::len);
    assert_eq!(left, Some(0), "{}", describe(&out));
}
