//! The fake Bitbucket Data Center (`common::fake_dc`), driven by hand: no
//! helper is involved, so these prove that the fake enforces
//! docs/bitbucket-facts.md Part B before the `datacenter` end-to-end tests
//! lean on its log.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::common::client::{agent, basic, get, post_form, Answer};
use crate::common::fake_dc::{
    check_redirect_registration, DcOptions, FakeDataCenter, WWW_AUTHENTICATE,
};
use crate::common::http::{ClientAuth, Kind, TokenState};
use crate::common::percent_encode;

const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEF";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
}

/// The authorize URL the helper would open, with `changes` applied
/// (`None` removes a parameter).
fn authorize_url(fake: &FakeDataCenter, changes: &[(&str, Option<&str>)]) -> String {
    let (client_id, redirect, challenge) =
        (fake.client_id(), fake.redirect_uri(), challenge(VERIFIER));
    let mut params: Vec<(&str, Option<&str>)> = vec![
        ("response_type", Some("code")),
        ("client_id", Some(&client_id)),
        ("redirect_uri", Some(&redirect)),
        ("state", Some("st-1")),
        ("code_challenge", Some(&challenge)),
        ("code_challenge_method", Some("S256")),
        ("scope", Some("REPO_READ REPO_WRITE")),
    ];
    for (key, value) in changes {
        match params.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = *value,
            None => params.push((key, *value)),
        }
    }
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent_encode(v))))
        .collect();
    format!("{}?{}", fake.authorize_url(), query.join("&"))
}

fn code(fake: &FakeDataCenter) -> String {
    let answer = get(&authorize_url(fake, &[]), None);
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer.location_param("code").expect("a code")
}

fn exchange(fake: &FakeDataCenter, code: &str, changes: &[(&str, Option<&str>)]) -> Answer {
    let (id, secret, redirect) = (fake.client_id(), fake.client_secret(), fake.redirect_uri());
    let mut form: Vec<(&str, Option<&str>)> = vec![
        ("grant_type", Some("authorization_code")),
        ("code", Some(code)),
        ("redirect_uri", Some(&redirect)),
        ("code_verifier", Some(VERIFIER)),
        ("client_id", Some(&id)),
        ("client_secret", Some(&secret)),
    ];
    for (key, value) in changes {
        match form.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = *value,
            None => form.push((key, *value)),
        }
    }
    let form: Vec<(&str, &str)> = form
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    post_form(&fake.token_url(), None, &form)
}

fn sign_in(fake: &FakeDataCenter) -> serde_json::Value {
    let answer = exchange(fake, &code(fake), &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn refresh(fake: &FakeDataCenter, refresh_token: &str) -> Answer {
    post_form(
        &fake.token_url(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &fake.client_id()),
            ("client_secret", &fake.client_secret()),
        ],
    )
}

fn field(value: &serde_json::Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .to_string()
}

fn start() -> FakeDataCenter {
    FakeDataCenter::start(DcOptions::with_redirect_port(34999))
}

#[test]
fn fake_dc_registration_allows_plain_http_for_localhost_only() {
    assert!(check_redirect_registration("http://localhost:34107/", false).is_ok());
    assert!(check_redirect_registration("https://ci.example.com/cb", false).is_ok());
    for bad in [
        "http://127.0.0.1:34107/",
        "http://[::1]:34107/",
        "http://example.com/",
        "http://localhost:34107/#x",
        "localhost:34107/",
    ] {
        assert!(
            check_redirect_registration(bad, false).is_err(),
            "{bad} was accepted"
        );
    }
    assert!(check_redirect_registration("http://127.0.0.1:34107/", true).is_ok());
    let long = format!("https://example.com/{}", "a".repeat(440));
    assert!(check_redirect_registration(&long, false).is_err());
}

#[test]
fn fake_dc_authorize_checks_scope_first_then_the_exact_redirect_pkce_and_response_type() {
    let fake = start();
    let redirect = fake.redirect_uri();

    let ok = get(&authorize_url(&fake, &[]), None);
    assert_eq!(ok.status, 303);
    assert!(ok
        .location
        .as_deref()
        .unwrap()
        .starts_with(&format!("{redirect}?code=")));
    assert_eq!(ok.location_param("state").as_deref(), Some("st-1"));
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert!(ok.header("x-arequestid").is_some());
    let no_state = get(&authorize_url(&fake, &[("state", Some("  "))]), None);
    assert_eq!(no_state.location_param("state"), None);
    let default_scope = get(&authorize_url(&fake, &[("scope", None)]), None);
    assert!(default_scope.location_param("code").is_some());

    // A scope outside the client's goes back to the client, even with a
    // redirect_uri that is not registered: the scope check is first.
    let scope = get(
        &authorize_url(
            &fake,
            &[
                ("scope", Some("REPO_ADMIN REPO_READ")),
                ("redirect_uri", Some("http://localhost:1/")),
            ],
        ),
        None,
    );
    assert_eq!(scope.status, 303);
    assert!(scope
        .location
        .as_deref()
        .unwrap()
        .starts_with("http://localhost:1/?"));
    assert_eq!(
        scope.location_param("error").as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(scope.location_param("state").as_deref(), Some("st-1"));

    // Exact redirect: no other port, no missing slash, no 127.0.0.1.
    let port = redirect
        .trim_start_matches("http://localhost:")
        .trim_end_matches('/')
        .to_string();
    for other in [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}/"),
        "http://localhost:34998/".to_string(),
        format!("{redirect}cb"),
    ] {
        let answer = get(
            &authorize_url(&fake, &[("redirect_uri", Some(&other))]),
            None,
        );
        assert_eq!(
            (answer.status, answer.location.as_deref()),
            (400, None),
            "{other}"
        );
    }
    let unknown = get(
        &authorize_url(&fake, &[("client_id", Some("nobody"))]),
        None,
    );
    assert_eq!((unknown.status, unknown.location.as_deref()), (400, None));

    // PKCE: required here; method S256 or plain; the challenge's form.
    for (changes, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("s256"))],
            "invalid_request",
        ),
        (vec![("code_challenge", Some("short"))], "invalid_request"),
        (
            vec![("code_challenge", Some(&*"a+b".repeat(20)))],
            "invalid_request",
        ),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
    ] {
        let answer = get(&authorize_url(&fake, &changes), None);
        assert_eq!(answer.status, 303, "{changes:?}");
        assert_eq!(
            answer.location_param("error").as_deref(),
            Some(error),
            "{changes:?}"
        );
    }
    let plain = get(
        &authorize_url(
            &fake,
            &[
                ("code_challenge_method", None),
                ("code_challenge", Some(VERIFIER)),
            ],
        ),
        None,
    );
    let plain_code = plain.location_param("code").expect("plain PKCE is fine");
    let answer = exchange(&fake, &plain_code, &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        fake.token_requests("authorization_code")[0].pkce.as_deref(),
        Some("plain")
    );

    fake.set_deny(true);
    let denied = get(&authorize_url(&fake, &[]), None);
    assert_eq!(
        denied.location_param("error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(denied.location_param("code"), None);
}

#[test]
fn fake_dc_token_reads_the_client_from_the_body_only_and_checks_every_binding() {
    let fake = start();
    let code = code(&fake);
    let (id, secret) = (fake.client_id(), fake.client_secret());

    // Only Basic: the header is never read.
    let answer = post_form(
        &fake.token_url(),
        Some(&basic(&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &fake.redirect_uri()),
            ("code_verifier", VERIFIER),
        ],
    );
    assert_eq!(
        (answer.status, answer.error()),
        (400, "invalid_request".into())
    );
    let logged = fake.token_requests("authorization_code");
    assert_eq!(logged[0].client_auth, Some(ClientAuth::Basic));

    for (changes, error) in [
        (vec![("code_verifier", None)], "invalid_grant"),
        (
            vec![("code_verifier", Some(&*VERIFIER.replace('v', "w")))],
            "invalid_grant",
        ),
        (
            vec![("redirect_uri", Some("http://localhost:34998/"))],
            "invalid_grant",
        ),
        (vec![("redirect_uri", None)], "invalid_request"),
        (vec![("client_id", Some("nobody"))], "invalid_grant"),
        (vec![("client_secret", Some("wrong"))], "invalid_client"),
        (vec![("client_secret", None)], "invalid_client"),
        (vec![("code", Some("dc-code-unknown"))], "invalid_request"),
        (
            vec![("grant_type", Some("password"))],
            "unsupported_grant_type",
        ),
        (vec![("grant_type", None)], "invalid_request"),
    ] {
        let answer = exchange(&fake, &code, &changes);
        assert_eq!(
            (answer.status, answer.error()),
            (400, error.to_string()),
            "{changes:?}: {}",
            answer.body
        );
        assert_eq!(answer.header("cache-control"), Some("no-store, no-cache"));
    }

    let good = exchange(&fake, &code, &[]);
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.header("cache-control"), Some("no-store"));
    let json = good.json();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(json["scope"], "REPO_READ REPO_WRITE");
    let access = field(&json, "access_token");
    field(&json, "refresh_token");
    let last = fake.all_token_requests().pop().expect("logged");
    assert_eq!(
        (last.client_auth, last.pkce.as_deref()),
        (Some(ClientAuth::Body), Some("S256"))
    );

    // Replay: invalid_grant, and what the code gave is revoked.
    assert_eq!(fake.token_state(&access), TokenState::Live);
    let replay = exchange(&fake, &code, &[]);
    assert_eq!(
        (replay.status, replay.error()),
        (400, "invalid_grant".into())
    );
    assert_eq!(fake.token_state(&access), TokenState::Revoked);
    assert_eq!(fake.live_refresh_tokens(), 0);

    // Form bodies only.
    let json_body = agent()
        .post(fake.token_url())
        .header("Content-Type", "application/json")
        .send(r#"{"grant_type":"authorization_code"}"#);
    assert_eq!(crate::common::client::answer(json_body).status, 415);
}

#[test]
fn fake_dc_refresh_rotates_and_the_old_access_token_dies_at_once() {
    let fake = start();
    let first = sign_in(&fake);
    let (old_access, old_refresh) = (
        field(&first, "access_token"),
        field(&first, "refresh_token"),
    );
    let props = "/rest/api/latest/application-properties";
    assert_eq!(
        fake.probe(props, Some(&format!("Bearer {old_access}")))
            .status,
        200
    );

    let renewed = refresh(&fake, &old_refresh);
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let renewed = renewed.json();
    let new_access = field(&renewed, "access_token");
    assert_ne!(new_access, old_access);
    assert_ne!(field(&renewed, "refresh_token"), old_refresh);

    let dead = fake.probe(props, Some(&format!("Bearer {old_access}")));
    assert_eq!(dead.status, 401);
    assert_eq!(dead.www_authenticate.as_deref(), Some(WWW_AUTHENTICATE));
    assert_eq!(fake.token_state(&old_access), TokenState::Revoked);
    let replay = refresh(&fake, &old_refresh);
    assert_eq!(
        (replay.status, replay.error()),
        (400, "invalid_grant".into())
    );
    let live = fake.probe(props, Some(&format!("Bearer {new_access}")));
    assert_eq!(
        (live.status, live.ausername.as_deref()),
        (200, Some("alice"))
    );

    // Without the client secret: invalid_client, and nothing rotates.
    let renewed_refresh = field(&renewed, "refresh_token");
    let no_secret = post_form(
        &fake.token_url(),
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &renewed_refresh),
            ("client_id", &fake.client_id()),
        ],
    );
    assert_eq!(
        (no_secret.status, no_secret.error()),
        (400, "invalid_client".into())
    );
    assert_eq!(refresh(&fake, &renewed_refresh).status, 200);
}

#[test]
fn fake_dc_resources_take_bearer_or_basic_and_http_tokens_as_documented() {
    let fake = start();
    let access = field(&sign_in(&fake), "access_token");
    let props = "/rest/api/latest/application-properties";
    let refs = "/scm/PROJ/repo.git/info/refs?service=git-upload-pack";
    let push_refs = "/scm/PROJ/repo.git/info/refs?service=git-receive-pack";

    let anonymous = fake.probe(props, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.www_authenticate.as_deref(),
        Some(WWW_AUTHENTICATE)
    );
    assert!(anonymous.request_id.is_some());
    assert_eq!(anonymous.ausername, None);

    let cases: Vec<(String, &str, u16, Option<&str>)> = vec![
        (format!("Bearer {access}"), props, 200, Some("alice")),
        (format!("bearer {access}"), props, 401, None),
        (basic("anyone-at-all", &access), props, 200, Some("alice")),
        (basic("alice", &format!("{access}:x")), props, 401, None),
        (format!("Bearer {access}"), refs, 200, Some("alice")),
        (
            basic("OAUTH_USERNAME", &access),
            push_refs,
            200,
            Some("alice"),
        ),
        ("Bearer not-a-token".to_string(), refs, 401, None),
    ];
    let personal = fake.mint_personal_token("alice", false);
    let project = fake.mint_project_token("PROJ", true);
    let other_project = fake.mint_project_token("OTHER", true);
    let more: Vec<(String, &str, u16, Option<&str>)> = vec![
        (basic("alice", &personal), refs, 200, Some("alice")),
        (basic("bob", &personal), refs, 401, None),
        (format!("Bearer {personal}"), refs, 200, Some("alice")),
        (basic("alice", &personal), push_refs, 403, Some("alice")),
        (
            format!("Bearer {project}"),
            push_refs,
            200,
            Some("proj-bot"),
        ),
        (basic("x-token-auth", &project), refs, 401, None),
        (
            format!("Bearer {other_project}"),
            refs,
            403,
            Some("other-bot"),
        ),
    ];
    for (authorization, path, status, user) in cases.iter().chain(&more) {
        let probe = fake.probe(path, Some(authorization));
        assert_eq!(
            (probe.status, probe.ausername.as_deref()),
            (*status, *user),
            "{authorization} {path}"
        );
        assert!(probe.request_id.is_some());
        if *status == 401 {
            assert_eq!(probe.www_authenticate.as_deref(), Some(WWW_AUTHENTICATE));
        }
    }
    let git = fake.requests_of(&Kind::Git);
    assert!(git.iter().all(|r| r.git_service.is_some()));
}

#[test]
fn fake_dc_serves_only_below_its_context_path_and_revokes_through_the_endpoint() {
    let fake = FakeDataCenter::start(DcOptions {
        context_path: "/bitbucket/".into(),
        ..DcOptions::with_redirect_port(34998)
    });
    assert_eq!(fake.context_path(), "/bitbucket");
    assert!(fake
        .token_url()
        .ends_with("/bitbucket/rest/oauth2/latest/token"));
    let json = sign_in(&fake);
    let (access, refresh_token) = (field(&json, "access_token"), field(&json, "refresh_token"));
    let outside = get(
        &format!("{}/rest/api/latest/application-properties", fake.base_url()),
        Some(&format!("Bearer {access}")),
    );
    assert_eq!(outside.status, 404);
    assert_eq!(
        fake.probe(
            "/rest/api/latest/application-properties",
            Some(&format!("Bearer {access}"))
        )
        .status,
        200
    );

    let revoke = |token: &str, secret: &str| {
        post_form(
            &fake.revoke_url(),
            None,
            &[
                ("token", token),
                ("token_type_hint", "refresh_token"),
                ("client_id", &fake.client_id()),
                ("client_secret", secret),
            ],
        )
    };
    assert_eq!(revoke(&refresh_token, "wrong").status, 400);
    assert_eq!(fake.token_state(&access), TokenState::Live);
    assert_eq!(revoke(&refresh_token, &fake.client_secret()).status, 200);
    assert_eq!(fake.token_state(&access), TokenState::Revoked);
    assert_eq!(fake.live_refresh_tokens(), 0);
    assert_eq!(fake.count(&Kind::Revoke), 2);
}
