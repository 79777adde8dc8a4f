//! Git Credential Manager beside us: whether git's host-wide helper is GCM
//! (Git for Windows' default), and the lines `configure`, `doctor` and
//! `install` say about it (docs/from-gcm.md).
//!
//! Nothing here changes GCM's config: our empty `credential.<url>.helper=`
//! entry already takes the Bitbucket host away from it (contract.md §3),
//! and every other host stays GCM's.

use crate::config::GitConfig;

/// A `credential.helper` without a URL that runs Git Credential Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gcm {
    /// The helper value as configured (`manager`, a path to
    /// `git-credential-manager.exe`, …), made printable.
    pub value: String,
}

/// The names git resolves to GCM: `manager` and `manager-core` (git runs
/// `git-credential-<name>`), and the programs themselves when a path is
/// configured (GCM's own `configure` on Linux and macOS writes one).
const GCM_NAMES: &[&str] = &[
    "manager",
    "manager-core",
    "credential-manager",
    "credential-manager-core",
    "git-credential-manager",
    "git-credential-manager-core",
];

/// Whether the helper `value` runs Git Credential Manager: its last path
/// component (quotes and `.exe` dropped, any case) is one of GCM's names.
pub fn is_gcm(value: &str) -> bool {
    let v = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let last = v.rsplit(['/', '\\']).next().unwrap_or(v);
    let last = last.to_ascii_lowercase();
    let last = last.strip_suffix(".exe").unwrap_or(&last);
    GCM_NAMES.contains(&last)
}

/// The GCM helper in git's host-wide list (`credential.helper` without a
/// URL, from the system, global or repository file), if the list still
/// holds one after git's resets.
pub fn find(git: &GitConfig) -> Option<Gcm> {
    let mut found = None;
    for e in git.entries() {
        if e.url.is_some() || e.key != "helper" {
            continue;
        }
        if e.value.is_empty() {
            found = None;
        } else if is_gcm(&e.value) {
            found = Some(Gcm {
                value: crate::text::printable(&e.value),
            });
        }
    }
    found
}

/// For `configure` and `install`: when git's host-wide helper is GCM, say
/// what happens to `base` (on `host`) now, in two lines on stderr.
pub fn say_what_happens(base: &str, host: &str) {
    if let Some(gcm) = GitConfig::load().ok().as_ref().and_then(find) {
        for line in gcm.what_happens(base, host) {
            crate::say!("{line}");
        }
    }
}

impl Gcm {
    /// What happens now, in two lines: for `remote` git asks only us and
    /// GCM keeps every other host; GCM's old Bitbucket entries are no
    /// longer used, and how to remove them (GCM's own command first).
    pub fn what_happens(&self, base: &str, host: &str) -> [String; 2] {
        [
            format!(
                "Git Credential Manager (credential.helper={value}) stays git's helper for \
                 other hosts; for {base}, `configure` makes git ask only {name} (its empty \
                 `helper =` entry for that URL resets the list)",
                value = self.value,
                name = crate::text::NAME,
            ),
            format!(
                "GCM's old entries for {host} in Credential Manager are no longer used; to \
                 remove them: {}",
                Gcm::cleanup(host)
            ),
        ]
    }

    /// How to remove GCM's old entries for `host`: GCM's own command
    /// first, then Windows' Credential Manager by hand.
    pub fn cleanup(host: &str) -> String {
        format!(
            "printf 'protocol=https\\nhost={host}\\n\\n' | git credential-manager erase \
             (or delete the git:https://{host} entries in Control Panel > Credential Manager \
             > Windows Credentials)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> GitConfig {
        GitConfig::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn gcm_is_known_by_every_name_git_for_windows_and_gcm_write() {
        for v in [
            "manager",
            "manager-core",
            "credential-manager",
            "Manager",
            "C:/Program Files/Git/mingw64/bin/git-credential-manager.exe",
            r#""C:\Program Files\Git\mingw64\libexec\git-core\git-credential-manager-core.EXE""#,
            "/usr/local/bin/git-credential-manager",
        ] {
            assert!(is_gcm(v), "{v}");
        }
        for v in [
            "",
            "store",
            "wincred",
            "bitbucket",
            "/usr/bin/git-credential-bitbucket",
            "manager-helper",
            "osxkeychain",
        ] {
            assert!(!is_gcm(v), "{v}");
        }
    }

    #[test]
    fn gcm_counts_only_as_the_host_wide_helper_and_an_empty_entry_resets_it() {
        let system = config(&[("credential.helper", "manager")]);
        assert_eq!(
            find(&system),
            Some(Gcm {
                value: "manager".into()
            })
        );
        let reset = config(&[("credential.helper", "manager"), ("credential.helper", "")]);
        assert_eq!(find(&reset), None);
        let scoped_only = config(&[
            ("credential.https://dev.azure.com.helper", "manager"),
            ("credential.helper", "store"),
        ]);
        assert_eq!(find(&scoped_only), None);
        let ours_too = config(&[
            ("credential.helper", "manager-core"),
            ("credential.https://bitbucket.org.helper", ""),
            (
                "credential.https://bitbucket.org.helper",
                "/x/git-credential-bitbucket",
            ),
        ]);
        assert_eq!(
            find(&ours_too).map(|g| g.value),
            Some("manager-core".into())
        );
    }

    #[test]
    fn the_notice_says_what_happens_in_one_or_two_lines() {
        let g = Gcm {
            value: "manager".into(),
        };
        let lines = g.what_happens("https://bitbucket.org", "bitbucket.org");
        let text = lines.join("\n");
        for needle in [
            "credential.helper=manager",
            "other hosts",
            "for https://bitbucket.org, `configure` makes git ask only git-credential-bitbucket",
            "no longer used",
            "git credential-manager erase",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(lines.iter().all(|l| !l.contains('\n')));
        assert!(Gcm::cleanup("bitbucket.org").starts_with("printf 'protocol=https"));
    }
}
