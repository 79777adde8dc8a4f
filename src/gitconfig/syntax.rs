//! git's config-file syntax: sections, subsections, keys and values read
//! exactly as git reads them, or `None` for anything it does not model.

use super::Pair;

/// Parses one config file; returns its `credential.*` entries, or `None`
/// on anything unusual.
pub fn parse(text: &str) -> Option<Vec<Pair>> {
    parse_section(text, "credential")
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Parses one config file; returns the entries of section `wanted`
/// (lower case), or `None` on anything unusual.
pub(super) fn parse_section(text: &str, wanted: &str) -> Option<Vec<Pair>> {
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
            Some('#' | ';') => skip_line(&mut chars),
            Some('[') => {
                chars.next();
                (section, sub) = header_line(&mut chars)?;
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (key, value) = entry(&mut chars)?;
                if section == wanted {
                    out.push((
                        match &sub {
                            Some(s) => format!("{wanted}.{s}.{key}"),
                            None => format!("{wanted}.{key}"),
                        },
                        value,
                    ));
                }
            }
            Some(_) => return None,
        }
    }
}

/// Skips the rest of the line, its `\n` included.
fn skip_line(chars: &mut Chars) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

/// A section header after its `[`: the section and subsection; only a
/// comment or the end of the line may follow it.
fn header_line(chars: &mut Chars) -> Option<(String, Option<String>)> {
    let found = header(chars)?;
    while matches!(chars.peek(), Some(' ' | '\t' | '\r')) {
        chars.next();
    }
    match chars.next() {
        None | Some('\n') => {}
        Some('#' | ';') => skip_line(chars),
        Some(_) => return None,
    }
    Some(found)
}

/// One `key = value` line (or a bare `key`): the key lower-cased, and the
/// value.
fn entry(chars: &mut Chars) -> Option<(String, String)> {
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
            value(chars)?
        }
        // A bare key is `true`; git allows only the line's end after it.
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
    Some((key, value))
}

/// `name]`, `name "sub"]` or the old `name.sub]`.
fn header(chars: &mut Chars) -> Option<(String, Option<String>)> {
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
fn value(chars: &mut Chars) -> Option<String> {
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
    use std::path::Path;
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
}
