//! The file store's `tokens.json`: records or a parse error, no panic; the
//! records it accepts survive being written and read back.
#![no_main]

use git_credential_bitbucket::fuzzing::parse_document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = parse_document(data) else {
        return;
    };
    let written = serde_json::to_vec(&serde_json::json!({ "version": 1, "records": records }))
        .expect("records serialize");
    let back = parse_document(&written).expect("our own document parses");
    assert_eq!(back, records);
});
