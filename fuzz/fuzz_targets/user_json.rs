//! Cloud's `/2.0/user` answer: an account with a name, or a refusal.
#![no_main]

use git_credential_bitbucket::fuzzing::parse_user_answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(account) = parse_user_answer(data) {
        assert!(!account.username.is_empty());
    }
});
