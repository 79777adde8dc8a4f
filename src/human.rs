//! Times and words as people read them: durations and dates in one
//! style, and "did you mean" for a mistyped word. A leaf: it imports
//! nothing of the crate, so every layer may use it.

/// A span of seconds in one style everywhere: the two largest units of
/// d, h, min, s ("1 h 5 min", "3 d 2 h", "40 s").
pub fn duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3600, "h"), (60, "min"), (1, "s")];
    let Some(first) = UNITS.iter().position(|(size, _)| secs >= *size) else {
        return "0 s".into();
    };
    let (size, name) = UNITS[first];
    let mut text = format!("{} {name}", secs / size);
    if let Some(&(next, next_name)) = UNITS.get(first + 1) {
        let rest = secs % size / next;
        if rest > 0 {
            text.push_str(&format!(" {rest} {next_name}"));
        }
    }
    text
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Levenshtein distance, for "did you mean" (short words only).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate within `max` edits of `word` (case-insensitive), the
/// closest first; `None` when there is none or `word` is one of them.
pub fn closest<'a>(word: &str, candidates: &[&'a str], max: usize) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d > 0 && *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_one_style() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(40), "40 s");
        assert_eq!(duration(60), "1 min");
        assert_eq!(duration(3599), "59 min 59 s");
        assert_eq!(duration(3600 + 300 + 7), "1 h 5 min");
        assert_eq!(duration(3 * 86_400 + 2 * 3600 + 59), "3 d 2 h");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_824_000 + 3661), "2026-11-28T01:01:01Z");
    }

    #[test]
    fn close_words_are_suggested_and_far_ones_not() {
        let cmds = ["status", "login", "logout", "doctor"];
        assert_eq!(closest("stauts", &cmds, 2), Some("status"));
        assert_eq!(closest("Statsu", &cmds, 2), Some("status"));
        assert_eq!(closest("doctr", &cmds, 2), Some("doctor"));
        assert_eq!(closest("status", &cmds, 2), None);
        assert_eq!(closest("frobnicate", &cmds, 2), None);
        assert_eq!(edit_distance("bitbucketStor", "bitbucketStore"), 1);
    }
}
