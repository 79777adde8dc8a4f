//! The fake Bitbucket Cloud and the fake browser, driven by hand: no helper
//! is involved, so these pass before the helper exists and prove that the
//! fake enforces what docs/bitbucket-facts.md says.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::client::{agent, answer, basic, bearer, get, post_form, Answer};
use crate::common::env::{python3, TestEnv, FAKE_BROWSER};
use crate::common::fake::{
    ClientAuth, FakeBitbucket, FakeOptions, Kind, TokenFault, TokenState, WWW_AUTHENTICATE,
};
use crate::common::{assert_failure, assert_success, param, query_params, stderr};

const REDIRECT: &str = "http://127.0.0.1:41234/";

fn client_basic(fake: &FakeBitbucket) -> String {
    basic(&fake.client_id(), &fake.client_secret())
}

fn authorize_url(fake: &FakeBitbucket, extra: &[(&str, &str)]) -> String {
    let client_id = crate::common::percent_encode(&fake.client_id());
    let mut url = format!(
        "{}?client_id={client_id}&response_type=code",
        fake.authorize_url()
    );
    for (k, v) in extra {
        url.push_str(&format!("&{k}={}", crate::common::percent_encode(v)));
    }
    url
}

/// Authorize with `redirect_uri` and a state; returns the code.
fn code_for(fake: &FakeBitbucket, redirect: &str) -> String {
    let answer = get(
        &authorize_url(fake, &[("redirect_uri", redirect), ("state", "s1")]),
        None,
    );
    assert_eq!(answer.status, 302, "authorize: {}", answer.body);
    let location = answer.location.expect("a Location");
    param(&query_params(&location), "code")
        .expect("a code")
        .to_string()
}

/// The whole sign-in by hand: authorize, then exchange with Basic auth.
fn sign_in(fake: &FakeBitbucket) -> Value {
    let code = code_for(fake, REDIRECT);
    let answer = post_form(
        &fake.token_url(),
        Some(&client_basic(fake)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(answer.status, 200, "exchange: {}", answer.body);
    answer.json()
}

fn refresh(fake: &FakeBitbucket, refresh_token: &str) -> Answer {
    post_form(
        &fake.token_url(),
        Some(&client_basic(fake)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {value}"))
}

#[test]
fn authorize_redirects_to_the_redirect_uri_with_a_code_and_the_state_as_sent() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let state = "a b/c+d=";
    let answer = get(
        &authorize_url(
            &fake,
            &[
                ("redirect_uri", REDIRECT),
                ("state", state),
                ("scope", "repository:write"),
                ("code_challenge", "abc"),
                ("code_challenge_method", "S256"),
            ],
        ),
        None,
    );
    assert_eq!(answer.status, 302);
    let location = answer.location.expect("a Location");
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    let params = query_params(&location);
    assert_eq!(param(&params, "state"), Some(state));
    let code = param(&params, "code").expect("a code");
    assert!(code.starts_with("code-"), "{code}");
    assert!(fake.issued_secrets().contains(&code.to_string()));
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, Kind::Authorize);
    assert_eq!(log[0].status, 302);
    assert_eq!(log[0].param("code_challenge"), Some("abc"));
    assert_eq!(log[0].account.as_deref(), Some("alice"));
}

#[test]
fn authorize_without_redirect_uri_uses_the_callback_and_omits_an_absent_state() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let answer = get(&authorize_url(&fake, &[]), None);
    assert_eq!(answer.status, 302);
    let location = answer.location.expect("a Location");
    assert!(location.starts_with("http://127.0.0.1?code="), "{location}");
    assert!(!location.contains("state="), "{location}");
}

#[test]
fn authorize_checks_redirect_uri_as_a_raw_string_prefix_of_the_callback() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    for good in [
        "http://127.0.0.1:5/",
        "http://127.0.0.1:65000/callback?x=1",
        "http://127.0.0.1/",
    ] {
        let answer = get(&authorize_url(&fake, &[("redirect_uri", good)]), None);
        assert_eq!(answer.status, 302, "{good}");
        assert!(
            answer
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with(good)),
            "{good}"
        );
    }
    for bad in [
        "http://localhost:5/",
        "https://127.0.0.1:5/",
        "http://127.0.1.1/",
        "http://[::1]:5/",
    ] {
        let answer = get(
            &authorize_url(&fake, &[("redirect_uri", bad), ("state", "s")]),
            None,
        );
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.location, None, "{bad}: never redirected");
        assert!(
            answer.content_type.starts_with("text/html"),
            "{}",
            answer.content_type
        );
        assert!(
            answer.body.contains("Invalid redirect_uri"),
            "{}",
            answer.body
        );
    }
    assert!(fake.requests().iter().all(|r| r.kind == Kind::Authorize));
}

/// The prefix is a raw string prefix: a Callback URL with a trailing slash
/// admits no other port (bitbucket-facts.md A.2).
#[test]
fn a_callback_with_a_trailing_slash_is_no_prefix_of_another_port() {
    let fake = FakeBitbucket::start(FakeOptions {
        callback: "http://127.0.0.1/".into(),
        ..FakeOptions::default()
    });
    let refused = get(
        &authorize_url(&fake, &[("redirect_uri", "http://127.0.0.1:5555/")]),
        None,
    );
    assert_eq!((refused.status, refused.location), (400, None));
    let admitted = get(
        &authorize_url(&fake, &[("redirect_uri", "http://127.0.0.1/cb")]),
        None,
    );
    assert_eq!(admitted.status, 302);
}

#[test]
fn authorize_rejects_unknown_clients_and_other_response_types() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let base = fake.authorize_url();
    for url in [
        format!("{base}?client_id=someone-else&response_type=code"),
        format!("{base}?response_type=code"),
        format!("{base}?client_id=test-client&response_type=token"),
        format!("{base}?client_id=test-client"),
    ] {
        let answer = get(&url, None);
        assert_eq!(answer.status, 400, "{url}");
        assert_eq!(answer.location, None, "{url}");
        assert!(answer.content_type.starts_with("text/html"), "{url}");
    }
}

#[test]
fn denied_consent_redirects_with_access_denied_and_the_state() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    fake.set_deny(true);
    let answer = get(
        &authorize_url(&fake, &[("redirect_uri", REDIRECT), ("state", "xyz")]),
        None,
    );
    assert_eq!(answer.status, 302);
    let location = answer.location.expect("a Location");
    let params = query_params(&location);
    assert!(location.starts_with(REDIRECT));
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert!(param(&params, "error_description").is_some());
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert_eq!(param(&params, "code"), None);
}

#[test]
fn code_exchange_needs_client_authentication_by_basic_or_body() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let url = fake.token_url();

    let code = code_for(&fake, REDIRECT);
    let none = post_form(
        &url,
        None,
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(none.status, 400);
    assert_eq!(none.json()["error"], "unauthorized_client");
    assert_eq!(
        none.json()["error_description"],
        "Requests must be authenticated using OAuth client credentials"
    );
    let code = code_for(&fake, REDIRECT);
    let wrong = post_form(
        &url,
        Some(&basic("test-client", "not-the-secret")),
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "unauthorized_client");
    let bearer_auth = post_form(
        &url,
        Some(&bearer("test-secret")),
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(bearer_auth.status, 200);
    assert!(bearer_auth.content_type.starts_with("text/html"));
    assert!(bearer_auth.body.contains("OpenID transaction in progress"));

    let code = code_for(&fake, REDIRECT);
    let by_basic = post_form(
        &url,
        Some(&client_basic(&fake)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(by_basic.status, 200, "{}", by_basic.body);
    assert!(by_basic.content_type.starts_with("application/json"));
    let token = by_basic.json();
    assert!(str_field(&token, "access_token").starts_with("at."));
    assert!(str_field(&token, "refresh_token").starts_with("rt+"));
    assert_eq!(token["scope"], "account repository:write");
    assert!(
        token.get("scopes").is_none(),
        "rotating mode says scope: {token}"
    );
    assert_eq!(token["expires_in"], 7200);
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["state"], "authorization_code");

    let code = code_for(&fake, REDIRECT);
    let by_body = post_form(
        &url,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "test-client"),
            ("client_secret", "test-secret"),
        ],
    );
    assert_eq!(by_body.status, 200, "{}", by_body.body);

    let styles: Vec<_> = fake
        .all_token_requests()
        .iter()
        .map(|r| (r.client_auth, r.status))
        .collect();
    assert_eq!(
        styles,
        vec![
            (Some(ClientAuth::None), 400),
            (Some(ClientAuth::Basic), 400),
            (Some(ClientAuth::OtherScheme), 200),
            (Some(ClientAuth::Basic), 200),
            (Some(ClientAuth::Body), 200),
        ]
    );
    let exchanges = fake.token_requests("authorization_code");
    assert_eq!(exchanges.len(), 5);
    assert_eq!(exchanges[3].account.as_deref(), Some("alice"));
    assert_eq!(exchanges[0].error.as_deref(), Some("unauthorized_client"));
}

#[test]
fn basic_client_credentials_are_url_decoded_per_rfc_6749() {
    let fake = FakeBitbucket::start(FakeOptions {
        client_id: "id with space".into(),
        client_secret: "s3cr+t/=".into(),
        ..FakeOptions::default()
    });
    let url = fake.token_url();
    let code = code_for(&fake, REDIRECT);
    let encoded = post_form(
        &url,
        Some(&basic("id+with+space", "s3cr%2Bt%2F%3D")),
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(encoded.status, 200, "{}", encoded.body);
    let code = code_for(&fake, REDIRECT);
    let plain = post_form(
        &url,
        Some(&basic("id with space", "s3cr+t/=")),
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    assert_eq!(plain.status, 200, "{}", plain.body);
}

#[test]
fn codes_are_single_use_bound_to_the_redirect_uri_and_to_the_client() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let url = fake.token_url();
    let auth = client_basic(&fake);

    let code = code_for(&fake, REDIRECT);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    assert_eq!(post_form(&url, Some(&auth), &form).status, 200);
    let again = post_form(&url, Some(&auth), &form);
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");

    let code = code_for(&fake, REDIRECT);
    let other_redirect = post_form(
        &url,
        Some(&auth),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:1/"),
        ],
    );
    assert_eq!(other_redirect.status, 400);
    assert_eq!(other_redirect.json()["error"], "invalid_grant");
    let burnt = post_form(
        &url,
        Some(&auth),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(burnt.status, 400, "a presented code is burnt");

    let unknown = post_form(
        &url,
        Some(&auth),
        &[("grant_type", "authorization_code"), ("code", "code-nope")],
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"], "invalid_grant");
    let missing = post_form(&url, Some(&auth), &[("grant_type", "authorization_code")]);
    assert_eq!(missing.json()["error"], "invalid_grant");
}

#[test]
fn token_endpoint_reads_only_form_bodies_and_names_unsupported_grants() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let url = fake.token_url();
    let auth = client_basic(&fake);

    let json_body = answer(
        agent()
            .post(&url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send("{\"grant_type\":\"client_credentials\"}"),
    );
    assert_eq!(json_body.status, 400);
    assert_eq!(json_body.json()["error"], "invalid_grant");
    assert_eq!(
        json_body.json()["error_description"],
        "Unsupported grant type: None"
    );

    let password = post_form(
        &url,
        Some(&auth),
        &[("grant_type", "password"), ("username", "alice")],
    );
    assert_eq!(password.status, 400);
    assert_eq!(
        password.json()["error_description"],
        "Unsupported grant type: password"
    );

    let kinds: Vec<Kind> = fake.requests().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![Kind::token(""), Kind::token("password")]);

    let get_answer = get(&url, Some(&auth));
    assert_ne!(get_answer.status, 200);
}

#[test]
fn refresh_tokens_rotate_and_the_used_one_dies() {
    // Strict: no grace window (store_safety tests the window).
    let fake = FakeBitbucket::start(FakeOptions {
        refresh_grace: Duration::ZERO,
        ..FakeOptions::default()
    });
    let first = sign_in(&fake);
    let rt1 = str_field(&first, "refresh_token").to_string();

    let second = refresh(&fake, &rt1);
    assert_eq!(second.status, 200, "{}", second.body);
    let second = second.json();
    let rt2 = str_field(&second, "refresh_token").to_string();
    assert_ne!(rt1, rt2);
    assert_ne!(
        str_field(&second, "access_token"),
        str_field(&first, "access_token")
    );
    assert_eq!(second["state"], "refresh_token");
    assert_eq!(second["scope"], "account repository:write");

    let replay = refresh(&fake, &rt1);
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_request");
    assert_eq!(replay.json()["error_description"], "Invalid refresh_token");

    let third = refresh(&fake, &rt2);
    assert_eq!(third.status, 200, "{}", third.body);
    let statuses: Vec<u16> = fake
        .token_requests("refresh_token")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 400, 200]);
    assert_eq!(
        fake.token_requests("refresh_token")[1].error.as_deref(),
        Some("invalid_request")
    );

    // The old access token is not revoked by a refresh.
    let user = get(
        &format!("{}/user", fake.api_url()),
        Some(&bearer(str_field(&first, "access_token"))),
    );
    assert_eq!(user.status, 200);
}

#[test]
fn legacy_mode_returns_the_same_refresh_token_and_says_scopes() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    fake.set_rotate(false);
    let first = sign_in(&fake);
    assert_eq!(first["scopes"], "account repository:write");
    assert!(first.get("scope").is_none());
    let rt = str_field(&first, "refresh_token").to_string();
    for _ in 0..2 {
        let again = refresh(&fake, &rt);
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(str_field(&again.json(), "refresh_token"), rt);
        assert_eq!(again.json()["scopes"], "account repository:write");
    }
    fake.revoke_refresh_tokens();
    let dead = refresh(&fake, &rt);
    assert_eq!(dead.status, 400);
    assert_eq!(dead.json()["error"], "invalid_request");
}

#[test]
fn client_credentials_needs_a_private_consumer_and_gives_no_refresh_token() {
    let public = FakeBitbucket::start(FakeOptions::default());
    let refused = post_form(
        &public.token_url(),
        Some(&client_basic(&public)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "unauthorized_client");

    let private = FakeBitbucket::start(FakeOptions {
        private: true,
        ..FakeOptions::default()
    });
    let granted = post_form(
        &private.token_url(),
        Some(&client_basic(&private)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(granted.status, 200, "{}", granted.body);
    let token = granted.json();
    assert_eq!(token["state"], "client_credentials");
    assert!(token.get("refresh_token").is_none(), "{token}");
    let at = str_field(&token, "access_token");
    let user = get(&format!("{}/user", private.api_url()), Some(&bearer(at)));
    assert_eq!(user.json()["type"], "app_user");
    let refs = get(
        &format!("{}/info/refs?service=git-upload-pack", private.repo_url()),
        Some(&basic("x-token-auth", at)),
    );
    assert_eq!(refs.status, 200);
}

#[test]
fn a_consumer_without_a_callback_is_refused_every_grant() {
    let fake = FakeBitbucket::start(FakeOptions {
        callback: String::new(),
        private: true,
        ..FakeOptions::default()
    });
    let answer = post_form(
        &fake.token_url(),
        Some(&client_basic(&fake)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"], "invalid_request");
    assert_eq!(
        answer.json()["error_description"],
        "No callback uri defined for the OAuth client."
    );
}

#[test]
fn user_endpoint_needs_a_live_bearer_token_with_account_scope() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let user_url = format!("{}/user", fake.api_url());

    let anonymous = get(&user_url, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.www_authenticate.as_deref(),
        Some(WWW_AUTHENTICATE)
    );
    assert_eq!(
        anonymous.json()["error"]["message"],
        "Access token expired. Use your refresh token to obtain a new access token."
    );

    let alice = sign_in(&fake);
    let at = str_field(&alice, "access_token");
    let me = get(&user_url, Some(&bearer(at)));
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["type"], "user");
    assert_eq!(me["username"], "alice");
    assert_eq!(me["display_name"], "Alice Example");
    assert_eq!(me["account_status"], "active");
    assert!(str_field(&me, "uuid").starts_with('{'));
    for key in [
        "account_id",
        "nickname",
        "links",
        "created_on",
        "has_2fa_enabled",
        "is_staff",
    ] {
        assert!(me.get(key).is_some(), "{key} in {me}");
    }
    assert_eq!(
        get(&user_url, Some(&basic("x-token-auth", at))).status,
        401,
        "Basic is not for the API"
    );
    assert_eq!(get(&user_url, Some(&bearer("at.999nope"))).status, 401);

    fake.set_browser_user("bob");
    let bob = sign_in(&fake);
    let me = get(&user_url, Some(&bearer(str_field(&bob, "access_token")))).json();
    assert_eq!(me["username"], "bob");
    let users: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::User && r.status == 200)
        .map(|r| r.account)
        .collect();
    assert_eq!(
        users,
        vec![Some("alice".to_string()), Some("bob".to_string())]
    );

    let narrow = FakeBitbucket::start(FakeOptions {
        scopes: "repository".into(),
        ..FakeOptions::default()
    });
    let token = sign_in(&narrow);
    let forbidden = get(
        &format!("{}/user", narrow.api_url()),
        Some(&bearer(str_field(&token, "access_token"))),
    );
    assert_eq!(forbidden.status, 403);
    let body = forbidden.json();
    assert_eq!(
        body["error"]["message"],
        "Your credentials lack one or more required privilege scopes."
    );
    assert_eq!(body["error"]["detail"]["required"][0], "account");
    assert_eq!(body["error"]["detail"]["granted"][0], "repository");
}

#[test]
fn access_tokens_expire_after_their_lifetime_and_can_be_revoked() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    fake.set_access_lifetime(1);
    let short = sign_in(&fake);
    assert_eq!(short["expires_in"], 1);
    fake.set_access_lifetime(7200);
    let long = sign_in(&fake);
    let user_url = format!("{}/user", fake.api_url());
    let refs_url = format!("{}/info/refs?service=git-upload-pack", fake.repo_url());
    let short_at = str_field(&short, "access_token");
    let long_at = str_field(&long, "access_token");
    assert_eq!(get(&user_url, Some(&bearer(short_at))).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&user_url, Some(&bearer(short_at))).status, 401);
    assert_eq!(
        get(&refs_url, Some(&basic("x-token-auth", short_at))).status,
        401
    );
    assert_eq!(get(&user_url, Some(&bearer(long_at))).status, 200);

    fake.revoke_access_tokens();
    assert_eq!(get(&user_url, Some(&bearer(long_at))).status, 401);
    assert_eq!(
        get(&refs_url, Some(&basic("x-token-auth", long_at))).status,
        401
    );
    let states: Vec<_> = fake
        .requests()
        .iter()
        .filter_map(|r| r.token_state)
        .collect();
    assert_eq!(
        states,
        vec![
            TokenState::Live,
            TokenState::Expired,
            TokenState::Expired,
            TokenState::Live,
            TokenState::Revoked,
            TokenState::Revoked
        ]
    );
    // A refresh still works after the access tokens were revoked.
    let fresh = refresh(&fake, str_field(&long, "refresh_token"));
    assert_eq!(fresh.status, 200);
    assert_eq!(
        get(
            &user_url,
            Some(&bearer(str_field(&fresh.json(), "access_token")))
        )
        .status,
        200
    );
}

#[test]
fn git_smart_http_checks_the_user_name_and_token_of_every_request() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let refs_url = format!("{}/info/refs?service=git-upload-pack", fake.repo_url());
    let anonymous = get(&refs_url, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.www_authenticate.as_deref(),
        Some(WWW_AUTHENTICATE)
    );

    let alice = sign_in(&fake);
    let at = str_field(&alice, "access_token");
    assert_eq!(get(&refs_url, Some(&basic("x-token-auth", at))).status, 200);
    assert_eq!(get(&refs_url, Some(&basic("alice", at))).status, 200);
    assert_eq!(get(&refs_url, Some(&bearer(at))).status, 200);
    assert_eq!(
        get(&refs_url, Some(&basic("bob", at))).status,
        401,
        "not the token's owner"
    );
    assert_eq!(
        get(&refs_url, Some(&basic("x-token-auth", "at.1wrong"))).status,
        401
    );
    assert_eq!(
        get(&refs_url, Some(&basic("x-bitbucket-api-token-auth", at))).status,
        401
    );

    let log: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git)
        .collect();
    assert_eq!(log.len(), 7);
    assert!(log
        .iter()
        .all(|r| r.git_service.as_deref() == Some("git-upload-pack")));
    assert_eq!(log[0].auth_scheme, None);
    assert_eq!(log[1].basic_user.as_deref(), Some("x-token-auth"));
    assert_eq!(log[1].account.as_deref(), Some("alice"));
    assert_eq!(log[3].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(
        (log[4].status, log[4].account.as_deref()),
        (401, Some("alice"))
    );
    assert_eq!(log[5].token_state, Some(TokenState::Unknown));

    let no_bearer = FakeBitbucket::start(FakeOptions {
        git_bearer: false,
        ..FakeOptions::default()
    });
    let token = sign_in(&no_bearer);
    let url = format!("{}/info/refs?service=git-upload-pack", no_bearer.repo_url());
    assert_eq!(
        get(&url, Some(&bearer(str_field(&token, "access_token")))).status,
        401
    );
}

#[test]
fn git_fetch_needs_a_repository_scope_and_push_needs_repository_write() {
    let read_only = FakeBitbucket::start(FakeOptions {
        scopes: "account repository".into(),
        ..FakeOptions::default()
    });
    let at = str_field(&sign_in(&read_only), "access_token").to_string();
    let auth = basic("x-token-auth", &at);
    let upload = format!("{}/info/refs?service=git-upload-pack", read_only.repo_url());
    let receive = format!(
        "{}/info/refs?service=git-receive-pack",
        read_only.repo_url()
    );
    assert_eq!(get(&upload, Some(&auth)).status, 200);
    assert_eq!(get(&receive, Some(&auth)).status, 403);

    let no_repo = FakeBitbucket::start(FakeOptions {
        scopes: "account".into(),
        ..FakeOptions::default()
    });
    let at = str_field(&sign_in(&no_repo), "access_token").to_string();
    let upload = format!("{}/info/refs?service=git-upload-pack", no_repo.repo_url());
    assert_eq!(get(&upload, Some(&basic("x-token-auth", &at))).status, 403);

    let admin_only = FakeBitbucket::start(FakeOptions {
        scopes: "repository:admin".into(),
        ..FakeOptions::default()
    });
    let at = str_field(&sign_in(&admin_only), "access_token").to_string();
    let upload = format!(
        "{}/info/refs?service=git-upload-pack",
        admin_only.repo_url()
    );
    assert_eq!(
        get(&upload, Some(&basic("x-token-auth", &at))).status,
        403,
        "admin does not imply read"
    );
}

fn inline_helper(token: &str) -> String {
    format!("credential.helper=!f(){{ echo username=x-token-auth; echo 'password={token}'; }}; f")
}

/// git's arguments for `args` with `helper` as its only credential helper.
fn only_helper<'a>(helper: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-c", "credential.helper=", "-c", helper];
    all.extend_from_slice(args);
    all
}

#[test]
fn real_git_clones_and_pushes_through_the_fake_with_a_hand_made_token() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let at = str_field(&sign_in(&fake), "access_token").to_string();
    fake.clear_log();
    let helper = inline_helper(&at);

    env.git_ok(&only_helper(&helper, &["clone", &fake.repo_url(), "clone"]));
    let clone = env.work_dir().join("clone");
    let readme =
        std::fs::read_to_string(clone.join("README.md")).expect("the clone has the README");
    assert!(readme.contains("# repo"), "{readme}");
    let git_log: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.kind == Kind::Git)
        .collect();
    assert_eq!(git_log[0].status, 401, "git asks anonymously first");
    assert!(git_log[1..]
        .iter()
        .all(|r| r.status == 200 && r.account.as_deref() == Some("alice")));

    env.commit_file(&clone, "new.txt", b"pushed\n", "Add new.txt");
    fake.clear_log();
    env.git_in_ok(&clone, &only_helper(&helper, &["push", "origin", "main"]));
    assert_eq!(fake.server_commit_count("main"), 2);
    let local = env.head_of(&clone);
    assert_eq!(fake.server_rev("refs/heads/main"), local);
    assert!(fake.requests().iter().any(|r| r.method == "POST"
        && r.git_service.as_deref() == Some("git-receive-pack")
        && r.status == 200));
}

#[test]
fn real_git_fails_with_a_wrong_token_and_never_prompts() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let helper = inline_helper("at.0not-a-token");
    let started = Instant::now();
    let out = env.git(&only_helper(&helper, &["ls-remote", &fake.repo_url()]));
    assert_failure(&out, "ls-remote with a wrong token");
    assert!(
        stderr(&out).contains("Authentication failed"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    let anonymous = env.git(&["ls-remote", &fake.repo_url()]);
    assert_failure(&anonymous, "ls-remote with no helper");
    assert!(
        stderr(&anonymous).contains("terminal prompts disabled"),
        "{}",
        stderr(&anonymous)
    );
}

#[test]
fn a_large_push_streams_through_http_backend() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let helper = inline_helper(str_field(&sign_in(&fake), "access_token"));
    env.git_ok(&only_helper(
        &helper,
        &["clone", "-q", &fake.repo_url(), "clone"],
    ));
    let clone = env.work_dir().join("clone");
    // 2 MB that does not compress, so git sends it chunked.
    let mut data = vec![0u8; 2 << 20];
    getrandom::fill(&mut data).expect("random bytes");
    env.commit_file(&clone, "blob.bin", &data, "Add a blob");
    env.git_in_ok(
        &clone,
        &only_helper(&helper, &["push", "-q", "origin", "main"]),
    );
    assert_eq!(fake.server_commit_count("main"), 2);
}

#[test]
fn token_faults_answer_as_set_and_are_logged() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let url = fake.token_url();
    let auth = client_basic(&fake);
    let form = [("grant_type", "refresh_token"), ("refresh_token", "rt+1x")];

    fake.set_token_fault(Some(TokenFault::ServerError500));
    let answer_500 = post_form(&url, Some(&auth), &form);
    assert_eq!(answer_500.status, 500);
    fake.set_token_fault(Some(TokenFault::MalformedJson));
    let malformed = post_form(&url, Some(&auth), &form);
    assert_eq!(malformed.status, 200);
    assert!(serde_json::from_str::<Value>(&malformed.body).is_err());
    fake.set_token_fault(Some(TokenFault::Html));
    let html = post_form(&url, Some(&auth), &form);
    assert_eq!(html.status, 200);
    assert!(html.content_type.starts_with("text/html"));

    fake.set_token_fault(Some(TokenFault::Hang(Duration::from_millis(3000))));
    let started = Instant::now();
    let hanging = std::thread::spawn(move || post_form(&url, Some(&auth), &form).status);
    // The hang is logged when it starts, and other requests are served meanwhile.
    while fake.all_token_requests().len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the hang was never logged"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let other = get(&format!("{}/user", fake.api_url()), None);
    assert_eq!(other.status, 401);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "served while the token request hangs"
    );
    assert_eq!(hanging.join().expect("the hanging request"), 504);
    assert!(started.elapsed() >= Duration::from_millis(3000));

    fake.set_token_fault(None);
    let faults: Vec<_> = fake
        .all_token_requests()
        .into_iter()
        .map(|r| (r.fault, r.status))
        .collect();
    assert_eq!(
        faults,
        vec![
            (Some(TokenFault::ServerError500), 500),
            (Some(TokenFault::MalformedJson), 200),
            (Some(TokenFault::Html), 200),
            (Some(TokenFault::Hang(Duration::from_millis(3000))), 504),
        ]
    );
    assert_eq!(
        post_form(&fake.token_url(), Some(&client_basic(&fake)), &form).status,
        400
    );
}

#[test]
fn many_parallel_requests_are_served_concurrently() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let at = str_field(&sign_in(&fake), "access_token").to_string();
    let user_url = format!("{}/user", fake.api_url());
    let refs_url = format!("{}/info/refs?service=git-upload-pack", fake.repo_url());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (at, user_url, refs_url) = (&at, &user_url, &refs_url);
                scope.spawn(move || {
                    if i % 2 == 0 {
                        get(user_url, Some(&bearer(at))).status
                    } else {
                        get(refs_url, Some(&basic("x-token-auth", at))).status
                    }
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().expect("a request thread"), 200);
        }
    });
    assert_eq!(fake.count(&Kind::User), 16);
    assert_eq!(fake.count(&Kind::Git), 16);
}

#[test]
fn issued_secrets_lists_codes_tokens_and_the_client_secret() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let token = sign_in(&fake);
    let rotated = refresh(&fake, str_field(&token, "refresh_token")).json();
    let secrets = fake.issued_secrets();
    for needle in [
        "test-secret",
        str_field(&token, "access_token"),
        str_field(&token, "refresh_token"),
        str_field(&rotated, "access_token"),
        str_field(&rotated, "refresh_token"),
    ] {
        assert!(secrets.iter().any(|s| s == needle), "{needle} missing");
    }
    let code = fake.token_requests("authorization_code")[0]
        .param("code")
        .expect("a code")
        .to_string();
    assert!(secrets.contains(&code));
    assert_eq!(secrets.len(), 6, "{secrets:?}");
    let mut unique = secrets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), secrets.len());
}

/// A stand-in for the helper's loopback listener: answers one GET and
/// returns its URL.
fn one_callback(page: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a listener");
    let port = server.server_addr().to_ip().expect("an IP listener").port();
    let handle = std::thread::spawn(move || {
        let request = server
            .recv_timeout(Duration::from_secs(20))
            .expect("recv")
            .expect("a callback");
        let url = request.url().to_string();
        let response = tiny_http::Response::from_string(page).with_header(
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/html"[..])
                .expect("a header"),
        );
        request.respond(response).expect("answer the browser");
        url
    });
    (format!("http://127.0.0.1:{port}/"), handle)
}

fn run_browser(env: &TestEnv, url: &str) -> std::process::Output {
    let mut cmd = env.command("sh");
    cmd.args([
        "-c",
        &format!("{} {} \"$@\"", python3(), FAKE_BROWSER),
        "sh",
        url,
    ]);
    env.run(cmd, None)
}

#[test]
fn fake_browser_follows_the_redirect_to_the_loopback_listener_and_saves_the_page() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    let (redirect, listener) =
        one_callback("<html><body>Signed in. You may close this page.</body></html>");
    let url = authorize_url(&fake, &[("redirect_uri", &redirect), ("state", "st&te=1")]);
    let out = run_browser(&env, &url);
    assert_success(&out, "fake browser");
    assert!(crate::common::stdout(&out).contains("Opening in existing browser session."));
    let callback = listener.join().expect("the listener");
    let params = query_params(&callback);
    assert_eq!(param(&params, "state"), Some("st&te=1"));
    assert!(param(&params, "code").is_some_and(|c| c.starts_with("code-")));
    assert_eq!(env.browser_opens(), 1);
    assert_eq!(env.browser_urls(), vec![url]);
    let page = env.last_browser_page().expect("a saved page");
    assert!(page.contains("Signed in."), "{page}");
    let log = env.browser_log();
    assert!(
        log.contains("\nauthorize 302 ")
            && log.contains("\ncallback 200 ")
            && log.ends_with("done\n"),
        "{log}"
    );
}

#[test]
fn fake_browser_can_tamper_with_the_state_and_shows_error_pages() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.set_env("FAKE_BROWSER_TAMPER_STATE", "1");
    let (redirect, listener) = one_callback("<html><body>State mismatch.</body></html>");
    let url = authorize_url(&fake, &[("redirect_uri", &redirect), ("state", "original")]);
    assert_success(&run_browser(&env, &url), "fake browser");
    let callback = listener.join().expect("the listener");
    let state = param(&query_params(&callback), "state").map(str::to_string);
    assert!(state.is_some_and(|s| s != "original"), "{callback}");

    let bad = authorize_url(&fake, &[("redirect_uri", "http://localhost:9/")]);
    let started = Instant::now();
    assert_success(&run_browser(&env, &bad), "fake browser on a bad redirect");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(env.browser_opens(), 2);
    assert!(env
        .last_browser_page()
        .is_some_and(|p| p.contains("Invalid redirect_uri")));
}

#[test]
fn test_env_isolates_git_from_the_developers_config_and_terminal() {
    let env = TestEnv::new();
    env.set_config("credential.http://example.invalid.bitbucketKind", "cloud");
    let out = env.git_ok(&["config", "--show-origin", "--list"]);
    let listing = crate::common::stdout(&out);
    for line in listing.lines() {
        let origin = line.split_whitespace().next().unwrap_or("");
        assert!(
            origin == "command" || origin == format!("file:{}", env.gitconfig().display()),
            "config from elsewhere: {line}"
        );
    }
    assert!(listing.contains("bitbucketkind=cloud"), "{listing}");

    let mut cmd = env.command("sh");
    cmd.args(["-c", "echo \"$HOME|$XDG_DATA_HOME|$GIT_TERMINAL_PROMPT|${DISPLAY-unset}|${https_proxy-unset}\"; test -r /dev/tty && exec </dev/tty && echo tty"]);
    let out = env.run(cmd, None);
    let printed = crate::common::stdout(&out);
    let expected = format!(
        "{}|{}|0|unset|unset\n",
        env.home().display(),
        env.xdg_data().display()
    );
    assert_eq!(printed, expected, "no terminal, scrubbed variables");
    assert!(Path::new(&crate::common::env::helper_path()).is_absolute());
    assert_eq!(
        env.data_dir(),
        env.xdg_data().join("git-credential-bitbucket")
    );
}

#[test]
fn test_env_kills_a_command_that_outlives_its_timeout() {
    let env = TestEnv::new();
    env.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut cmd = env.command("sh");
        cmd.args(["-c", "sleep 30 & sleep 30; echo never"]);
        env.run(cmd, None)
    }));
    assert!(result.is_err(), "a timeout panics");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the whole group died: {:?}",
        started.elapsed()
    );
}

#[test]
fn test_env_secret_scan_finds_a_planted_token_and_allows_the_configured_secret() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let env = TestEnv::new();
    env.configure_cloud(&fake);
    let token = sign_in(&fake);
    let at = str_field(&token, "access_token").to_string();
    let secrets = fake.issued_secrets();
    assert!(
        env.leaked_secrets(&secrets).is_empty(),
        "clean to start with"
    );

    std::fs::create_dir_all(env.data_dir()).expect("a store dir");
    std::fs::write(env.data_dir().join("tokens.json"), &at).expect("plant in the store");
    assert!(
        env.leaked_secrets(&secrets).is_empty(),
        "the store may hold tokens"
    );
    assert_eq!(
        env.files_containing(&secrets).len(),
        2,
        "raw scan sees the store and the gitconfig"
    );

    let planted = env.work_dir().join("trace.log");
    std::fs::write(&planted, format!("debug: token={at}\n")).expect("plant a leak");
    assert_eq!(env.leaked_secrets(&secrets), vec![(planted, at.clone())]);

    let mut cmd = env.command("sh");
    cmd.args(["-c", &format!("echo 'leaked {at}' >&2")]);
    env.run(cmd, None);
    assert!(
        env.all_output().contains(&at),
        "the transcript keeps stderr"
    );
}

#[test]
fn api_tokens_work_for_git_as_basic_with_the_owner_or_the_static_name_only() {
    let fake = FakeBitbucket::start(FakeOptions::default());
    let token = fake.mint_api_token("alice");
    let refs = format!("{}/info/refs?service=git-upload-pack", fake.repo_url());
    for (authorization, status) in [
        (basic("alice", &token), 200),
        (basic("x-bitbucket-api-token-auth", &token), 200),
        (basic("bob", &token), 401),
        (basic("x-token-auth", &token), 401),
        (bearer(&token), 401),
    ] {
        let answer = get(&refs, Some(&authorization));
        assert_eq!(answer.status, status, "{authorization}");
    }
    let user = get(&format!("{}/user", fake.api_url()), Some(&bearer(&token)));
    assert_eq!(user.status, 401, "API tokens are not Bearer tokens");
    assert!(fake.issued_secrets().contains(&token));
    fake.revoke_access_tokens();
    assert_eq!(get(&refs, Some(&basic("alice", &token))).status, 401);
}
