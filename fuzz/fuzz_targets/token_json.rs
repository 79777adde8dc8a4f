//! The token endpoint's 200 answer: tokens or a clear refusal, no panic.
#![no_main]

use git_credential_bitbucket::fuzzing::parse_token_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tokens) = parse_token_answer(data) {
        assert!(!tokens.access_token.expose().is_empty());
        if let Some(refresh) = &tokens.refresh_token {
            assert!(!refresh.expose().is_empty());
        }
    }
});
