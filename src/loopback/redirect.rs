//! What the redirect (or a pasted redirect URL) says: the authorization
//! code, or why the sign-in ends. Pure functions, fuzzed.

use crate::secret::Secret;
use crate::url::parse_query;

/// What ends a sign-in's wait: the authorization code from the callback
/// (or a paste), or why there is none.
pub type Callback = Result<Secret, CallbackError>;

/// Why a callback (or a pasted redirect URL) ends the sign-in. The
/// messages say what happened; the caller adds what to run next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Bitbucket redirected with `error=` and our `state` (the user
    /// denied, or the consumer is misconfigured).
    #[error(
        "Bitbucket refused the sign-in: {error}{}; nothing was saved. If you chose Grant access, \
         check the OAuth consumer's permissions (Account: Read, Repositories: Write)",
        description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Refused {
        /// OAuth error code, e.g. `access_denied`, made printable.
        error: String,
        /// Its description, made printable.
        description: Option<String>,
    },
    /// No `state`, or not ours: whatever else the request says, it did not
    /// come from Bitbucket, so none of it is shown.
    #[error(
        "a request that did not come from Bitbucket reached the sign-in listener (its state was \
         missing or wrong: another program on this machine, or an old or altered redirect), so \
         the sign-in was ended; nothing was exchanged or saved"
    )]
    BadState,
    #[error("the sign-in redirect carried no authorization code; nothing was saved")]
    MissingCode,
    /// The one-time start page was asked for a second time: someone else
    /// may have fetched it first, so the sign-in is not trusted.
    #[error(
        "the one-time sign-in link was opened twice (another program on this machine may have \
         taken it first), so the sign-in was ended to be safe; nothing was exchanged or saved"
    )]
    StartReused,
}

/// Checks a callback query string: the authorization code, or why not.
/// `state` is checked first: without it, nothing else in the request
/// (an `error_description`, say) is trusted or shown.
pub fn parse_callback(query: &str, state: &Secret) -> Result<Secret, CallbackError> {
    let pairs = parse_query(query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    match get("state") {
        Some(s) if state.ct_eq(s) => {}
        _ => return Err(CallbackError::BadState),
    }
    if let Some(error) = get("error") {
        return Err(CallbackError::Refused {
            error: crate::text::printable(error),
            description: get("error_description").map(crate::text::printable),
        });
    }
    match get("code") {
        Some(code) if !code.is_empty() => Ok(Secret::new(code)),
        _ => Err(CallbackError::MissingCode),
    }
}

/// What a pasted line means: a full redirect URL (state checked) or a bare
/// code.
pub fn parse_paste(line: &str, state: &Secret) -> Option<Result<Secret, CallbackError>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if let Some((_, query)) = line.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        return Some(parse_callback(query, state));
    }
    let bare = line
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    bare.then(|| Ok(Secret::new(line)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn callback_outcomes() {
        let state = Secret::new("st4te");
        assert_eq!(
            parse_callback("code=abc&state=st4te", &state).map(|c| c.expose().to_owned()),
            Ok("abc".into())
        );
        assert_eq!(
            parse_callback("code=abc&state=other", &state),
            Err(CallbackError::BadState)
        );
        assert_eq!(
            parse_callback("code=abc", &state),
            Err(CallbackError::BadState)
        );
        assert_eq!(
            parse_callback("state=st4te", &state),
            Err(CallbackError::MissingCode)
        );
        assert!(matches!(
            parse_callback("error=access_denied&error_description=no+way&state=st4te", &state),
            Err(CallbackError::Refused { ref error, .. }) if error == "access_denied"
        ));
    }

    #[test]
    fn an_error_callback_without_our_state_is_not_believed() {
        let state = Secret::new("st4te");
        for query in [
            "error=access_denied&error_description=%1b%5d0%3bpwned%07Call+0800",
            "error=access_denied&error_description=x&state=other",
            "state=&error=server_error",
        ] {
            let err = parse_callback(query, &state).expect_err(query);
            assert_eq!(err, CallbackError::BadState, "{query}");
            assert!(err.to_string().contains("did not come from Bitbucket"));
        }
        // With our state, Bitbucket's words are shown, made printable.
        let err = parse_callback(
            "error=x%1b%5b2J&error_description=a%07b&state=st4te",
            &state,
        )
        .expect_err("refused");
        assert!(!err.to_string().contains(['\x1b', '\x07']), "{err}");
        assert!(err.to_string().contains("x [2J (a b)"), "{err}");
    }

    #[test]
    fn pasted_lines() {
        let state = Secret::new("s");
        let ok = parse_paste("  http://127.0.0.1:5/?code=c1&state=s \n", &state);
        assert_eq!(
            ok.map(|r| r.map(|c| c.expose().to_owned())),
            Some(Ok("c1".into()))
        );
        assert_eq!(
            parse_paste("http://127.0.0.1:5/?code=c1&state=x", &state),
            Some(Err(CallbackError::BadState))
        );
        assert_eq!(
            parse_paste("bare-code_1", &state).map(|r| r.is_ok()),
            Some(true)
        );
        assert_eq!(parse_paste("not a code", &state), None);
        assert_eq!(parse_paste("", &state), None);
    }

    proptest! {
        #[test]
        fn callback_and_paste_parsers_never_panic(s in "\\PC{0,80}", raw in proptest::collection::vec(any::<u8>(), 0..80)) {
            let state = Secret::new("s");
            let _ = parse_callback(&s, &state);
            let _ = parse_paste(&s, &state);
            let lossy = String::from_utf8_lossy(&raw);
            let _ = parse_callback(&lossy, &state);
        }
    }
}
