//! The gitconfig reader: any text either parses to `credential.*` entries
//! or is refused (`None`, so the caller asks git); it never panics.
#![no_main]

use git_credential_bitbucket::fuzzing::parse_gitconfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(entries) = parse_gitconfig(text) {
        for (key, _) in entries {
            assert!(key.starts_with("credential."), "{key:?}");
        }
    }
});
