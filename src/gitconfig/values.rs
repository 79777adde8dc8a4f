//! git's booleans and integers, read by git's own rules, for config values
//! and the environment variables git reads as booleans.

/// A git boolean, by git's rules (config.c, `git_parse_maybe_bool`):
/// `true`, `yes`, `on` and `false`, `no`, `off` in any case; the empty
/// value is false; else an integer, true when not zero (in C's bases,
/// `0x1f`, `017`, with git's `k`, `m`, `g` suffixes). `None` for anything
/// else. A key with no `=` at all is true; the readers hand it over as
/// `"true"`. Surrounding blanks are ignored: config values arrive trimmed,
/// environment variables may not.
pub fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" | "" => Some(false),
        _ => git_int(v).map(|n| n != 0),
    }
}

/// git's integer syntax (`git_parse_int`): a sign, digits in base 16
/// (`0x`), 8 (a leading `0`) or 10, and a unit; `None` beyond C's `int`,
/// as git.
fn git_int(v: &str) -> Option<i64> {
    let (negative, rest) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let (number, factor) = match rest.as_bytes().last().map(u8::to_ascii_lowercase) {
        Some(b'k') => (&rest[..rest.len() - 1], 1i64 << 10),
        Some(b'm') => (&rest[..rest.len() - 1], 1 << 20),
        Some(b'g') => (&rest[..rest.len() - 1], 1 << 30),
        _ => (rest, 1),
    };
    let (digits, radix) = if let Some(hex) = number
        .strip_prefix("0x")
        .or_else(|| number.strip_prefix("0X"))
    {
        (hex, 16)
    } else if number.len() > 1 && number.starts_with('0') {
        (&number[1..], 8)
    } else {
        (number, 10)
    };
    // `from_str_radix` would take a second sign.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix)
        .ok()?
        .checked_mul(factor)
        .filter(|n| *n <= i64::from(i32::MAX))?;
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_git() {
        for v in [
            "true", "YES", "On", "1", "2", "-1", "0x10", "010", "1k", "1g", " true ",
        ] {
            assert_eq!(parse_bool(v), Some(true), "{v:?}");
        }
        for v in ["false", "No", "OFF", "0", "", "00", "0x0", "-0", "0g"] {
            assert_eq!(parse_bool(v), Some(false), "{v:?}");
        }
        for v in [
            "never",
            "y",
            "0x",
            "08",
            "1kb",
            "+-1",
            "--1",
            "1.0",
            "2g",
            "2147483648",
        ] {
            assert_eq!(parse_bool(v), None, "{v:?}");
        }
    }
}
