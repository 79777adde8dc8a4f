//! Messages for the terminal: our name before each line on stderr
//! ([`say!`](crate::say)), and text from outside (a server, a remote URL, a
//! callback) made safe before it goes into a message: a control character
//! (ESC, BEL, CR, LF, C1 codes) or a bidirectional override could otherwise
//! move the cursor, recolour, retitle the window or reorder what the user
//! reads.

use std::io::Write;

/// The program name that prefixes every message.
pub const NAME: &str = "git-credential-bitbucket";

/// Writes `NAME: message` as one line on stderr. A failed write is
/// dropped: with stderr closed there is nobody to tell, and it must not
/// end the program. Called through [`say!`](crate::say).
pub fn say(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{NAME}: {message}");
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

fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
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

    #[test]
    fn printable_also_cuts_long_text() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
        assert_eq!(printable(&"x".repeat(200)), "x".repeat(200));
    }
}
