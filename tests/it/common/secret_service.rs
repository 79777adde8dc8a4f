//! A Secret Service to run the keyring against: the session's own (the
//! tests' `GCB_REAL_SECRET_SERVICE=1` convention, as `.ci/run` sets it up),
//! or a private D-Bus session with an unlocked gnome-keyring started here
//! (the bench, benches/budgets.rs, which includes this harness); and the
//! unlock step both use.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Whether the run asked for the session's real Secret Service.
pub fn real_one_requested() -> bool {
    std::env::var("GCB_REAL_SECRET_SERVICE").as_deref() == Ok("1")
}

/// Runs `cmd` (a `gnome-keyring-daemon --unlock …` command line) with
/// `password` on its stdin, as gnome-keyring reads it, and waits for it.
pub fn unlock(mut cmd: Command, password: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("gnome-keyring-daemon: {e}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(err)?;
    let mut stdin = child.stdin.take().ok_or("gnome-keyring-daemon: no stdin")?;
    stdin.write_all(password.as_bytes()).map_err(err)?;
    // gnome-keyring reads the password up to end of file.
    drop(stdin);
    let status = child.wait().map_err(err)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("gnome-keyring-daemon --unlock: {status}"))
    }
}

/// The first `name` on PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A Secret Service: the session's own when `GCB_REAL_SECRET_SERVICE=1`
/// and a session bus is set, else a private D-Bus session with an unlocked
/// gnome-keyring when both are installed (torn down on drop; the keyring
/// daemon leaves with its bus).
pub struct SecretService {
    /// The `DBUS_SESSION_BUS_ADDRESS` to hand the helper.
    pub bus: String,
    /// The private bus's `dbus-daemon`; `None` for the session's own.
    pub daemon: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl SecretService {
    pub fn start() -> Result<SecretService, String> {
        if let Some(bus) =
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").filter(|_| real_one_requested())
        {
            return Ok(SecretService {
                bus: bus.to_string_lossy().into_owned(),
                daemon: None,
                _dir: None,
            });
        }
        let tools = (
            find_in_path("dbus-daemon"),
            find_in_path("gnome-keyring-daemon"),
        );
        let (Some(dbus), Some(gnome_keyring)) = tools else {
            return Err("no Secret Service: install dbus-daemon and gnome-keyring \
                        (apt: dbus gnome-keyring) to measure it"
                .into());
        };
        let dir = private_dirs()?;
        let private = |cmd: &mut Command| {
            cmd.env("HOME", dir.path().join("home"))
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_RUNTIME_DIR", dir.path().join("run"))
                .stderr(Stdio::null());
        };
        let mut bus_cmd = Command::new(dbus);
        bus_cmd
            .args(["--session", "--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        private(&mut bus_cmd);
        let mut daemon = bus_cmd.spawn().map_err(|e| format!("dbus-daemon: {e}"))?;
        let mut bus = String::new();
        let read = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().expect("piped stdout")),
            &mut bus,
        );
        let mut ss = SecretService {
            bus: bus.trim().to_string(),
            daemon: Some(daemon),
            _dir: None,
        };
        if read.is_err() || ss.bus.is_empty() {
            return Err("dbus-daemon printed no address".into());
        }
        let mut unlock_cmd = Command::new(gnome_keyring);
        unlock_cmd
            .args(["--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &ss.bus);
        private(&mut unlock_cmd);
        unlock(unlock_cmd, "bench-keyring-password")?;
        ss._dir = Some(dir);
        Ok(ss)
    }
}

/// A temp dir with `home`, `data` and `run` (mode 0700) for a private
/// session's HOME and XDG dirs.
fn private_dirs() -> Result<tempfile::TempDir, String> {
    let err = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let dir = tempfile::Builder::new()
        .prefix("gcb-bench-keyring-")
        .tempdir()
        .map_err(|e| err("temp dir", e))?;
    for name in ["home", "data", "run"] {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).map_err(|e| err("temp dir", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err("chmod", e))?;
        }
    }
    Ok(dir)
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}
