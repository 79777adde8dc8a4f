//! `GitConfig`: every `credential.*` entry, read once, with the file it
//! came from, and the lookup of one key for a remote with git's urlmatch
//! rules. The entries are indexed by key and host, so looking up one
//! host's keys does not read every other host's section: `status` and
//! `doctor` over thousands of sections stay linear.

use super::{ConfigError, Remote};
use crate::gitconfig::Origin;
use crate::url::{split_host_port, Scheme};
use std::collections::HashMap;
use std::process::{Command, Output, Stdio};

/// One `credential.*` entry as git config lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The URL subsection, if any (`credential.<url>.key`).
    pub url: Option<String>,
    /// The key, lower case as git prints it.
    pub key: String,
    pub value: String,
    /// Where it was set, when known.
    pub origin: Option<Origin>,
}

impl Entry {
    /// `credential.<url>.<key>`, as git names it.
    pub fn name(&self) -> String {
        match &self.url {
            Some(u) => format!("credential.{u}.{}", self.key),
            None => format!("credential.{}", self.key),
        }
    }
}

/// All `credential.*` entries, in git's order (later wins on ties).
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    entries: Vec<Entry>,
    /// (key, the URL pattern's host) → indices of URL-scoped entries, in
    /// order; a host with a `*` label is filed under `*`.
    scoped: HashMap<(String, String), Vec<usize>>,
    /// key → index of the last entry without a URL.
    global: HashMap<String, usize>,
}

impl GitConfig {
    /// Reads the `credential.*` keys: in-process when the config files are
    /// plain (no child process, contract.md §8), else through `git config`.
    pub fn load() -> Result<GitConfig, ConfigError> {
        let var = |k: &str| std::env::var(k).ok();
        let cwd = std::env::current_dir().unwrap_or_default();
        match crate::gitconfig::credential_entries_with_origin(&var, &cwd) {
            Some(pairs) => {
                crate::trace!(
                    "config: read in-process ({} credential entries)",
                    pairs.len()
                );
                Ok(GitConfig::from_entries(
                    pairs.into_iter().map(|((n, v), o)| (n, v, Some(o))),
                ))
            }
            None => {
                crate::trace!("config: asking git (includes or an unusual layout)");
                GitConfig::load_with_git()
            }
        }
    }

    /// Runs `git config -z --show-origin --get-regexp ^credential\.` once
    /// (contract.md §3).
    pub fn load_with_git() -> Result<GitConfig, ConfigError> {
        let out = run_git(&[
            "config",
            "-z",
            "--show-origin",
            "--get-regexp",
            r"^credential\.",
        ])
        .map_err(|e| ConfigError::GitConfig(format!("could not run git: {e}")))?;
        match out.status.code() {
            Some(0) => Ok(GitConfig::parse_with_origin(&String::from_utf8_lossy(
                &out.stdout,
            ))),
            // 1: no such key at all.
            Some(1) => Ok(GitConfig::default()),
            _ => Err(ConfigError::GitConfig(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )),
        }
    }

    /// Parses `-z` output: `name\nvalue\0` per entry (`name\0` without a
    /// value for a bare boolean key).
    #[cfg(test)]
    pub fn parse(text: &str) -> GitConfig {
        GitConfig::from_pairs(
            text.split('\0')
                .filter(|s| !s.is_empty())
                .map(name_and_value),
        )
    }

    /// Parses `-z --show-origin` output: `origin\0name\nvalue\0` per
    /// entry, the origin `file:<path>` or `command line:`.
    fn parse_with_origin(text: &str) -> GitConfig {
        let fields: Vec<&str> = text.split('\0').collect();
        GitConfig::from_entries(fields.chunks(2).filter_map(|pair| match pair {
            [origin, item] if !origin.is_empty() => {
                let (name, value) = name_and_value(item);
                let origin = match origin.strip_prefix("file:") {
                    Some(path) => Origin::File(path.into()),
                    None => Origin::Other(origin.trim_end_matches(':').to_owned()),
                };
                Some((name, value, Some(origin)))
            }
            _ => None,
        }))
    }

    /// Builds from (`credential.<url>.<key>`, value) pairs in git's order.
    #[cfg(test)]
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> GitConfig {
        GitConfig::from_entries(pairs.into_iter().map(|(n, v)| (n, v, None)))
    }

    /// Builds from (name, value, origin) in git's order.
    fn from_entries(
        items: impl IntoIterator<Item = (String, String, Option<Origin>)>,
    ) -> GitConfig {
        let mut git = GitConfig::default();
        for (name, value, origin) in items {
            let Some(rest) = name.strip_prefix("credential.") else {
                continue;
            };
            let (url, key) = match rest.rsplit_once('.') {
                Some((url, key)) => (Some(url.to_owned()), key),
                None => (None, rest),
            };
            let key = key.to_ascii_lowercase();
            if let Some(host) = url.as_deref().and_then(pattern_host) {
                git.scoped
                    .entry((key.clone(), host))
                    .or_default()
                    .push(git.entries.len());
            }
            if url.is_none() {
                git.global.insert(key.clone(), git.entries.len());
            }
            git.entries.push(Entry {
                url,
                key,
                value,
                origin,
            });
        }
        git
    }

    /// The best value for `key` (in any case, as git compares keys) among URL-scoped entries that
    /// match `remote`, with git's urlmatch precedence: longer host pattern,
    /// then longer path, then a user match; later entries win ties.
    pub fn scoped(&self, remote: &Remote, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        let host = split_host_port(&remote.host)?.0;
        let bucket = |h: String| self.scoped.get(&(key.clone(), h)).map(Vec::as_slice);
        let mut candidates: Vec<usize> = [bucket(host), bucket("*".into())]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        let mut best: Option<((usize, usize, bool), &str)> = None;
        for e in candidates.into_iter().map(|i| &self.entries[i]) {
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
        let i = *self.global.get(&key.to_ascii_lowercase())?;
        #[cfg(test)]
        ENTRIES_READ.with(|n| n.set(n.get() + 1));
        Some(self.entries[i].value.as_str())
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

/// `name\nvalue`, or a bare `name` (a boolean `true`).
fn name_and_value(item: &str) -> (String, String) {
    let (name, value) = item.split_once('\n').unwrap_or((item, "true"));
    (name.to_owned(), value.to_owned())
}

/// The host of a URL pattern as [`url_match`] compares it, or `*` when a
/// label is a wildcard; `None` when it can match nothing.
fn pattern_host(pattern: &str) -> Option<String> {
    let rest = pattern.split_once("://").map_or(pattern, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = split_host_port(hostport)?.0;
    Some(match host.split('.').any(|l| l == "*") {
        true => "*".into(),
        false => host,
    })
}

/// Runs git with `args`: the `git` on PATH, else the one in
/// GIT_EXEC_PATH (git sets it for the helpers it starts, and may start
/// them with a PATH that does not hold git itself, as under Wine).
fn run_git(args: &[&str]) -> std::io::Result<Output> {
    let run = |program: &std::path::Path| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    };
    match run("git".as_ref()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = std::env::var_os("GIT_EXEC_PATH").ok_or(e)?;
            let dir = std::path::Path::new(&dir);
            let found = ["git", "git.exe"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file());
            match found {
                Some(git) => run(&git),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "git is neither on PATH nor in GIT_EXEC_PATH ({})",
                        dir.display()
                    ),
                )),
            }
        }
        other => other,
    }
}

/// Matches a config URL pattern against the remote the way git's urlmatch
/// does (bitbucket-facts.md C.7); returns the precedence score, or `None`.
pub fn url_match(pattern: &str, remote: &Remote) -> Option<(usize, usize, bool)> {
    #[cfg(test)]
    ENTRIES_READ.with(|n| n.set(n.get() + 1));
    let (scheme, rest) = match pattern.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, pattern),
    };
    if let Some(s) = scheme {
        if Scheme::parse(s) != Some(remote.protocol) {
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
    let default = |port: Option<u16>| port.or(Some(remote.protocol.default_port()));
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
thread_local! {
    /// How many entries lookups read, for the tests that count work.
    static ENTRIES_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many entries this thread's lookups have read so far.
#[cfg(test)]
pub fn entries_read() -> usize {
    ENTRIES_READ.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn a_lookup_reads_its_hosts_entries_only() {
        let git = crate::config::GitConfig::from_pairs((0..500).map(|i| {
            (
                format!("credential.https://h{i}.example.com.bitbucketclientid"),
                format!("id{i}"),
            )
        }));
        let before = crate::config::entries_read();
        let r = remote("https", "h7.example.com");
        assert_eq!(git.scoped(&r, "bitbucketClientId"), Some("id7"));
        assert!(crate::config::entries_read() - before <= 1);
        assert_eq!(
            git.entries()[3].name(),
            "credential.https://h3.example.com.bitbucketclientid"
        );
    }

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
