//! `doctor`'s helper check: git calls every helper that applies to a URL,
//! in order, an empty value resetting the list; any other helper left
//! beside us would be handed our tokens to keep.

use super::{check, Check, Level};
use crate::config::{Entry, Remote};
use crate::text::NAME;

/// Whether a helper value runs this program.
fn is_us(value: &str) -> bool {
    let first = value.split_whitespace().next().unwrap_or("");
    let base = first.rsplit(['/', '\\']).next().unwrap_or(first);
    first == "bitbucket" || base.starts_with(NAME)
}

/// The `helper` entries in git's order, each with the base URL it is
/// scoped to (`None`: every URL), parsed once for all hosts.
pub(super) struct Helpers<'a>(Vec<(Option<String>, &'a Entry)>);

impl<'a> Helpers<'a> {
    pub(super) fn new(entries: &'a [Entry]) -> Helpers<'a> {
        Helpers(
            entries
                .iter()
                .filter(|e| e.key == "helper")
                .filter_map(|e| match &e.url {
                    None => Some((None, e)),
                    Some(u) => Remote::from_url(u).map(|r| (Some(r.base_url()), e)),
                })
                .collect(),
        )
    }
}

/// Whether git calls us for `base`, and no other helper beside us.
pub(super) fn checks(helpers: &Helpers, base: &str) -> Vec<Check> {
    let mut active: Vec<&Entry> = Vec::new();
    for (scope, e) in &helpers.0 {
        if scope.as_deref().is_some_and(|s| s != base) {
            continue;
        }
        if e.value.is_empty() {
            active.clear();
        } else {
            active.push(e);
        }
    }
    let fix = format!("git credential-bitbucket configure {base}");
    if !active.iter().any(|e| is_us(&e.value)) {
        return vec![check(
            Some(base),
            "helpers",
            Level::Fail,
            format!("git does not call {NAME} for {base}"),
        )
        .fix(fix)];
    }
    // Git Credential Manager (Windows) is one of these others; what to do
    // about it is said here.
    let others: Vec<Check> = active
        .iter()
        .filter(|e| !is_us(&e.value))
        .map(|e| {
            let file = e
                .origin
                .as_ref()
                .map_or_else(|| "git config".to_owned(), ToString::to_string);
            check(
                Some(base),
                "helpers",
                Level::Fail,
                format!(
                    "`{}={}` ({file}) also applies to {base}: git would give it the Bitbucket \
                     tokens to keep",
                    e.name(),
                    e.value
                ),
            )
            .fix(format!(
                "remove it, or scope it to other hosts; `{fix}` puts an empty helper entry first"
            ))
        })
        .collect();
    if others.is_empty() {
        vec![check(
            Some(base),
            "helpers",
            Level::Ok,
            format!("git calls only {NAME} for {base}"),
        )]
    } else {
        others
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GitConfig;

    fn git(lines: &[(&str, &str)]) -> GitConfig {
        GitConfig::from_pairs(lines.iter().map(|(k, v)| ((*k).into(), (*v).into())))
    }

    #[test]
    fn helpers_after_ours_or_without_a_reset_are_reported() {
        let base = "https://bitbucket.org";
        let ok = git(&[
            ("credential.helper", "store"),
            ("credential.https://bitbucket.org.helper", ""),
            (
                "credential.https://bitbucket.org.helper",
                "/usr/bin/git-credential-bitbucket",
            ),
        ]);
        assert!(checks(&Helpers::new(ok.entries()), base)
            .iter()
            .all(|c| c.level == Level::Ok));
        let late = git(&[
            ("credential.https://bitbucket.org.helper", ""),
            (
                "credential.https://bitbucket.org.helper",
                "/usr/bin/git-credential-bitbucket",
            ),
            ("credential.helper", "store"),
        ]);
        let found = checks(&Helpers::new(late.entries()), base);
        assert!(found
            .iter()
            .any(|c| c.level == Level::Fail && c.message.contains("store")));
        let absent = git(&[("credential.helper", "store")]);
        assert!(checks(&Helpers::new(absent.entries()), base)[0]
            .message
            .contains("does not call"));
    }
}
