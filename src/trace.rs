//! `GIT_CREDENTIAL_BITBUCKET_TRACE`: `1`/`true` traces to stderr, an
//! absolute path appends to that file (contract.md §7). Trace lines are built from
//! non-secret values only; secrets are `Secret`, whose `Debug` is redacted.

use std::io::Write;
use std::sync::OnceLock;

enum Sink {
    Off,
    Stderr,
    File(std::path::PathBuf),
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| match std::env::var("GIT_CREDENTIAL_BITBUCKET_TRACE") {
        Ok(v)
            if matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on" | "2"
            ) =>
        {
            Sink::Stderr
        }
        Ok(v) if std::path::Path::new(&v).is_absolute() => Sink::File(v.into()),
        _ => Sink::Off,
    })
}

pub fn enabled() -> bool {
    !matches!(sink(), Sink::Off)
}

/// Writes one trace line.
pub fn write(args: std::fmt::Arguments<'_>) {
    let line = format!(
        "trace: git-credential-bitbucket[{}]: {args}\n",
        std::process::id()
    );
    match sink() {
        Sink::Off => {}
        Sink::Stderr => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Sink::File(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            crate::platform::private_file(&mut options);
            if let Ok(mut f) = options.open(path) {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// Traces a line when tracing is on; arguments are not evaluated otherwise.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        if $crate::trace::enabled() {
            $crate::trace::write(format_args!($($arg)*));
        }
    };
}
