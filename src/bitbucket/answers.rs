//! Reading Bitbucket's JSON answers: the token endpoint's grant and Cloud's
//! `/2.0/user`, as forgiving as is safe (bitbucket-facts.md A.4, 2026 changes).

use super::Account;
use crate::secret::Secret;
use crate::text::printable;
use serde::Deserialize;

/// Tokens from a successful grant.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, when one was issued (rotated on every refresh).
    pub refresh_token: Option<Secret>,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space separated.
    pub scopes: String,
}

/// What a lifetime defaults to when the answer has none we can use:
/// Data Center's one hour, the shortest either side uses, so we refresh
/// early rather than late.
const DEFAULT_LIFETIME: u64 = 3600;

/// The longest lifetime we believe: a year keeps every time sum far from
/// overflow and still outlives any real access token.
const MAX_LIFETIME: u64 = 365 * 86_400;

/// Why a token answer cannot be used.
#[doc(hidden)]
#[derive(Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not JSON, or JSON that is not an object.
    NotJson,
    /// No usable `access_token`.
    NoAccessToken,
    /// A token git's credential protocol cannot carry.
    Unprintable(&'static str),
}

/// Reads a 200 answer of the token endpoint, as forgiving as is safe.
///
/// By the time this answer arrives the server may already have rotated the
/// refresh token, so throwing the answer away can cost the sign-in: a
/// lifetime we cannot read falls back to a default, unknown fields are
/// ignored, a repeated key counts by its last value, and bytes after the
/// first JSON object are ignored. What cannot be forgiven is a missing
/// access token, or a token git could never be handed.
#[doc(hidden)]
pub fn parse_token_answer(body: &[u8]) -> Result<TokenSet, BadAnswer> {
    let first = serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next();
    let Some(Ok(serde_json::Value::Object(json))) = first else {
        return Err(BadAnswer::NotJson);
    };
    let text = |key: &str| json.get(key).and_then(serde_json::Value::as_str);
    let access_token = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or(BadAnswer::NoAccessToken)?;
    check_token(access_token, "access token")?;
    // A refresh token of the wrong type counts as absent (the old one is
    // kept), but a string must be one git's protocol could carry later.
    let refresh_token = text("refresh_token").filter(|t| !t.is_empty());
    if let Some(t) = refresh_token {
        check_token(t, "refresh token")?;
    }
    // Cloud said `scopes` until 2026 and `scope` after (bitbucket-facts.md A.4).
    let scopes = ["scope", "scopes"]
        .iter()
        .filter_map(|k| json.get(*k))
        .find_map(scope_text)
        .unwrap_or_default();
    Ok(TokenSet {
        access_token: Secret::new(access_token.to_owned()),
        refresh_token: refresh_token.map(|t| Secret::new(t.to_owned())),
        expires_in: json.get("expires_in").map_or(DEFAULT_LIFETIME, lifetime),
        scopes,
    })
}

/// `expires_in` as the server wrote it: a whole number, a fraction or a
/// numeric string. Zero, negative or unreadable: the default; huge: a year.
fn lifetime(v: &serde_json::Value) -> u64 {
    let seconds = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds {
        Some(s) if s.is_finite() && s >= 1.0 => (s.min(MAX_LIFETIME as f64)) as u64,
        _ => DEFAULT_LIFETIME,
    }
}

/// Scopes as a space-separated string or a list of strings.
fn scope_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(printable_scopes(s)),
        serde_json::Value::Array(list) => Some(printable_scopes(
            &list
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        _ => None,
    }
}

/// Scopes are shown by `status`: nothing `text::plain` would replace
/// (control, format, separator characters), single spaces.
fn printable_scopes(s: &str) -> String {
    crate::text::plain(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// git's credential protocol is line based and NUL-terminated: a token
/// holding a line break, CR, NUL or any other control character could be
/// stored but never handed to git.
fn check_token(token: &str, what: &'static str) -> Result<(), BadAnswer> {
    if token.chars().any(char::is_control) {
        return Err(BadAnswer::Unprintable(what));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct ErrorJson {
    pub(super) error: String,
    #[serde(default)]
    pub(super) error_description: Option<String>,
}

/// Cloud's `GET /2.0/user`, as far as we use it. Since 2026 it may come
/// without `username` (bitbucket-facts.md, 2026 changes).
#[derive(Deserialize)]
struct UserJson {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

impl UserJson {
    /// The account: keyed by its username, or where the server sent none,
    /// by its `uuid` (else `account_id`), with the nickname kept so that
    /// people see a name and git's `user@` can still find the record.
    fn into_account(self) -> Option<Account> {
        let clean = |v: Option<String>| {
            v.map(|s| printable(s.trim()))
                .filter(|s| !s.trim().is_empty())
        };
        let (username, uuid, account_id) = (
            clean(self.username),
            clean(self.uuid),
            clean(self.account_id),
        );
        let display_name = clean(self.display_name);
        match username {
            Some(username) => Some(Account {
                username,
                uuid,
                display_name,
                nickname: None,
            }),
            None => Some(Account {
                username: uuid.clone().or(account_id)?,
                uuid,
                display_name,
                nickname: clean(self.nickname),
            }),
        }
    }
}

/// The account in Cloud's `/2.0/user` answer, or what is wrong with it.
/// Public for the fuzz target `user_json`.
#[doc(hidden)]
pub fn parse_user_answer(body: &[u8]) -> Result<Account, &'static str> {
    // Read as a value first: a repeated key then counts by its last
    // value instead of failing, and bytes after the object are ignored.
    let user = serde_json::Deserializer::from_slice(body)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .and_then(|v| serde_json::from_value::<UserJson>(v).ok())
        .ok_or("not a user object")?;
    user.into_account()
        .ok_or("the user object has no username, uuid or account_id")
}

#[cfg(test)]
mod tests {
    use super::super::account_label;
    use super::*;

    fn answer(body: &str) -> Result<TokenSet, BadAnswer> {
        parse_token_answer(body.as_bytes())
    }

    #[test]
    fn odd_but_valid_token_answers_keep_the_tokens() {
        let lifetime = |expires: &str| {
            let body = format!(
                r#"{{"access_token":"a","refresh_token":"r","expires_in":{expires},"scope":"x"}}"#
            );
            let t = answer(&body).unwrap_or_else(|e| panic!("{expires}: {e:?}"));
            assert_eq!(t.refresh_token.as_ref().map(Secret::expose), Some("r"));
            t.expires_in
        };
        assert_eq!(lifetime("7200"), 7200);
        assert_eq!(lifetime("3600.5"), 3600);
        assert_eq!(lifetime(r#""3600""#), 3600);
        assert_eq!(lifetime("-5"), DEFAULT_LIFETIME);
        assert_eq!(lifetime("0"), DEFAULT_LIFETIME);
        assert_eq!(lifetime("1e30"), MAX_LIFETIME);
        assert_eq!(lifetime("18446744073709551616"), MAX_LIFETIME);
        assert_eq!(lifetime("null"), DEFAULT_LIFETIME);
        assert_eq!(lifetime(r#""soon""#), DEFAULT_LIFETIME);
        assert_eq!(lifetime("{}"), DEFAULT_LIFETIME);

        // A repeated key counts by its last value; bytes after the object
        // and unknown fields are ignored; `scope` or `scopes`.
        let t = answer(
            r#"{"access_token":"old","access_token":"new","refresh_token":"r","scopes":"a b",
               "token_type":"bearer","state":"refresh_token","extra":{"x":[1]}} trailing <html>"#,
        )
        .expect("usable");
        assert_eq!(t.access_token.expose(), "new");
        assert_eq!(t.scopes, "a b");
        assert_eq!(t.expires_in, DEFAULT_LIFETIME);
        let t = answer(r#"{"access_token":"a","scope":["repository", "account"]}"#).expect("ok");
        assert_eq!(t.scopes, "repository account");
        assert!(t.refresh_token.is_none());
        let t = answer(r#"{"access_token":"a","refresh_token":"","scope":"x\u001b[31m y"}"#)
            .expect("ok");
        assert!(t.refresh_token.is_none(), "empty: the old one is kept");
        assert_eq!(t.scopes, "x [31m y");
    }

    #[test]
    fn token_answers_without_a_usable_access_token_are_refused() {
        assert_eq!(answer("").err(), Some(BadAnswer::NotJson));
        assert_eq!(
            answer("{\"access_token\": \"at-trunc").err(),
            Some(BadAnswer::NotJson)
        );
        assert_eq!(answer("<html></html>").err(), Some(BadAnswer::NotJson));
        assert_eq!(
            answer(r#"["access_token"]"#).err(),
            Some(BadAnswer::NotJson)
        );
        assert_eq!(
            answer(r#"{"refresh_token":"r"}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
        assert_eq!(
            answer(r#"{"access_token":""}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
        assert_eq!(
            answer(r#"{"access_token":42}"#).err(),
            Some(BadAnswer::NoAccessToken)
        );
    }

    #[test]
    fn tokens_git_cannot_carry_are_refused() {
        for bad in [r"a\nb", r"a\r", r"\u0000a", r"a\tb", r"\u007f"] {
            let body = format!(r#"{{"access_token":"{bad}","refresh_token":"r"}}"#);
            assert_eq!(
                answer(&body).err(),
                Some(BadAnswer::Unprintable("access token")),
                "{bad}"
            );
            let body = format!(r#"{{"access_token":"a","refresh_token":"{bad}"}}"#);
            assert_eq!(
                answer(&body).err(),
                Some(BadAnswer::Unprintable("refresh token")),
                "{bad}"
            );
        }
        let long = "x".repeat(6000);
        let body = format!(r#"{{"access_token":"{long}","refresh_token":"{long}"}}"#);
        assert_eq!(
            answer(&body)
                .expect("long tokens are fine")
                .access_token
                .expose()
                .len(),
            6000
        );
    }

    fn user(body: &str) -> Option<Account> {
        let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
        serde_json::from_value::<UserJson>(v).ok()?.into_account()
    }

    #[test]
    fn a_user_object_without_username_is_known_by_its_uuid() {
        let a =
            user(r#"{"username":"alice","uuid":"{u-1}","display_name":"Alice A","nickname":"al"}"#)
                .expect("account");
        assert_eq!(a.username, "alice");
        assert_eq!(a.nickname, None);
        assert_eq!(account_label(&a), "alice");
        let a = user(
            r#"{"uuid":"{u-1}","account_id":"557058:1","display_name":"Alice A","nickname":"al"}"#,
        )
        .expect("account");
        assert_eq!(a.username, "{u-1}");
        assert_eq!(a.nickname.as_deref(), Some("al"));
        assert_eq!(account_label(&a), "al");
        let a = user(r#"{"account_id":"557058:1","display_name":"Alice A"}"#).expect("account");
        assert_eq!(a.username, "557058:1");
        let a = user(r#"{"uuid":"{u-1}","display_name":"Alice A","username":null}"#).expect("ok");
        assert_eq!(account_label(&a), "Alice A");
        assert_eq!(user(r#"{"display_name":"Nobody"}"#), None);
        assert_eq!(user(r#"{"username":"","uuid":""}"#), None);
    }
}
