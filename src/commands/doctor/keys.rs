//! `doctor`'s key check: `bitbucket*` keys this helper does not know (a
//! misspelling is ignored by `get`, silently), and consumer secrets kept in
//! a gitconfig file, each named with the file it is set in. Both are
//! warnings: git works regardless, and where a misspelling breaks it (a
//! secret under a wrong name), the check that fails (the consumer secret)
//! stands beside this line naming the key.

use super::{check, Check, Level};
use crate::config::{self, Entry, Key};
use crate::gitconfig::Origin;
use crate::human::closest;
use crate::text::NAME;

/// Where an entry is set, and the `git config` option that edits it there.
fn place(e: &Entry) -> (String, String) {
    match &e.origin {
        Some(Origin::File(f)) => {
            let f = f.to_string_lossy();
            (f.to_string(), format!("--file {}", shell_word(&f)))
        }
        Some(other) => (other.to_string(), "--global".into()),
        None => ("git config".into(), "--global".into()),
    }
}

/// Misspelled and unknown `bitbucket*` keys, and consumer secrets kept in
/// a gitconfig file.
pub(super) fn checks(entries: &[Entry]) -> Vec<Check> {
    let known: Vec<&str> = config::known_keys().collect();
    let mut checks = Vec::new();
    for e in entries {
        if !e.key.starts_with("bitbucket") {
            continue;
        }
        let (file, scope) = place(e);
        let prefix = match &e.url {
            Some(u) => format!("credential.{u}."),
            None => "credential.".into(),
        };
        let name = e.name();
        match Key::from_name(&e.key) {
            Some(Key::ClientSecret) => {
                let target = e.url.as_deref().unwrap_or("https://bitbucket.org");
                checks.push(
                    check(
                        None,
                        "keys",
                        Level::Warn,
                        format!(
                            "the consumer secret is in {file} ({prefix}bitbucketClientSecret); \
                             gitconfig files are often readable by others"
                        ),
                    )
                    .fix(format!(
                        "git credential-bitbucket configure {target} --move-secret {scope} \
                         (moves it into the token store)"
                    )),
                );
            }
            Some(_) => {}
            None => {
                let near = closest(&e.key, &known, 3);
                let hint = near
                    .map(|k| format!("; did you mean {k}?"))
                    .unwrap_or_default();
                let right = near.unwrap_or("<the right key>");
                checks.push(
                    check(
                        None,
                        "keys",
                        Level::Warn,
                        format!(
                            "{name} in {file} is not a key {NAME} knows, so it is ignored{hint}"
                        ),
                    )
                    .fix(format!(
                        "`git config {scope} --unset '{name}'`, then `git config {scope} \
                         '{prefix}{right}' <value>`"
                    )),
                );
            }
        }
    }
    if checks.is_empty() {
        checks.push(check(
            None,
            "keys",
            Level::Ok,
            "every bitbucket* key is known, and no consumer secret is in a gitconfig file".into(),
        ));
    }
    checks
}

fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GitConfig;

    fn entry(name: &str, value: &str) -> Entry {
        let mut e =
            GitConfig::from_pairs([(name.to_owned(), value.to_owned())]).entries()[0].clone();
        e.origin = Some(Origin::File("/home/a/.gitconfig".into()));
        e
    }

    #[test]
    fn a_misspelled_key_is_named_with_its_file_and_the_right_spelling() {
        let checks = checks(&[entry(
            "credential.https://bitbucket.org.bitbucketstor",
            "file",
        )]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Warn);
        assert!(
            checks[0].message.contains("did you mean bitbucketStore"),
            "{:?}",
            checks[0]
        );
        assert!(
            checks[0].message.contains("/home/a/.gitconfig"),
            "{:?}",
            checks[0]
        );
    }

    #[test]
    fn a_secret_in_gitconfig_is_a_failure_that_never_shows_the_value() {
        let checks = checks(&[entry(
            "credential.https://bitbucket.org.bitbucketclientsecret",
            "hush",
        )]);
        assert_eq!(checks[0].level, Level::Warn);
        let text = format!("{} {:?}", checks[0].message, checks[0].fix);
        assert!(
            text.contains("--move-secret") && !text.contains("hush"),
            "{text}"
        );
    }
}
