//! `GitConfig`: every `credential.*` entry, read once, and the lookup of
//! one key for a remote with git's urlmatch rules.

use super::{ConfigError, Remote};
use crate::url::split_host_port;
use std::process::{Command, Stdio};

/// One `credential.*` entry as git config lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The URL subsection, if any (`credential.<url>.key`).
    pub url: Option<String>,
    /// The key, lower case as git prints it.
    pub key: String,
    pub value: String,
}

/// All `credential.*` entries, in git's order (later wins on ties).
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    entries: Vec<Entry>,
}

impl GitConfig {
    /// Reads the `credential.*` keys: in-process when the config files are
    /// plain (no child process, contract.md §8), else through `git config`.
    pub fn load() -> Result<GitConfig, ConfigError> {
        let var = |k: &str| std::env::var(k).ok();
        let cwd = std::env::current_dir().unwrap_or_default();
        match crate::gitconfig::credential_entries(&var, &cwd) {
            Some(pairs) => {
                crate::trace!(
                    "config: read in-process ({} credential entries)",
                    pairs.len()
                );
                Ok(GitConfig::from_pairs(pairs))
            }
            None => {
                crate::trace!("config: asking git (includes or an unusual layout)");
                GitConfig::load_with_git()
            }
        }
    }

    /// Runs `git config -z --get-regexp ^credential\.` once (contract.md §3).
    pub fn load_with_git() -> Result<GitConfig, ConfigError> {
        let out = Command::new("git")
            .args(["config", "-z", "--get-regexp", r"^credential\."])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ConfigError::GitConfig(format!("could not run git: {e}")))?;
        match out.status.code() {
            Some(0) => Ok(GitConfig::parse(&String::from_utf8_lossy(&out.stdout))),
            // 1: no such key at all.
            Some(1) => Ok(GitConfig::default()),
            _ => Err(ConfigError::GitConfig(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )),
        }
    }

    /// Parses `-z` output: `name\nvalue\0` per entry (`name\0` without a
    /// value for a bare boolean key).
    pub fn parse(text: &str) -> GitConfig {
        GitConfig::from_pairs(text.split('\0').filter(|s| !s.is_empty()).map(|item| {
            let (name, value) = item.split_once('\n').unwrap_or((item, "true"));
            (name.to_owned(), value.to_owned())
        }))
    }

    /// Builds from (`credential.<url>.<key>`, value) pairs in git's order.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> GitConfig {
        let mut entries = Vec::new();
        for (name, value) in pairs {
            let Some(rest) = name.strip_prefix("credential.") else {
                continue;
            };
            let (url, key) = match rest.rsplit_once('.') {
                Some((url, key)) => (Some(url.to_owned()), key),
                None => (None, rest),
            };
            entries.push(Entry {
                url,
                key: key.to_ascii_lowercase(),
                value,
            });
        }
        GitConfig { entries }
    }

    /// The best value for `key` (in any case, as git compares keys) among URL-scoped entries that
    /// match `remote`, with git's urlmatch precedence: longer host pattern,
    /// then longer path, then a user match; later entries win ties.
    pub fn scoped(&self, remote: &Remote, key: &str) -> Option<&str> {
        let mut best: Option<((usize, usize, bool), &str)> = None;
        for e in self
            .entries
            .iter()
            .filter(|e| e.key.eq_ignore_ascii_case(key))
        {
            let Some(url) = &e.url else { continue };
            if let Some(score) = url_match(url, remote) {
                if best.is_none_or(|(b, _)| score >= b) {
                    best = Some((score, &e.value));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// The last value of `credential.KEY` without a URL.
    pub fn global(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.url.is_none() && e.key.eq_ignore_ascii_case(key))
            .map(|e| e.value.as_str())
    }

    /// Every entry, in git's order (for `status` and `doctor`).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Scoped, else global.
    pub fn get(&self, remote: &Remote, key: &str) -> Option<&str> {
        self.scoped(remote, key).or_else(|| self.global(key))
    }
}

/// Matches a config URL pattern against the remote the way git's urlmatch
/// does (bitbucket-facts.md C.7); returns the precedence score, or `None`.
pub(crate) fn url_match(pattern: &str, remote: &Remote) -> Option<(usize, usize, bool)> {
    let (scheme, rest) = match pattern.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, pattern),
    };
    if let Some(s) = &scheme {
        if *s != remote.protocol {
            return None;
        }
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(crate::url::decode(u)), h),
        None => (None, authority),
    };
    let (p_host, p_port) = split_host_port(hostport)?;
    let (r_host, r_port) = split_host_port(&remote.host)?;
    let default = |port: Option<u16>| {
        port.or(match remote.protocol.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        })
    };
    if default(p_port) != default(r_port) {
        return None;
    }
    let p_labels: Vec<&str> = p_host.split('.').collect();
    let r_labels: Vec<&str> = r_host.split('.').collect();
    if p_labels.len() != r_labels.len()
        || !p_labels
            .iter()
            .zip(&r_labels)
            .all(|(p, r)| *p == "*" || p == r)
    {
        return None;
    }
    let user_matched = match &user {
        Some(u) => {
            if remote.username.as_deref() != Some(u.as_str()) {
                return None;
            }
            true
        }
        None => false,
    };
    let p_path = path.trim_matches('/');
    if !p_path.is_empty() {
        let r_path = remote.path.as_deref().unwrap_or("").trim_matches('/');
        let ok = r_path == p_path
            || (r_path.starts_with(p_path) && r_path.as_bytes().get(p_path.len()) == Some(&b'/'));
        if !ok {
            return None;
        }
    }
    Some((hostport.len(), p_path.len(), user_matched))
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn scoped_keys_follow_git_urlmatch_rules() {
        let git = cfg(&[
            ("credential.https://bitbucket.org.bitbucketclientid", "host"),
            (
                "credential.https://bitbucket.org/ws.bitbucketclientid",
                "path",
            ),
            ("credential.https://*.example.com.bitbucketclientid", "wild"),
            ("credential.http://127.0.0.1:8080.bitbucketclientid", "port"),
        ]);
        let mut r = remote("https", "bitbucket.org");
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("host"));
        r.path = Some("ws/repo.git".into());
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("path"));
        r.path = Some("wsx/repo.git".into());
        assert_eq!(git.scoped(&r, "bitbucketclientid"), Some("host"));
        assert_eq!(
            git.scoped(&remote("https", "a.example.com"), "bitbucketclientid"),
            Some("wild")
        );
        assert_eq!(
            git.scoped(&remote("https", "a.b.example.com"), "bitbucketclientid"),
            None
        );
        assert_eq!(
            git.scoped(&remote("http", "127.0.0.1:8080"), "bitbucketclientid"),
            Some("port")
        );
        assert_eq!(
            git.scoped(&remote("http", "127.0.0.1:8081"), "bitbucketclientid"),
            None
        );
        assert_eq!(
            git.scoped(&remote("https", "bitbucket.org:443"), "bitbucketclientid"),
            Some("host")
        );
        assert_eq!(
            git.scoped(&remote("http", "bitbucket.org"), "bitbucketclientid"),
            None
        );
    }
}
