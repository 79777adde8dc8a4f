//! How `doctor` prints its checklist: one line per check grouped by host,
//! each failure with its fix; or one JSON document (`--json`).

use super::{Check, Level};
use crate::text::plain;
use std::io::Write;

/// Writes the checks as text or JSON.
pub(super) fn write(out: &mut impl Write, checks: &[Check], json: bool) -> std::io::Result<()> {
    if !json {
        return text(out, checks);
    }
    let failures = checks.iter().filter(|c| c.level == Level::Fail).count();
    let doc = serde_json::json!({
        "version": 1,
        "ok": failures == 0,
        "checks": checks.iter().map(|c| serde_json::json!({
            "host": c.host,
            "check": c.check,
            "status": c.level.name(),
            "message": plain(&c.message),
            "fix": c.fix.as_deref().map(plain),
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).expect("BUG: a JSON value always serializes");
    writeln!(out, "{}", crate::text::json(&text))
}

/// Messages may quote what a server or a config file said: no control
/// character reaches the terminal.
fn text(out: &mut impl Write, checks: &[Check]) -> std::io::Result<()> {
    let mut host: Option<&str> = None;
    for c in checks {
        if c.host.as_deref() != host {
            host = c.host.as_deref();
            if let Some(h) = host {
                writeln!(out, "{}:", plain(h))?;
            }
        }
        let mark = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        writeln!(out, "  [{mark}] {}: {}", c.check, plain(&c.message))?;
        if let Some(fix) = &c.fix {
            if c.level != Level::Ok {
                writeln!(out, "         fix: {}", plain(fix))?;
            }
        }
    }
    Ok(())
}
