//! Messages for the terminal: our name before each message on stderr,
//! wrapped to 80 columns with the first sentence alone on the first line
//! ([`say!`](crate::say)), and text from outside (a server, a remote URL, a
//! callback, the store) made safe before it is shown, JSON included: a
//! control character (ESC, BEL, CR, LF, C1 codes), a bidirectional
//! override or mark, a line separator or an invisible format character
//! (zero-width space, soft hyphen, Arabic letter mark) could otherwise move
//! the cursor, recolour, retitle the window, reorder what the user reads or
//! make two different names look the same.

use std::io::Write;

/// The program name that prefixes every message.
pub const NAME: &str = "git-credential-bitbucket";

/// How wide a message line may be, our name included.
pub const WIDTH: usize = 80;

/// What starts each continuation line of a wrapped message. A wrap only
/// ever turns one space into a line break and this indent, so joining
/// the lines back gives the message as it was written.
pub const CONTINUATION: &str = "\n  ";

/// Writes `NAME: message` on stderr, wrapped by [`wrap`]. A failed write
/// is dropped: with stderr closed there is nobody to tell, and it must not
/// end the program. Called through [`say!`](crate::say).
pub fn say(message: std::fmt::Arguments<'_>) {
    let text = wrap(&format!("{NAME}: {message}"));
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// `text` in lines of at most [`WIDTH`] columns: when a line is longer,
/// its first sentence ends the first line if it fits (what happened),
/// and the rest (what to do) follows on indented lines, broken at spaces.
/// A word longer than a line (a URL) is never split.
pub fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        wrap_line(line, &mut out);
    }
    out
}

fn wrap_line(line: &str, out: &mut String) {
    let columns = |s: &str| s.chars().count();
    if columns(line) <= WIDTH {
        out.push_str(line);
        return;
    }
    let indent = CONTINUATION.len() - 1;
    let words: Vec<&str> = line.split(' ').collect();
    let breaks = break_points(&words, indent);
    // The width of the words from `i` up to the next place a line may
    // break: what must fit for a break at `i` to be put off.
    let unit = |i: usize| {
        let end = (i + 1..words.len())
            .find(|&j| breaks[j])
            .unwrap_or(words.len());
        words[i..end].iter().map(|w| columns(w)).sum::<usize>() + (end - i - 1)
    };
    // Where the first sentence ends, if the first line can hold it.
    let mut first_stop = None;
    let mut width = 0;
    for (i, w) in words.iter().enumerate().take(words.len() - 1) {
        width += columns(w) + usize::from(i > 0);
        if width > WIDTH {
            break;
        }
        let ends = w.len() > 1 && (w.ends_with('.') || w.ends_with(';')) && !w.ends_with("..");
        if ends && breaks[i + 1] {
            first_stop = Some(i);
            break;
        }
    }
    // Every line holds at least one word before it may end (an empty word,
    // from two spaces in a row, stands for a space), so a break never
    // leaves a line with nothing but its indent.
    let mut width = 0;
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            let stop_here = first_stop == Some(i - 1);
            let full = width + 1 + unit(i) > WIDTH;
            if breaks[i] && (stop_here || full) {
                out.push_str(CONTINUATION);
                width = indent;
            } else {
                out.push(' ');
                width += 1;
            }
        }
        out.push_str(w);
        width += columns(w);
    }
}

/// The widest a line holding one whole `command` may be: a little over
/// [`WIDTH`], since a command broken in two cannot be copied.
pub const COMMAND_WIDTH: usize = 100;

/// Before which words a line may break: not inside a `command` in
/// backticks, so it can be copied whole, unless the command is too long
/// for a line of its own ([`COMMAND_WIDTH`]).
fn break_points(words: &[&str], indent: usize) -> Vec<bool> {
    let mut breaks = vec![true; words.len()];
    let mut ticks = 0;
    for (i, w) in words.iter().enumerate() {
        breaks[i] = ticks % 2 == 0;
        ticks += w.matches('`').count();
    }
    // A span too wide for a continuation line may break anywhere.
    let ends: Vec<usize> = (1..=words.len())
        .filter(|&j| j == words.len() || breaks[j])
        .collect();
    let mut start = 0;
    for end in ends {
        let span: usize = words[start..end]
            .iter()
            .map(|w| w.chars().count())
            .sum::<usize>()
            + (end - start - 1);
        if indent + span > COMMAND_WIDTH {
            breaks[start..end].iter_mut().for_each(|b| *b = true);
        }
        start = end;
    }
    breaks
}

/// Prints a message to the user on stderr, prefixed with our name (the
/// arguments are those of `format!`).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::text::say(format_args!($($arg)*))
    };
}

/// `s` with every control character and bidirectional override replaced
/// by a space; nothing else changes.
pub fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if unsafe_char(c) { ' ' } else { c })
        .collect()
}

/// [`plain`], cut to 200 characters (an ellipsis marks the cut): for text
/// a server chose, which may be long.
pub fn printable(s: &str) -> String {
    let mut out: String = plain(s).chars().take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// `json` (text serde_json wrote) with every character [`plain`] would
/// replace written as a `\uXXXX` escape instead: JSON keeps the exact
/// value for a program that reads it, and a terminal that shows it gets
/// nothing it would act on. serde_json already escapes U+0000..U+001F
/// inside strings, so those left raw are the layout (newlines, indent)
/// and stay; every other such character is inside a string, where an
/// escape means the same.
pub fn json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c >= ' ' && unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode's control (Cc) and format (Cf) characters, and the line and
/// paragraph separators (Zl, Zp): nothing a name, a scope or a message
/// needs, and each can change what the terminal shows. Cf as of Unicode
/// 16; the table test below checks every one.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_spaces() {
        assert_eq!(plain("a\x1b]0;title\x07b\r\nc"), "a ]0;title b  c");
        assert_eq!(plain("x\u{9b}31m\u{202e}y"), "x 31m y");
        assert_eq!(plain("Zoë 🙂 ok"), "Zoë 🙂 ok");
    }

    /// Every character of the classes [`unsafe_char`] covers, as ranges
    /// written from Unicode's tables (Cc, Cf, Zl, Zp), apart from the
    /// code above.
    const CLASSES: &[(u32, u32)] = &[
        (0x0, 0x1f),
        (0x7f, 0x9f),
        (0xad, 0xad),
        (0x600, 0x605),
        (0x61c, 0x61c),
        (0x6dd, 0x6dd),
        (0x70f, 0x70f),
        (0x890, 0x891),
        (0x8e2, 0x8e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x2028, 0x2029),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
    ];

    fn in_classes(c: char) -> bool {
        CLASSES
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c)))
    }

    #[test]
    fn every_control_format_and_separator_character_is_replaced_and_only_those() {
        for &(lo, hi) in CLASSES {
            for c in (lo..=hi).filter_map(char::from_u32) {
                assert_eq!(plain(&format!("a{c}b")), "a b", "U+{:04X}", u32::from(c));
            }
        }
        // The ones the issue met, by name.
        for c in ['\u{61c}', '\u{200b}', '\u{2028}', '\u{ad}', '\u{202e}'] {
            assert!(unsafe_char(c), "U+{:04X}", u32::from(c));
        }
        // Letters, marks, symbols and spaces of every plane stay.
        for c in "Zoë ñ ü 日本 🙂 ‐ – … ١٢٣ ש ا\u{301}".chars() {
            assert_eq!(plain(&c.to_string()), c.to_string());
        }
    }

    proptest::proptest! {
        /// Unicode's own tables (those of the regex engine proptest
        /// draws from) against ours: any character of the classes is
        /// replaced.
        #[test]
        fn every_character_unicode_puts_in_the_classes_is_unsafe(s in "[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]") {
            let c = s.chars().next().expect("one character");
            proptest::prop_assert!(unsafe_char(c), "U+{:04X}", u32::from(c));
        }

        #[test]
        fn plain_leaves_nothing_of_the_classes_and_keeps_the_rest(s in "\\PC*|[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}a-z ]*") {
            let out = plain(&s);
            proptest::prop_assert_eq!(out.chars().count(), s.chars().count());
            for (a, b) in s.chars().zip(out.chars()) {
                if in_classes(a) {
                    proptest::prop_assert_eq!(b, ' ');
                } else {
                    proptest::prop_assert_eq!(a, b);
                }
            }
        }

        #[test]
        fn json_escapes_exactly_what_plain_replaces_and_round_trips(s in "[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}a-zé🙂\"\\\\ ]*") {
            let raw = serde_json::to_string_pretty(&serde_json::json!({ "k": [&s] }))
                .expect("a value serializes");
            let safe = json(&raw);
            proptest::prop_assert!(
                !safe.chars().any(|c| unsafe_char(c) && c != '\n'),
                "{:?}",
                safe
            );
            let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
            proptest::prop_assert_eq!(&back["k"][0], &serde_json::Value::String(s));
        }

        #[test]
        fn wrapping_only_turns_spaces_into_indented_breaks(s in "[a-z.;]{0,12}( {1,2}[a-z.;:/`]{0,30}){0,40}") {
            let wrapped = wrap(&s);
            proptest::prop_assert_eq!(wrapped.replace(CONTINUATION, " "), s.clone());
            for line in wrapped.lines() {
                proptest::prop_assert!(line.chars().count() <= COMMAND_WIDTH, "{:?}", line);
            }
        }
    }

    #[test]
    fn a_long_message_has_what_happened_first_and_what_to_do_below() {
        let msg = "git-credential-bitbucket: no consumer secret is set for https://bitbucket.org. \
                   Run `git credential-bitbucket configure https://bitbucket.org`, which asks for it.";
        assert_eq!(
            wrap(msg),
            "git-credential-bitbucket: no consumer secret is set for https://bitbucket.org.\n  \
             Run `git credential-bitbucket configure https://bitbucket.org`, which asks for\n  \
             it."
        );
        assert_eq!(wrap("short. two"), "short. two");
        // A command in backticks stays on one line, to be copied whole.
        let msg = "git-credential-bitbucket: no consumer secret is set for https://bb.example. \
                   Run it again, or pipe it to `git credential-bitbucket configure \
                   https://bb.example --client-secret-stdin` and try again.";
        assert_eq!(
            wrap(msg),
            "git-credential-bitbucket: no consumer secret is set for https://bb.example.\n  \
             Run it again, or pipe it to\n  \
             `git credential-bitbucket configure https://bb.example --client-secret-stdin`\n  \
             and try again."
        );
        // Too long for a line of its own: broken like any text.
        let long = format!("x. `{}`", ["word"; 30].join(" "));
        assert!(wrap(&long).lines().all(|l| l.chars().count() <= WIDTH));
        // A command a little wider than a line keeps its own line.
        let wide = format!(
            "x. `{}` and more words to go on with",
            ["abcd"; 17].join(" ")
        );
        let wrapped = wrap(&wide);
        assert!(
            wrapped.contains(&format!("\n  `{}`\n", ["abcd"; 17].join(" "))),
            "{wrapped}"
        );
        assert_eq!(wrap("a\nb"), "a\nb");
    }

    #[test]
    fn printable_also_cuts_long_text() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
        assert_eq!(printable(&"x".repeat(200)), "x".repeat(200));
    }
}
