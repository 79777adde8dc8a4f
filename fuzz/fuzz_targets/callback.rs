//! The sign-in redirect: the loopback callback's query and a pasted line.
//! A code comes out only with our `state`, and never empty.
#![no_main]

use git_credential_bitbucket::fuzzing::{parse_callback, parse_paste, parse_query, Secret};
use libfuzzer_sys::fuzz_target;

const STATE: &str = "Zm9vYmFyc3RhdGU";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let state = Secret::new(STATE);
    if let Ok(code) = parse_callback(text, &state) {
        assert!(!code.expose().is_empty());
        let pairs = parse_query(text);
        let first_state = pairs.iter().find(|(k, _)| k == "state").map(|(_, v)| v);
        assert_eq!(first_state.map(String::as_str), Some(STATE), "{text:?}");
    }
    match parse_paste(text, &state) {
        Some(Ok(code)) => assert!(!code.expose().is_empty()),
        Some(Err(_)) | None => {}
    }
});
