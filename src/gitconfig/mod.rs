//! Reads the `credential.*` keys (and, only when a request is about to be
//! sent, the `http.*` network keys) from git's config files in-process, so
//! a `get` with a fresh token starts no child process at all (contract.md §8).
//!
//! It follows git's order (system, global, local, then `-c` from the
//! command line; later wins) and git's syntax for the parts that matter.
//! Whenever a file uses something this reader does not model — includes,
//! a worktree or submodule `.git` file, `config.worktree`, a system config
//! whose owner git we cannot tell, or any syntax it cannot parse — it
//! returns `None`, and the caller asks `git config` instead, so the answer
//! is git's own in every case. Files that do not mention the section are
//! skipped without parsing: they cannot contribute.
//!
//! This file holds the entry point and which files git reads, in what
//! order, with the `-c` options; the search for the repository whose
//! config counts is in discovery.rs, the file syntax in syntax.rs, git's
//! booleans and integers in values.rs.

mod discovery;
mod syntax;
mod values;

use std::path::{Path, PathBuf};

pub use syntax::parse;
pub use values::parse_bool;

/// One `credential.*` entry: (`credential.<sub>.<key>` with section and
/// key lower-cased, value). A key without `=` has the value `true`.
pub type Pair = (String, String);

/// Where an entry was set: the file (as `git config --show-origin` names
/// it), or somewhere else git describes (`command line`), so `doctor` can
/// say where to fix a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Other(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Other(what) => write!(f, "the {what}"),
        }
    }
}

/// The entries, in git's order; `None` means "ask git".
#[cfg(test)]
pub fn credential_entries(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Vec<Pair>> {
    Some(
        credential_entries_with_origin(var, cwd)?
            .into_iter()
            .map(|(pair, _)| pair)
            .collect(),
    )
}

/// The entries with the file each came from, in git's order; `None`
/// means "ask git".
pub fn credential_entries_with_origin(
    var: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Option<Vec<(Pair, Origin)>> {
    section_entries(var, cwd, "credential")
}

/// The `http.*` entries (`http.proxy`, `http.<url>.sslCAInfo`…), in git's
/// order; `None` means "ask git". Read only when a request is about to be
/// sent (docs/configuration.md, "Network").
pub fn http_entries(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Vec<Pair>> {
    Some(
        section_entries(var, cwd, "http")?
            .into_iter()
            .map(|(pair, _)| pair)
            .collect(),
    )
}

/// The entries of `section` (lower case) with the file each came from, in
/// git's order.
fn section_entries(
    var: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
    section: &str,
) -> Option<Vec<(Pair, Origin)>> {
    let mut out = Vec::new();
    for file in config_files(var, cwd)? {
        let Ok(text) = std::fs::read_to_string(&file) else {
            // Missing is normal; unreadable or not UTF-8: let git decide.
            if file.exists() {
                return None;
            }
            continue;
        };
        let lower = text.to_ascii_lowercase();
        if lower.contains("[include") {
            return None;
        }
        if lower.contains(section) {
            let origin = Origin::File(file.clone());
            out.extend(
                syntax::parse_section(&text, section)?
                    .into_iter()
                    .map(|p| (p, origin.clone())),
            );
        }
    }
    let from_command_line = Origin::Other("command line".into());
    out.extend(
        command_line(var, section)?
            .into_iter()
            .map(|p| (p, from_command_line.clone())),
    );
    Some(out)
}

/// System, global and local files, in git's order.
fn config_files(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    if var("GIT_CONFIG").is_some() {
        return None;
    }
    // git refuses a value that is not a boolean: so do we, by asking it.
    let no_system = match var("GIT_CONFIG_NOSYSTEM") {
        None => false,
        Some(v) => parse_bool(&v)?,
    };
    if !no_system {
        match var("GIT_CONFIG_SYSTEM") {
            Some(p) => files.push(PathBuf::from(p)),
            // Where the platform's git keeps it (src/platform/); `None`
            // when we cannot tell: let git answer.
            None => files.extend(crate::platform::git_system_files(var)?),
        }
    }
    match var("GIT_CONFIG_GLOBAL") {
        Some(p) => files.push(PathBuf::from(p)),
        None => {
            let home = crate::platform::git_home(var);
            let xdg = var("XDG_CONFIG_HOME")
                .filter(|x| Path::new(x).is_absolute())
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".config")));
            if let Some(x) = xdg {
                files.push(x.join("git").join("config"));
            }
            match home {
                Some(h) => files.push(h.join(".gitconfig")),
                None => return None,
            }
        }
    }
    if let Some(local) = discovery::local_config(var, cwd)? {
        files.push(local);
    }
    Some(files)
}

/// `-c` options git passes down: GIT_CONFIG_PARAMETERS, then
/// GIT_CONFIG_COUNT with GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n.
fn command_line(var: &dyn Fn(&str) -> Option<String>, section: &str) -> Option<Vec<Pair>> {
    let mut out = Vec::new();
    if let Some(params) = var("GIT_CONFIG_PARAMETERS") {
        for (key, value) in parse_parameters(&params)? {
            push_in(&mut out, section, &key, value);
        }
    }
    if let Some(count) = var("GIT_CONFIG_COUNT") {
        let n: usize = count.trim().parse().ok()?;
        for i in 0..n {
            let key = var(&format!("GIT_CONFIG_KEY_{i}"))?;
            let value = var(&format!("GIT_CONFIG_VALUE_{i}"))?;
            push_in(&mut out, section, &key, Some(value));
        }
    }
    Some(out)
}

/// Normalizes `section.sub.key` as git does (section and key lower case,
/// subsection kept) and keeps it when the section is `wanted`.
fn push_in(out: &mut Vec<Pair>, wanted: &str, name: &str, value: Option<String>) {
    let Some((section, rest)) = name.split_once('.') else {
        return;
    };
    if !section.eq_ignore_ascii_case(wanted) {
        return;
    }
    let full = match rest.rsplit_once('.') {
        Some((sub, key)) => format!("{wanted}.{sub}.{}", key.to_ascii_lowercase()),
        None => format!("{wanted}.{}", rest.to_ascii_lowercase()),
    };
    out.push((full, value.unwrap_or_else(|| "true".into())));
}

/// Splits git's shell-quoted GIT_CONFIG_PARAMETERS: `'key'='value'` (or
/// the old `'key=value'`), separated by spaces.
fn parse_parameters(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        // One sq-quoted word, with git's '\'' for an embedded quote.
        let mut word = String::new();
        if chars.next()? != '\'' {
            return None;
        }
        loop {
            match chars.next()? {
                '\'' => {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                        if chars.next()? != '\'' || chars.next()? != '\'' {
                            return None;
                        }
                        word.push('\'');
                    } else {
                        return Some(word);
                    }
                }
                c => word.push(c),
            }
        }
    };
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let first = quoted(&mut chars)?;
        if chars.peek() == Some(&'=') {
            chars.next();
            let value = quoted(&mut chars)?;
            out.push((first, Some(value)));
        } else {
            match first.split_once('=') {
                Some((k, v)) => out.push((k.to_owned(), Some(v.to_owned()))),
                None => out.push((first, None)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_parameters() {
        let p =
            parse_parameters(r"'credential.https://h.helper'='' 'credential.x=y' 'a.b'='it'\''s'")
                .expect("parses");
        assert_eq!(
            p,
            vec![
                ("credential.https://h.helper".into(), Some(String::new())),
                ("credential.x".into(), Some("y".into())),
                ("a.b".into(), Some("it's".into())),
            ]
        );
        assert_eq!(parse_parameters("'unterminated"), None);
    }

    #[test]
    fn includes_ask_git() {
        let dir = std::env::temp_dir().join(format!("gcb-gitconfig-inc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let global = dir.join("global");
        std::fs::write(&global, "[include]\n\tpath = other\n").expect("write");
        let g = global.to_string_lossy().into_owned();
        let var = move |k: &str| match k {
            "GIT_CONFIG_GLOBAL" => Some(g.clone()),
            "GIT_CONFIG_NOSYSTEM" => Some("1".into()),
            _ => None,
        };
        assert_eq!(credential_entries(&var, &dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_boolean_git_would_refuse_is_left_to_git() {
        let dir = std::env::temp_dir().join(format!("gcb-gitconfig-bool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let global = dir.join("global");
        std::fs::write(&global, "[credential]\n\tbitbucketKind = cloud\n").expect("write");
        let g = global.to_string_lossy().into_owned();
        let with_nosystem = |value: &'static str| {
            let g = g.clone();
            move |k: &str| match k {
                "GIT_CONFIG_GLOBAL" => Some(g.clone()),
                "GIT_CONFIG_NOSYSTEM" => Some(value.to_owned()),
                _ => None,
            }
        };
        // git dies on `maybe` (bad boolean): we ask it, and it says so.
        assert_eq!(credential_entries(&with_nosystem("maybe"), &dir), None);
        // `2` is true to git: the system file is skipped, the global read.
        let read = credential_entries(&with_nosystem("2"), &dir).expect("plain files");
        assert_eq!(
            read,
            vec![("credential.bitbucketkind".to_owned(), "cloud".to_owned())]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn http_entries_come_from_files_and_the_command_line() {
        let dir = std::env::temp_dir().join(format!("gcb-gitconfig-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let global = dir.join("global");
        std::fs::write(
            &global,
            "[credential]\n\thelper = x\n[http]\n\tproxy = http://p:1\n\
             [http \"https://h.example\"]\n\tsslCAInfo = /ca.pem\n",
        )
        .expect("write");
        let g = global.to_string_lossy().into_owned();
        let var = move |k: &str| match k {
            "GIT_CONFIG_GLOBAL" => Some(g.clone()),
            "GIT_CONFIG_NOSYSTEM" => Some("1".into()),
            "GIT_CONFIG_PARAMETERS" => Some("'http.sslVerify'='false' 'credential.x'='y'".into()),
            _ => None,
        };
        assert_eq!(
            http_entries(&var, &dir).expect("plain files"),
            vec![
                ("http.proxy".to_owned(), "http://p:1".to_owned()),
                (
                    "http.https://h.example.sslcainfo".to_owned(),
                    "/ca.pem".to_owned()
                ),
                ("http.sslverify".to_owned(), "false".to_owned()),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
