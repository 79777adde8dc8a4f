//! Reads the `credential.*` keys from git's config files in-process, so a
//! `get` with a fresh token starts no child process at all (SPEC §8).
//!
//! It follows git's order (system, global, local, then `-c` from the
//! command line; later wins) and git's syntax for the parts that matter.
//! Whenever a file uses something this reader does not model — includes,
//! a worktree or submodule `.git` file, `config.worktree`, a system config
//! whose owner git we cannot tell, or any syntax it cannot parse — it
//! returns `None`, and the caller asks `git config` instead, so the answer
//! is git's own in every case. Files that do not mention `credential` are
//! skipped without parsing: they cannot contribute.

use std::path::{Path, PathBuf};

/// One `credential.*` entry: (`credential.<sub>.<key>` with section and
/// key lower-cased, value). A key without `=` has the value `true`.
pub type Pair = (String, String);

/// The entries, in git's order; `None` means "ask git".
pub fn credential_entries(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Vec<Pair>> {
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
        if lower.contains("credential") {
            out.extend(parse(&text)?);
        }
    }
    out.extend(command_line(var)?);
    Some(out)
}

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// System, global and local files, in git's order.
fn config_files(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Vec<PathBuf>> {
    let mut files = Vec::new();
    if var("GIT_CONFIG").is_some() {
        return None;
    }
    if !truthy(var("GIT_CONFIG_NOSYSTEM")) {
        match var("GIT_CONFIG_SYSTEM") {
            Some(p) => files.push(PathBuf::from(p)),
            None => {
                // Which git runs us decides between these; if either could
                // matter, let git answer.
                for candidate in ["/etc/gitconfig", "/usr/local/etc/gitconfig"] {
                    if let Ok(t) = std::fs::read_to_string(candidate) {
                        let t = t.to_ascii_lowercase();
                        if t.contains("credential") || t.contains("[include") {
                            return None;
                        }
                    }
                }
            }
        }
    }
    match var("GIT_CONFIG_GLOBAL") {
        Some(p) => files.push(PathBuf::from(p)),
        None => {
            let home = var("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
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
    if let Some(local) = local_config(var, cwd)? {
        files.push(local);
    }
    Some(files)
}

/// The repository's own config file, if `cwd` is in a repository.
/// `Some(None)`: no repository; `None`: ask git.
fn local_config(var: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<Option<PathBuf>> {
    if var("GIT_CEILING_DIRECTORIES").is_some() || var("GIT_COMMON_DIR").is_some() {
        return None;
    }
    let git_dir = match var("GIT_DIR") {
        Some(d) => Some(cwd.join(d)),
        None => {
            let mut found = None;
            for dir in cwd.ancestors() {
                let dot_git = dir.join(".git");
                if dot_git.is_file() {
                    // A worktree or submodule: git's pointer rules apply.
                    return None;
                }
                if dot_git.is_dir() {
                    if !looks_like_git_dir(&dot_git) {
                        // git would keep searching upward; ask it.
                        return None;
                    }
                    found = Some(dot_git);
                    break;
                }
                // A bare repository (mirrors fetch too).
                if looks_like_git_dir(dir) {
                    found = Some(dir.to_path_buf());
                    break;
                }
            }
            // A discovered repository counts only if it is ours: git
            // ignores another user's repository config ("dubious
            // ownership", safe.directory), and so must we, or a directory
            // planted above the working directory could point our token
            // URL or browser command anywhere. Anything else: ask git.
            match found {
                Some(d) if owned_by_me(&d) => Some(d),
                Some(_) => return None,
                None => None,
            }
        }
    };
    let Some(git_dir) = git_dir else {
        return Some(None);
    };
    let config = git_dir.join("config");
    if git_dir.join("commondir").exists() || git_dir.join("config.worktree").exists() {
        return None;
    }
    Some(Some(config))
}

/// HEAD, objects/ and refs/: what git checks before it calls a directory
/// a repository.
fn looks_like_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

/// Whether `dir` belongs to the user running us. Only Linux can tell here
/// without a libc binding (`/proc/self` is owned by our effective uid);
/// elsewhere the answer is "no", which means "ask git".
fn owned_by_me(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata("/proc/self"), std::fs::metadata(dir)) {
            (Ok(me), Ok(d)) => me.uid() == d.uid(),
            _ => false,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

/// `-c` options git passes down: GIT_CONFIG_PARAMETERS, then
/// GIT_CONFIG_COUNT with GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n.
fn command_line(var: &dyn Fn(&str) -> Option<String>) -> Option<Vec<Pair>> {
    let mut out = Vec::new();
    if let Some(params) = var("GIT_CONFIG_PARAMETERS") {
        for (key, value) in parse_parameters(&params)? {
            push_credential(&mut out, &key, value);
        }
    }
    if let Some(count) = var("GIT_CONFIG_COUNT") {
        let n: usize = count.trim().parse().ok()?;
        for i in 0..n {
            let key = var(&format!("GIT_CONFIG_KEY_{i}"))?;
            let value = var(&format!("GIT_CONFIG_VALUE_{i}"))?;
            push_credential(&mut out, &key, Some(value));
        }
    }
    Some(out)
}

/// Normalizes `section.sub.key` as git does (section and key lower case,
/// subsection kept) and keeps it when the section is `credential`.
fn push_credential(out: &mut Vec<Pair>, name: &str, value: Option<String>) {
    let Some((section, rest)) = name.split_once('.') else {
        return;
    };
    if !section.eq_ignore_ascii_case("credential") {
        return;
    }
    let full = match rest.rsplit_once('.') {
        Some((sub, key)) => format!("credential.{sub}.{}", key.to_ascii_lowercase()),
        None => format!("credential.{}", rest.to_ascii_lowercase()),
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

/// Parses one config file; returns its `credential.*` entries, or `None`
/// on anything unusual.
pub fn parse(text: &str) -> Option<Vec<Pair>> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut sub: Option<String> = None;
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    loop {
        // Start of a line.
        while matches!(chars.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            chars.next();
        }
        match chars.peek() {
            None => return Some(out),
            Some('#' | ';') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            Some('[') => {
                chars.next();
                let (s, b) = header(&mut chars)?;
                section = s;
                sub = b;
                // Only a comment or the end of the line may follow.
                while matches!(chars.peek(), Some(' ' | '\t' | '\r')) {
                    chars.next();
                }
                match chars.next() {
                    None | Some('\n') => {}
                    Some('#' | ';') => {
                        for c in chars.by_ref() {
                            if c == '\n' {
                                break;
                            }
                        }
                    }
                    Some(_) => return None,
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        key.push(c.to_ascii_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
                while matches!(chars.peek(), Some(' ' | '\t')) {
                    chars.next();
                }
                let value = match chars.peek() {
                    Some('=') => {
                        chars.next();
                        value(&mut chars)?
                    }
                    // A bare key is `true`; git allows only the line's end
                    // after it.
                    None | Some('\n') => "true".to_owned(),
                    Some('\r') => {
                        chars.next();
                        if chars.next().is_some_and(|c| c != '\n') {
                            return None;
                        }
                        "true".to_owned()
                    }
                    Some(_) => return None,
                };
                if section == "credential" {
                    out.push((
                        match &sub {
                            Some(s) => format!("credential.{s}.{key}"),
                            None => format!("credential.{key}"),
                        },
                        value,
                    ));
                }
            }
            Some(_) => return None,
        }
    }
}

/// `name]`, `name "sub"]` or the old `name.sub]`.
fn header(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<(String, Option<String>)> {
    let mut name = String::new();
    loop {
        match chars.next()? {
            ']' => {
                // Old syntax `[section.sub]`: the subsection lower-cased.
                return Some(match name.split_once('.') {
                    Some((s, b)) => (s.to_owned(), Some(b.to_owned())),
                    None => (name, None),
                });
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '.' => {
                name.push(c.to_ascii_lowercase())
            }
            ' ' | '\t' => break,
            _ => return None,
        }
    }
    while matches!(chars.peek(), Some(' ' | '\t')) {
        chars.next();
    }
    if chars.next()? != '"' {
        return None;
    }
    let mut sub = String::new();
    loop {
        match chars.next()? {
            '"' => break,
            '\\' => sub.push(chars.next().filter(|c| *c != '\n')?),
            '\n' => return None,
            c => sub.push(c),
        }
    }
    if chars.next()? != ']' || name.contains('.') {
        return None;
    }
    Some((name, Some(sub)))
}

/// A value up to the end of its (logical) line, exactly as git's
/// `parse_value` reads it: blanks are kept only between other characters, `"` toggles quoting, `\` escapes (and
/// joins lines), `#`/`;` outside quotes start a comment; CRLF counts as LF
/// and the end of the file as a line end.
fn value(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<String> {
    let next = |chars: &mut std::iter::Peekable<std::str::Chars>| match chars.next() {
        None => '\n',
        Some('\r') if chars.peek() == Some(&'\n') => {
            chars.next();
            '\n'
        }
        Some(c) => c,
    };
    let mut out = String::new();
    let (mut quote, mut comment) = (false, false);
    // Blanks seen since the last other character.
    let mut space = String::new();
    loop {
        let c = next(chars);
        if c == '\n' {
            return (!quote).then_some(out);
        }
        if comment {
            continue;
        }
        if c.is_ascii_whitespace() && !quote {
            if !out.is_empty() {
                space.push(c);
            }
            continue;
        }
        if !quote && (c == ';' || c == '#') {
            comment = true;
            continue;
        }
        // git 2.47 keeps inner blanks as written, older git makes each a
        // space: the same only for spaces, so anything else asks git.
        if space.chars().any(|b| b != ' ') {
            return None;
        }
        out.push_str(&space);
        space.clear();
        match c {
            '\\' => match next(chars) {
                '\n' => {}
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'n' => out.push('\n'),
                e @ ('\\' | '"') => out.push(e),
                _ => return None,
            },
            '"' => quote = !quote,
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `git config -z --get-regexp` says for the same file.
    fn git_says(file: &Path) -> Vec<Pair> {
        let out = Command::new("git")
            .args(["config", "--file"])
            .arg(file)
            .args(["-z", "--get-regexp", r"^credential\."])
            .output()
            .expect("run git");
        String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (k, v) = item.split_once('\n').unwrap_or((item, "true"));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    // Compares with a Linux git, which the Windows build can only run under
    // Wine, where it cannot read its output (docs/platforms.md).
    #[cfg_attr(windows, ignore = "needs git's output; see docs/platforms.md")]
    fn agrees_with_git_on_the_syntax_people_write() {
        let text = r#"
# a comment
[user]
	name = Someone ; with a comment
[credential "https://bitbucket.org"]
	helper =
	helper = /home/u/.local/bin/git-credential-bitbucket
	bitbucketClientId = ABC def  
	BitbucketClientSecret = "quoted ; not a comment "
	bitbucketScopes = repository \
repository:write
	interactive
[Credential]
	helper = cache --timeout=7200 # trailing comment
[credential "http://127.0.0.1:8080/Path With Space"]
	username = "a\"b\\c"
[credential.old-example]
	usehttppath = true
[other "credential"]
	x = credential
"#;
        let dir = std::env::temp_dir().join(format!("gcb-gitconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("config");
        std::fs::write(&file, text).expect("write");
        let ours = parse(text).expect("parses");
        assert_eq!(ours, git_says(&file));
        assert!(ours.len() >= 8, "{ours:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn git_accepts(file: &Path) -> bool {
        let out = Command::new("git")
            .args(["config", "--file"])
            .arg(file)
            .args(["--list"])
            .output()
            .expect("run git");
        out.status.success()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

        /// Whatever this reader accepts, it reads exactly as git does.
        #[test]
        #[cfg_attr(windows, ignore = "needs git's output; see docs/platforms.md")]
        fn reads_whatever_it_accepts_exactly_as_git_does(
            lines in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("[credential]".to_owned()),
                proptest::strategy::Just("[Credential \"https://Bitbucket.org/ws\"]".to_owned()),
                proptest::strategy::Just("[credential \"a\\\"b\"]".to_owned()),
                proptest::strategy::Just("[core]".to_owned()),
                proptest::strategy::Just("[credential.sub]".to_owned()),
                "[ \t]{0,2}(helper|bitbucketClientId|Username)[ \t]{0,2}=[ \t]{0,2}[a-z \"\\\\#;=:/.]{0,14}",
                "[ \t]{0,2}interactive",
                "[#;][ a-z]{0,8}",
                proptest::strategy::Just("k = a \\".to_owned()),
            ], 0..10)
        ) {
            let text = lines.join("\n") + "\n";
            let dir = std::env::temp_dir().join(format!(
                "gcb-gitconfig-prop-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).expect("dir");
            let file = dir.join("config");
            std::fs::write(&file, &text).expect("write");
            if let Some(ours) = parse(&text) {
                if git_accepts(&file) {
                    proptest::prop_assert_eq!(ours, git_says(&file), "{}", text);
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn unusual_syntax_asks_git() {
        assert_eq!(parse("[credential \"x\"] helper = y\n"), None);
        assert_eq!(parse("[credential]\n\tx = \"unterminated\n"), None);
        assert_eq!(parse("[credential]\n\tx = bad \\q escape\n"), None);
    }

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

    /// A repository of another user above the working directory must not
    /// feed us config (git ignores it too): we ask git instead.
    #[cfg(target_os = "linux")]
    #[test]
    fn another_users_repository_config_is_never_read() {
        let root = std::env::temp_dir().join(format!("gcb-gitconfig-own-{}", std::process::id()));
        let git_dir = root.join("repo").join(".git");
        for sub in ["objects", "refs"] {
            std::fs::create_dir_all(git_dir.join(sub)).expect("dirs");
        }
        std::fs::write(git_dir.join("HEAD"), "ref: refs/heads/main\n").expect("HEAD");
        std::fs::write(
            git_dir.join("config"),
            "[credential \"https://bitbucket.org\"]\n\tbitbucketTokenUrl = https://evil.example/t\n",
        )
        .expect("config");
        let global = root.join("global");
        std::fs::write(&global, "").expect("global");
        let g = global.to_string_lossy().into_owned();
        let var = move |k: &str| match k {
            "GIT_CONFIG_GLOBAL" => Some(g.clone()),
            "GIT_CONFIG_NOSYSTEM" => Some("1".into()),
            _ => None,
        };
        let cwd = root.join("repo");
        let ours = credential_entries(&var, &cwd).expect("our own repository is read");
        assert_eq!(ours.len(), 1, "{ours:?}");
        // Hand the repository to `nobody` (possible as root, as in CI).
        if std::os::unix::fs::chown(&git_dir, Some(65534), Some(65534)).is_ok() {
            assert_eq!(
                credential_entries(&var, &cwd),
                None,
                "another user's repo: ask git"
            );
        }
        let _ = std::fs::remove_dir_all(&root);
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
}
