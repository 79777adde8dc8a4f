//! git's credential input: `Request::read_from` never panics, and whatever
//! it accepts is written back by `encode` and read again unchanged.
#![no_main]

use git_credential_bitbucket::fuzzing::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = Request::read_from(data) else {
        return;
    };
    // Parsed values never hold a line break or NUL, so they always encode.
    let mut written = Vec::new();
    request
        .encode(&mut written)
        .expect("a parsed request encodes");
    let again = Request::read_from(&written[..]).expect("our own encoding parses");
    assert_eq!(again, request, "write then parse changed the request");
    let mut rewritten = Vec::new();
    again.encode(&mut rewritten).expect("encodes");
    assert_eq!(rewritten, written, "the encoding is stable");
});
