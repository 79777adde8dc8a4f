//! The budgets of contract.md §8, measured side by side in one run:
//!
//! ```text
//! cargo bench --bench budgets
//! ```
//!
//! Needs Rust, git and python3 (for the fake browser). strace is used
//! when it is installed; the keyring is measured on a private D-Bus
//! session with an unlocked gnome-keyring when `dbus-daemon` and
//! `gnome-keyring-daemon` are installed (or on the session's own Secret
//! Service with `GCB_REAL_SECRET_SERVICE=1`, the tests' convention).
//! Everything runs against the strict fake Bitbucket Cloud of the
//! integration tests, in an isolated HOME/XDG/gitconfig, so the
//! developer's own git config and tokens play no part.
//!
//! What it does, in order:
//! 1. signs in twice against fakes whose tokens live 3 s (for the refresh
//!    and the parallel cases, which need an expired token later), and once
//!    against a fake with the default 7200 s lifetime, counting the
//!    requests of that first sign-in; stores the same token with
//!    `git credential-store`; signs in once more with the keyring store;
//! 2. times the helper's `get` with that fresh token against
//!    `git credential-store get`, in interleaved pairs (alternating which
//!    goes first), spawned with stdin and stdout piped and the input git
//!    sends over HTTP; then the same two through `git credential fill`,
//!    configured as git calls them; then a breakdown (the helper's `get`,
//!    its `capability` as the start-up cost, `true` as the floor of any
//!    spawn, and one `git config` child for reference); then the keyring's
//!    `get` beside the file store's, and beside `git-credential-libsecret
//!    get` on the same Secret Service;
//! 3. counts the fake's requests during all those `get`s, and the child
//!    processes, TCP connects and socket writes of one `get` under strace;
//! 4. one `get` after expiry (requests per refresh), 32 parallel `get`s
//!    after expiry with rotating refresh tokens, the binary's size.
//!
//! `main` does the set-up (1) and the timing (2), then asks one function
//! per budget for its row of the table (3, 4).
//!
//! It prints the machine, the series, and a table with each figure beside
//! its budget (docs/performance.md has a recorded run), and exits 1 when a
//! budget is missed.
//!
//! Environment: `GCB_BENCH_ROUNDS` (rounds per comparison, default 300),
//! `GCB_HELPER` (measure another binary instead of the one cargo built),
//! `GCB_LIBSECRET` (a `git-credential-libsecret` to compare with; else
//! the one on PATH, else one built from the source Debian's git ships,
//! with cc and libsecret-1-dev).

// The test harness, shared with tests/it. It allows dead code itself; its
// unit tests (compiled here under cfg(test) but never run) leave an import
// unused.
#[path = "../tests/it/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use common::env::{helper_path, shell_quote, TestEnv};
use common::fake::{FakeBitbucket, FakeOptions, Kind};
use common::secret_service::{find_in_path, SecretService};
use common::{describe, sleep_until};

/// contract.md §8: the release binary, stripped.
const SIZE_BUDGET: u64 = 4 * 1024 * 1024;
/// contract.md §8: helper `get` median over `git credential-store get` median.
const RATIO_BUDGET: f64 = 1.5;
/// contract.md §8: parallel `get`s after expiry.
const PARALLEL: usize = 32;
/// Access-token lifetime of the fakes used for the expiry cases. The
/// refresh margin is capped at a quarter of it, so 0 s: stale on expiry.
const SHORT_LIFETIME: u64 = 3;
/// Unmeasured rounds before each timed comparison.
const WARMUP: usize = 20;

fn main() -> ExitCode {
    let bench = Bench::from_env();
    print_machine(&bench.helper, &bench.git);
    let setup = Setup::sign_in(&bench);
    let timings = Timings::run(&bench, &setup);
    timings.print_series();
    let traced = strace_get(
        &setup.first.env,
        &setup.first.fake,
        &bench.helper,
        &setup.token,
    );
    timings.print_breakdown(&traced);

    let mut rows = vec![
        fresh_get_direct(&timings),
        fresh_get_through_fill(&timings),
        keyring_get(&bench, &setup, &timings),
        keyring_get_vs_libsecret(&timings),
        network_during_fresh_gets(&timings),
        child_processes(&traced),
    ];
    rows.extend(tcp_connects(&traced));
    rows.push(requests_per_refresh(&setup.refresh_case));
    rows.push(first_sign_in(&setup.sign_in));
    rows.extend(parallel_after_expiry(&setup.parallel_case, &bench.helper));
    rows.push(binary_size(&bench.helper));
    if let Ok(libsecret) = &setup.libsecret {
        libsecret.close(&setup.keyring);
    }
    setup.keyring.close(&setup.first.fake);
    println!();
    print_table(&rows);
    verdict_of_run(&rows)
}

// ----------------------------------------------------------------------
// The run and its set-up

/// What the run measures with.
struct Bench {
    /// Rounds per comparison (`GCB_BENCH_ROUNDS`, default 300).
    rounds: usize,
    helper: PathBuf,
    git: PathBuf,
}

impl Bench {
    fn from_env() -> Bench {
        let rounds = std::env::var("GCB_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(300);
        Bench {
            rounds,
            helper: helper_path(),
            git: find_in_path("git").unwrap_or_else(|| PathBuf::from("git")),
        }
    }
}

/// The first sign-in, counted from the fake's log.
struct SignIn {
    requests: RequestCount,
    wall: Duration,
}

/// Everything signed in before the timing starts. The two short-lived
/// cases come first: their tokens expire while the timing runs.
struct Setup {
    refresh_case: Case,
    parallel_case: Case,
    /// The fresh path: tokens of the default 7200 s.
    first: Case,
    sign_in: SignIn,
    /// `first`'s access token, which every fresh `get` must answer with.
    token: String,
    store: CredentialStore,
    keyring: Keyring,
    /// git's own Secret Service helper holding the keyring's token.
    libsecret: Result<LibSecret, String>,
}

impl Setup {
    fn sign_in(bench: &Bench) -> Setup {
        let refresh_case = Case::signed_in(SHORT_LIFETIME);
        let parallel_case = Case::signed_in(SHORT_LIFETIME);
        let first = Case::start(FakeOptions::default());
        first.fake.clear_log();
        let started = Instant::now();
        let out = first.env.helper(&["get"], &first.get_input());
        let wall = started.elapsed();
        let token = password(&out).unwrap_or_else(|| panic!("first sign-in\n{}", describe(&out)));
        let sign_in = SignIn {
            requests: RequestCount::of(&first.fake),
            wall,
        };
        let expiry = field(&out, "password_expiry_utc")
            .and_then(|v| v.parse::<u64>().ok())
            .map(|e| e.saturating_sub(unix_now()))
            .unwrap_or(0);
        println!("signed in; the stored access token expires in {expiry} s (fresh path)");
        let store = CredentialStore::holding(&bench.git, &first.fake, &token);
        let keyring = Keyring::sign_in(&first);
        let libsecret = LibSecret::holding(&keyring, &first.fake);
        Setup {
            refresh_case,
            parallel_case,
            first,
            sign_in,
            token,
            store,
            keyring,
            libsecret,
        }
    }
}

/// `git credential-store` holding the same token, in an environment of
/// its own whose only credential config is `credential.helper=store`.
struct CredentialStore {
    env: TestEnv,
    /// The credential file, as `--file` takes it.
    file: String,
}

impl CredentialStore {
    fn holding(git: &Path, fake: &FakeBitbucket, token: &str) -> CredentialStore {
        let env = TestEnv::new();
        let file = env.root().join("git-credentials");
        let file = file.to_str().expect("UTF-8 temp path").to_string();
        env.set_config(
            "credential.helper",
            &format!("store --file {}", shell_quote(&file)),
        );
        let input = format!(
            "protocol=http\nhost={}\nusername=x-token-auth\npassword={token}\n\n",
            fake.host()
        );
        let stored = env.run(
            cmd_in(&env, git, &["credential-store", "--file", &file, "store"]),
            Some(input.as_bytes()),
        );
        assert!(stored.status.success(), "{}", describe(&stored));
        CredentialStore { env, file }
    }
}

/// The fresh path's fake, signed in once more from an environment whose
/// store is the keyring, when there is a Secret Service to use.
struct Keyring {
    /// The environment and its token; before `service`, so it drops first.
    signed_in: Result<(TestEnv, String), String>,
    service: Result<SecretService, String>,
}

impl Keyring {
    fn sign_in(case: &Case) -> Keyring {
        let service = SecretService::start();
        let signed_in = service
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|ss| keyring_env(case, ss));
        Keyring { signed_in, service }
    }

    fn which(&self) -> &'static str {
        match &self.service {
            Ok(ss) if ss.daemon.is_some() => "a private gnome-keyring",
            _ => "the session's Secret Service",
        }
    }

    /// On a shared Secret Service, signs out so no test token stays in the
    /// keyring; then the environment goes before its Secret Service.
    fn close(self, fake: &FakeBitbucket) {
        if let (Ok((env, _)), Ok(ss)) = (&self.signed_in, &self.service) {
            if ss.daemon.is_none() && std::env::var_os("GCB_KEEP_TEMP").is_none() {
                env.helper(&["logout", &fake.base_url(), "--all"], "");
            }
        }
    }
}

/// Where Debian's git package puts the source of git's Secret Service
/// helper (`git-credential-libsecret`, from git's contrib/).
const LIBSECRET_SOURCE: &str =
    "/usr/share/doc/git/contrib/credential/libsecret/git-credential-libsecret.c";

/// `git-credential-libsecret` holding the keyring case's token on the same
/// Secret Service, in an environment of its own: what the keyring `get`
/// is compared with.
struct LibSecret {
    program: PathBuf,
    env: TestEnv,
    /// What `store` was given (and `erase` is given at the end).
    credential: String,
}

impl LibSecret {
    fn holding(keyring: &Keyring, fake: &FakeBitbucket) -> Result<LibSecret, String> {
        let ss = keyring.service.as_ref().map_err(Clone::clone)?;
        let (_, token) = keyring.signed_in.as_ref().map_err(Clone::clone)?;
        let env = TestEnv::new();
        env.set_env("DBUS_SESSION_BUS_ADDRESS", &ss.bus);
        let program = libsecret_program(&env)?;
        let credential = format!(
            "protocol=http\nhost={}\nusername=x-token-auth\npassword={token}\n\n",
            fake.host()
        );
        let out = env.run(
            cmd_in(&env, &program, &["store"]),
            Some(credential.as_bytes()),
        );
        if !out.status.success() {
            return Err(format!(
                "git-credential-libsecret store: {}",
                describe(&out)
            ));
        }
        Ok(LibSecret {
            program,
            env,
            credential,
        })
    }

    /// On a shared Secret Service, erases what `holding` stored.
    fn close(&self, keyring: &Keyring) {
        if matches!(&keyring.service, Ok(ss) if ss.daemon.is_none()) {
            let erase = cmd_in(&self.env, &self.program, &["erase"]);
            self.env.run(erase, Some(self.credential.as_bytes()));
        }
    }
}

/// `git-credential-libsecret`: `GCB_LIBSECRET`, else the first on PATH,
/// else built into `env`'s directory from [`LIBSECRET_SOURCE`] with `cc`
/// and `pkg-config` (apt: libsecret-1-dev).
fn libsecret_program(env: &TestEnv) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("GCB_LIBSECRET").filter(|v| !v.is_empty()) {
        return Ok(path.into());
    }
    if let Some(path) = find_in_path("git-credential-libsecret") {
        return Ok(path);
    }
    if !Path::new(LIBSECRET_SOURCE).is_file() {
        return Err(format!(
            "no git-credential-libsecret: set GCB_LIBSECRET, or have {LIBSECRET_SOURCE}"
        ));
    }
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "libsecret-1", "glib-2.0"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .ok_or("pkg-config found no libsecret-1 (apt: libsecret-1-dev)")?;
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    let program = env.root().join("git-credential-libsecret");
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&program)
        .arg(LIBSECRET_SOURCE)
        .args(flags.split_whitespace())
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "cc {LIBSECRET_SOURCE}: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        ));
    }
    Ok(program)
}

// ----------------------------------------------------------------------
// The timed fresh `get`s

/// The series of the fresh path, and the fake's requests during them.
struct Timings {
    rounds: usize,
    /// The helper's `get`, then `git credential-store get`.
    direct: Vec<Series>,
    /// `git credential fill` through the helper, then through the store.
    fill: Vec<Series>,
    /// The helper's `get`, its `capability`, one `git config`, `true`.
    parts: Vec<Series>,
    /// The file store's `get`, then the keyring's, and the requests made
    /// during them.
    keyring: Option<(Vec<Series>, usize)>,
    /// The keyring's `get`, then `git-credential-libsecret get`, and the
    /// requests made during them.
    libsecret: Result<(Vec<Series>, usize), String>,
    /// Requests during the direct, breakdown and `fill` runs.
    fresh_requests: usize,
}

impl Timings {
    fn run(bench: &Bench, setup: &Setup) -> Timings {
        let (first, token, rounds) = (&setup.first, &setup.token, bench.rounds);
        let (helper, git, store) = (&bench.helper, &bench.git, &setup.store);
        first.fake.clear_log();
        // The input is what git sends a helper over HTTP.
        let get_input = first.get_input();
        let fill_input = format!("protocol=http\nhost={}\n\n", first.fake.host());
        let store_args = ["credential-store", "--file", &store.file, "get"];
        let helper_get = || {
            timed_token(
                cmd_in(&first.env, helper, &["get"]),
                &get_input,
                token,
                "helper get",
            )
        };
        let store_get = || {
            timed_token(
                cmd_in(&store.env, git, &store_args),
                &get_input,
                token,
                "git credential-store get",
            )
        };
        let fill = ["credential", "fill"];
        let helper_fill = || {
            timed_token(
                cmd_in(&first.env, git, &fill),
                &fill_input,
                token,
                "git credential fill (helper)",
            )
        };
        let store_fill = || {
            timed_token(
                cmd_in(&store.env, git, &fill),
                &fill_input,
                token,
                "git credential fill (store)",
            )
        };
        let true_path = find_in_path("true").unwrap_or_else(|| PathBuf::from("/bin/true"));
        let spawn_floor = || timed_ok(&first.env, &true_path, &[], &get_input);
        let capability = || timed_ok(&first.env, helper, &["capability"], "");
        let config = ["config", "-z", "--get-regexp", r"^credential\."];
        let git_config = || timed_ok(&first.env, git, &config, "");

        println!(
            "\ntiming {rounds} interleaved rounds per comparison ({WARMUP} warm-up rounds first)"
        );
        let direct = interleaved(rounds, &[&helper_get, &store_get]);
        let fill = interleaved(rounds, &[&helper_fill, &store_fill]);
        let parts = interleaved(
            rounds,
            &[&helper_get, &capability, &git_config, &spawn_floor],
        );
        let fresh_requests = first.fake.requests().len();
        let keyring = time_keyring(setup, helper, &get_input, rounds, &helper_get);
        let libsecret = time_libsecret(setup, helper, &get_input, rounds);
        Timings {
            rounds,
            direct,
            fill,
            parts,
            keyring,
            libsecret,
            fresh_requests,
        }
    }

    /// Each series' size, median and spread.
    fn print_series(&self) {
        println!();
        let mut series = vec![
            ("helper get (fresh token, file store)", &self.direct[0]),
            ("git credential-store get", &self.direct[1]),
            ("git credential fill -> helper", &self.fill[0]),
            ("git credential fill -> store", &self.fill[1]),
            ("helper get (breakdown run)", &self.parts[0]),
            ("helper capability (start-up, no child)", &self.parts[1]),
            ("git config -z --get-regexp ^credential\\.", &self.parts[2]),
            ("`true` (spawn floor)", &self.parts[3]),
        ];
        if let Some((k, _)) = &self.keyring {
            series.push(("helper get, file store (keyring run)", &k[0]));
            series.push(("helper get, keyring (keyring run)", &k[1]));
        }
        if let Ok((l, _)) = &self.libsecret {
            series.push(("helper get, keyring (libsecret run)", &l[0]));
            series.push(("git-credential-libsecret get (libsecret run)", &l[1]));
        }
        println!(
            "| series | n | median | p10 | p90 | min |\n| --- | ---: | ---: | ---: | ---: | ---: |"
        );
        for (name, s) in series {
            println!(
                "| {name} | {} | {} | {} | {} | {} |",
                s.0.len(),
                ms(s.median()),
                ms(s.quantile(0.1)),
                ms(s.quantile(0.9)),
                ms(s.quantile(0.0))
            );
        }
    }

    /// Where a fresh `get`'s time goes.
    fn print_breakdown(&self, traced: &Result<Traced, String>) {
        let parts = &self.parts;
        let own_work = parts[0].median() - parts[1].median();
        let children = match traced {
            Ok(tr) if tr.execs.is_empty() => ", no child process".to_string(),
            Ok(tr) => format!(", its {} child process(es) included", tr.execs.len()),
            Err(_) => String::new(),
        };
        println!(
            "\nbreakdown of a fresh `get` (medians of the breakdown run): {} = process start-up {} \
             (`capability`; spawning `true` alone takes {}) + the `get` itself {} (stdin, config, \
             store read, output{children})",
            ms(parts[0].median()),
            ms(parts[1].median()),
            ms(parts[3].median()),
            ms(own_work),
        );
        println!(
            "for reference, one `git config -z --get-regexp ^credential\\.` child costs {} \
             (git-credential-oauth starts 6-7 `git config` per `get`)",
            ms(parts[2].median())
        );
    }

    /// Helper `get`s in the direct and breakdown runs.
    fn direct_gets(&self) -> usize {
        2 * (self.rounds + WARMUP)
    }

    /// Helper `get`s through `git credential fill`.
    fn git_gets(&self) -> usize {
        self.rounds + WARMUP
    }
}

/// The keyring's `get`, interleaved with the file store's (`file_get`),
/// and the fake's requests during them; `None` without a keyring.
fn time_keyring(
    setup: &Setup,
    helper: &Path,
    get_input: &str,
    rounds: usize,
    file_get: &dyn Fn() -> Duration,
) -> Option<(Vec<Series>, usize)> {
    let (kenv, ktoken) = setup.keyring.signed_in.as_ref().ok()?;
    let keyring_get = || {
        timed_token(
            cmd_in(kenv, helper, &["get"]),
            get_input,
            ktoken,
            "helper get (keyring)",
        )
    };
    let fake = &setup.first.fake;
    let before = fake.requests().len();
    let series = interleaved(rounds, &[file_get, &keyring_get]);
    Some((series, fake.requests().len() - before))
}

/// The keyring's `get`, interleaved with `git-credential-libsecret get`
/// on the same Secret Service, and the fake's requests during them.
fn time_libsecret(
    setup: &Setup,
    helper: &Path,
    get_input: &str,
    rounds: usize,
) -> Result<(Vec<Series>, usize), String> {
    let libsecret = setup.libsecret.as_ref().map_err(Clone::clone)?;
    let (kenv, ktoken) = setup.keyring.signed_in.as_ref().map_err(Clone::clone)?;
    let keyring_get = || {
        timed_token(
            cmd_in(kenv, helper, &["get"]),
            get_input,
            ktoken,
            "helper get (keyring)",
        )
    };
    let libsecret_get = || {
        timed_token(
            cmd_in(&libsecret.env, &libsecret.program, &["get"]),
            get_input,
            ktoken,
            "git-credential-libsecret get",
        )
    };
    let fake = &setup.first.fake;
    let before = fake.requests().len();
    let series = interleaved(rounds, &[&keyring_get, &libsecret_get]);
    Ok((series, fake.requests().len() - before))
}

/// One timed run of `cmd` that must answer `token` (`what` names it if
/// not).
fn timed_token(cmd: Command, input: &str, token: &str, what: &str) -> Duration {
    let run = timed(cmd, input);
    expect_token(&run.out, token, what);
    run.elapsed
}

/// One timed run of `program args` in `env` that must succeed.
fn timed_ok(env: &TestEnv, program: &Path, args: &[&str], input: &str) -> Duration {
    let run = timed(cmd_in(env, program, args), input);
    assert!(run.out.status.success(), "{}", describe(&run.out));
    run.elapsed
}

// ----------------------------------------------------------------------
// One row per budget (contract.md §8)

/// `{a} / {b} = **{a/b}×** (±N % from 1.0)`.
fn ratio_text(a: f64, b: f64) -> String {
    let ratio = a / b;
    format!(
        "{} / {} = **{ratio:.2}×** ({:+.0} % from 1.0)",
        ms(a),
        ms(b),
        (ratio - 1.0) * 100.0
    )
}

/// Fresh `get`, file store, against `git credential-store get`.
fn fresh_get_direct(t: &Timings) -> Row {
    let (helper, store) = (t.direct[0].median(), t.direct[1].median());
    Row::new(
        "`get`, fresh token, file store: helper / `git credential-store get`, direct spawn \
         (medians)",
        ratio_text(helper, store),
        format!("≤ {RATIO_BUDGET}× (stretch ≤ 1.0×)"),
        verdict(helper / store <= RATIO_BUDGET),
    )
}

/// The same through `git credential fill`.
fn fresh_get_through_fill(t: &Timings) -> Row {
    let (helper, store) = (t.fill[0].median(), t.fill[1].median());
    Row::new(
        "the same through `git credential fill` (medians)",
        ratio_text(helper, store),
        format!("≤ {RATIO_BUDGET}×"),
        verdict(helper / store <= RATIO_BUDGET),
    )
}

/// The keyring's fresh `get`: no network, its median beside the file
/// store's, and one `get` under strace.
fn keyring_get(bench: &Bench, setup: &Setup, t: &Timings) -> Row {
    let limit = "zero network; median beside the file store's";
    let ((kenv, ktoken), (k, requests)) = match (&setup.keyring.signed_in, &t.keyring) {
        (Ok(signed_in), Some(series)) => (signed_in, series),
        (Err(why), _) => {
            return Row::new(
                "`get`, fresh token, keyring",
                format!("n/a ({why})"),
                limit.into(),
                Verdict::NotApplicable,
            )
        }
        (Ok(_), None) => unreachable!("the keyring series runs whenever its case is set up"),
    };
    let traced = strace_get(kenv, &setup.first.fake, &bench.helper, ktoken);
    let (children, connects, messages) = match &traced {
        Ok(tr) => (
            tr.execs.len().to_string(),
            tr.connects,
            tr.sendmsgs.to_string(),
        ),
        Err(why) => (format!("n/a ({why})"), 0, "n/a".into()),
    };
    let (file, keyring) = (k[0].median(), k[1].median());
    Row::new(
        &format!(
            "`get`, fresh token, keyring ({}): keyring / file store in the same interleaved \
             pairs (medians)",
            setup.keyring.which()
        ),
        format!(
            "{} / {} = {:.2}× ({:.2}× `git credential-store get`); {requests} network requests \
             in {} `get`s; one `get` under strace: {children} child processes, {connects} TCP \
             connects, {messages} socket writes (D-Bus)",
            ms(keyring),
            ms(file),
            keyring / file,
            keyring / t.direct[1].median(),
            t.rounds + WARMUP,
        ),
        limit.into(),
        verdict(*requests == 0 && connects == 0),
    )
}

/// The keyring's fresh `get` against `git-credential-libsecret get` on
/// the same Secret Service.
fn keyring_get_vs_libsecret(t: &Timings) -> Row {
    let what = "`get`, fresh token, keyring: helper / `git-credential-libsecret get` on the \
                same Secret Service, interleaved (medians)";
    let limit = "≤ 1.0×, zero network".to_string();
    match &t.libsecret {
        Ok((s, requests)) => {
            let (ours, theirs) = (s[0].median(), s[1].median());
            Row::new(
                what,
                format!(
                    "{}; {requests} network requests in {} `get`s",
                    ratio_text(ours, theirs),
                    t.rounds + WARMUP
                ),
                limit,
                verdict(ours / theirs <= 1.0 && *requests == 0),
            )
        }
        Err(why) => Row::new(what, format!("n/a ({why})"), limit, Verdict::NotApplicable),
    }
}

/// Network requests during all the fresh `get`s (the fake's log).
fn network_during_fresh_gets(t: &Timings) -> Row {
    Row::new(
        "network requests during the fresh `get`s above (fake's log, before/after)",
        format!(
            "{} in {} direct `get`s and {} through `git credential fill`",
            t.fresh_requests,
            t.direct_gets(),
            t.git_gets()
        ),
        "0".into(),
        verdict(t.fresh_requests == 0),
    )
}

/// Child processes of one fresh `get` (strace).
fn child_processes(traced: &Result<Traced, String>) -> Row {
    let limit = "≤ 1".to_string();
    match traced {
        Ok(tr) => Row::new(
            "child processes of one fresh `get` (strace: execve other than the helper's)",
            if tr.execs.is_empty() {
                "0".to_string()
            } else {
                format!("{} (`{}`)", tr.execs.len(), tr.execs.join("`, `"))
            },
            limit,
            verdict(tr.execs.len() <= 1),
        ),
        Err(why) => Row::new(
            "child processes of one fresh `get` (strace)",
            format!("n/a ({why})"),
            limit,
            Verdict::NotApplicable,
        ),
    }
}

/// TCP/IP connects of one fresh `get` (strace); no row without strace
/// (the child-process row says why).
fn tcp_connects(traced: &Result<Traced, String>) -> Option<Row> {
    let tr = traced.as_ref().ok()?;
    Some(Row::new(
        "TCP/IP connect() calls of one fresh `get` (strace)",
        tr.connects.to_string(),
        "0".into(),
        verdict(tr.connects == 0),
    ))
}

/// Requests of one `get` after the token expired.
fn requests_per_refresh(case: &Case) -> Row {
    sleep_until(case.expired_at());
    let refresh = refresh_once(case);
    Row::new(
        "requests per refresh (token expired, one `get`)",
        format!(
            "{} ({} `refresh_token` grant, status {})",
            refresh.total, refresh.refresh_grants, refresh.statuses
        ),
        "exactly 1".into(),
        verdict(refresh.total == 1 && refresh.refresh_grants == 1 && refresh.statuses == "200"),
    )
}

/// Requests of the first sign-in (one `get`, empty store).
fn first_sign_in(sign_in: &SignIn) -> Row {
    let r = &sign_in.requests;
    Row::new(
        "requests per first sign-in (one `get`, empty store)",
        format!(
            "{} ({} authorize, {} token, {} `/2.0/user`, {} other); {} wall, fake browser included",
            r.total,
            r.authorize,
            r.token,
            r.user,
            r.other,
            ms(sign_in.wall.as_secs_f64())
        ),
        "≤ 3, exactly 1 token request".into(),
        verdict(r.total <= 3 && r.token == 1 && r.authorize == 1),
    )
}

/// `PARALLEL` parallel `get`s once `case`'s token has expired: their
/// refreshes, failures and wall time.
fn parallel_after_expiry(case: &Case, helper: &Path) -> [Row; 3] {
    sleep_until(case.expired_at());
    let p = parallel_gets(case, helper);
    [
        parallel_refreshes(&p),
        parallel_failures(&p),
        parallel_wall(&p),
    ]
}

/// Refresh requests of the parallel `get`s.
fn parallel_refreshes(p: &Parallel) -> Row {
    Row::new(
        &format!(
            "{PARALLEL} parallel `get`s after expiry, rotating refresh tokens: refresh requests"
        ),
        format!(
            "{} (token requests in all: {}, other requests: {})",
            p.refreshes, p.token_requests, p.other_requests
        ),
        "1".into(),
        verdict(p.refreshes == 1 && p.token_requests == 1),
    )
}

/// Failures among the parallel `get`s.
fn parallel_failures(p: &Parallel) -> Row {
    Row::new(
        &format!("{PARALLEL} parallel `get`s: failures"),
        format!(
            "{} ({} distinct tokens handed out)",
            p.failures, p.distinct_tokens
        ),
        "0".into(),
        verdict(p.failures == 0),
    )
}

/// The parallel `get`s' wall time (reported, no budget).
fn parallel_wall(p: &Parallel) -> Row {
    Row::new(
        &format!("{PARALLEL} parallel `get`s: wall time"),
        format!(
            "{} (slowest `get` {})",
            ms(p.wall.as_secs_f64()),
            ms(p.slowest.as_secs_f64())
        ),
        "report".into(),
        Verdict::Report,
    )
}

/// The release binary's size, and whether it is stripped.
fn binary_size(helper: &Path) -> Row {
    let size = std::fs::metadata(helper)
        .unwrap_or_else(|e| panic!("{}: {e}", helper.display()))
        .len();
    Row::new(
        "release binary (bench profile = release), size",
        format!(
            "{} B ({:.2} MiB), {}",
            thousands(size),
            size as f64 / 1_048_576.0,
            if is_stripped(helper) {
                "stripped"
            } else {
                "NOT stripped"
            }
        ),
        format!("≤ {} B (4 MiB)", thousands(SIZE_BUDGET)),
        verdict(size <= SIZE_BUDGET),
    )
}

// ----------------------------------------------------------------------
// Cases

/// A fake and an environment configured for it.
struct Case {
    fake: FakeBitbucket,
    env: TestEnv,
    signed_in_at: Instant,
}

impl Case {
    fn start(opts: FakeOptions) -> Case {
        let fake = FakeBitbucket::start(opts);
        let env = TestEnv::new();
        env.configure_cloud(&fake);
        Case {
            fake,
            env,
            signed_in_at: Instant::now(),
        }
    }

    /// Started with tokens of `lifetime` seconds and signed in once.
    fn signed_in(lifetime: u64) -> Case {
        let mut case = Case::start(FakeOptions {
            access_lifetime: lifetime,
            ..FakeOptions::default()
        });
        let out = case.env.helper(&["get"], &case.get_input());
        password(&out).unwrap_or_else(|| panic!("sign-in\n{}", describe(&out)));
        case.signed_in_at = Instant::now();
        case
    }

    fn get_input(&self) -> String {
        http_get_input(&self.fake)
    }

    /// When a case signed in with `SHORT_LIFETIME` tokens has expired for
    /// the helper and the fake alike (the helper floors expiry to whole
    /// seconds).
    fn expired_at(&self) -> Instant {
        self.signed_in_at + Duration::from_millis(SHORT_LIFETIME * 1000 + 1100)
    }
}

/// What git 2.47 sends a helper after the server's 401 over HTTP.
fn http_get_input(fake: &FakeBitbucket) -> String {
    format!(
        "capability[]=authtype\ncapability[]=state\nprotocol=http\nhost={}\n\
         wwwauth[]=Basic realm=\"Bitbucket.org HTTP\"\n",
        fake.host()
    )
}

/// Requests in a fake's log, by kind.
struct RequestCount {
    total: usize,
    authorize: usize,
    token: usize,
    user: usize,
    other: usize,
}

impl RequestCount {
    fn of(fake: &FakeBitbucket) -> RequestCount {
        let log = fake.requests();
        let authorize = log.iter().filter(|r| r.kind == Kind::Authorize).count();
        let token = log.iter().filter(|r| r.kind.is_token()).count();
        let user = log.iter().filter(|r| r.kind == Kind::User).count();
        RequestCount {
            total: log.len(),
            authorize,
            token,
            user,
            other: log.len() - authorize - token - user,
        }
    }
}

struct Refresh {
    total: usize,
    refresh_grants: usize,
    statuses: String,
}

/// One `get` after the token expired.
fn refresh_once(case: &Case) -> Refresh {
    case.fake.clear_log();
    let out = case.env.helper(&["get"], &case.get_input());
    password(&out).unwrap_or_else(|| panic!("get after expiry\n{}", describe(&out)));
    let log = case.fake.requests();
    Refresh {
        total: log.len(),
        refresh_grants: case.fake.token_requests("refresh_token").len(),
        statuses: log
            .iter()
            .map(|r| r.status.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

struct Parallel {
    refreshes: usize,
    token_requests: usize,
    other_requests: usize,
    failures: usize,
    distinct_tokens: usize,
    wall: Duration,
    slowest: Duration,
}

/// `PARALLEL` `get`s released at once after the token expired.
fn parallel_gets(case: &Case, helper: &Path) -> Parallel {
    case.fake.clear_log();
    let input = case.get_input();
    let barrier = std::sync::Barrier::new(PARALLEL + 1);
    let (runs, wall) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PARALLEL)
            .map(|_| {
                let cmd = cmd_in(&case.env, helper, &["get"]);
                let (barrier, input) = (&barrier, &input);
                s.spawn(move || {
                    barrier.wait();
                    timed(cmd, input)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let runs: Vec<Timed> = handles
            .into_iter()
            .map(|h| h.join().expect("a get thread"))
            .collect();
        (runs, start.elapsed())
    });
    let mut failures = 0;
    let mut tokens = std::collections::BTreeSet::new();
    for run in &runs {
        match password(&run.out) {
            Some(t) if run.out.status.success() && field(&run.out, "quit").is_none() => {
                tokens.insert(t);
            }
            _ => {
                failures += 1;
                eprintln!("a parallel get failed:\n{}", describe(&run.out));
            }
        }
    }
    let all = case.fake.requests();
    let token_requests = all.iter().filter(|r| r.kind.is_token()).count();
    Parallel {
        refreshes: case.fake.token_requests("refresh_token").len(),
        token_requests,
        other_requests: all.len() - token_requests,
        failures,
        distinct_tokens: tokens.len(),
        wall,
        slowest: runs.iter().map(|r| r.elapsed).max().unwrap_or_default(),
    }
}

/// An environment configured like `case`'s but with
/// `bitbucketStore=keyring` on `ss`, signed in once; with its token.
fn keyring_env(case: &Case, ss: &SecretService) -> Result<(TestEnv, String), String> {
    let env = TestEnv::new();
    env.configure_cloud(&case.fake);
    env.set_config(
        &format!("credential.{}.bitbucketStore", case.fake.base_url()),
        "keyring",
    );
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &ss.bus);
    // The daemon may take a moment to claim its name on the bus.
    let mut last = String::new();
    for _ in 0..30 {
        let out = env.helper(&["get"], &case.get_input());
        if let Some(token) = password(&out) {
            return Ok((env, token));
        }
        last = common::stderr(&out).trim().to_string();
        if last.contains("not supported yet") {
            return Err("keyring backend not built yet".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the keyring sign-in failed: {last}"))
}

// ----------------------------------------------------------------------
// strace

struct Traced {
    /// The programs exec'd besides the helper itself, with their argv.
    execs: Vec<String>,
    /// connect() calls to AF_INET/AF_INET6 by the helper or its children.
    connects: usize,
    /// sendmsg()/sendto() calls (D-Bus writes, for the keyring).
    sendmsgs: usize,
}

/// One fresh `get` under `strace -f`, counting successful execve calls
/// other than the helper's own, and TCP/IP connects.
fn strace_get(
    env: &TestEnv,
    fake: &FakeBitbucket,
    helper: &Path,
    token: &str,
) -> Result<Traced, String> {
    let strace = find_in_path("strace").ok_or("strace not installed; apt package strace")?;
    let dir = env.root().join("strace");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut cmd = cmd_in(
        env,
        &strace,
        &[
            "-f",
            "-ff",
            "-qq",
            "-s",
            "256",
            "-e",
            "trace=execve,clone,clone3,fork,vfork,connect,sendmsg,sendto",
            "-o",
        ],
    );
    cmd.arg(dir.join("trace")).arg("--").arg(helper).arg("get");
    let before = fake.requests().len();
    let run = timed(cmd, &http_get_input(fake));
    if !run.out.status.success() || password(&run.out).as_deref() != Some(token) {
        return Err(format!(
            "strace could not run the helper: {}",
            common::stderr(&run.out).trim()
        ));
    }
    assert_eq!(
        fake.requests().len(),
        before,
        "a fresh get under strace hit the fake"
    );
    let helper_exec = format!("execve(\"{}\"", helper.display());
    let mut own_seen = false;
    let mut execs = Vec::new();
    let mut connects = 0;
    let mut sendmsgs = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        for line in text.lines().map(str::trim) {
            if line.starts_with("execve(") && line.ends_with("= 0") {
                if !own_seen && line.starts_with(&helper_exec) {
                    own_seen = true;
                } else {
                    execs.push(argv_of(line));
                }
            } else if line.starts_with("connect(") && line.contains("sa_family=AF_INET") {
                connects += 1;
            } else if line.starts_with("sendmsg(") || line.starts_with("sendto(") {
                sendmsgs += 1;
            }
        }
    }
    if !own_seen {
        return Err("strace output did not show the helper's own execve".into());
    }
    Ok(Traced {
        execs,
        connects,
        sendmsgs,
    })
}

/// `git config -z …` from `execve("/usr/bin/git", ["git", "config", …], …) = 0`.
fn argv_of(line: &str) -> String {
    let Some(open) = line.find('[') else {
        return line.to_string();
    };
    let Some(close) = line[open..].find("], ") else {
        return line.to_string();
    };
    line[open + 1..open + close]
        .split("\", \"")
        .map(|a| a.trim_matches('"').replace("\\\\", "\\"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ----------------------------------------------------------------------
// Timing

struct Timed {
    elapsed: Duration,
    out: Output,
}

/// Spawns `cmd` as git spawns a helper (stdin and stdout piped), writes
/// `input`, closes stdin, reads the output and waits: the time of all that.
fn timed(mut cmd: Command, input: &str) -> Timed {
    use std::io::Write as _;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // Far below a pipe's buffer, so this cannot block on the child.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}"));
    Timed {
        elapsed: start.elapsed(),
        out,
    }
}

/// Timings of one command.
struct Series(Vec<Duration>);

impl Series {
    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.0.iter().map(Duration::as_secs_f64).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Seconds.
    fn median(&self) -> f64 {
        let v = self.sorted();
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    /// Seconds; nearest rank.
    fn quantile(&self, q: f64) -> f64 {
        let v = self.sorted();
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

/// Runs `rounds` rounds of every runner, rotating which goes first
/// (for two: alternating), after `WARMUP` unrecorded rounds.
fn interleaved(rounds: usize, runners: &[&dyn Fn() -> Duration]) -> Vec<Series> {
    let n = runners.len();
    let mut series: Vec<Series> = (0..n).map(|_| Series(Vec::with_capacity(rounds))).collect();
    for round in 0..WARMUP + rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let took = runners[i]();
            if round >= WARMUP {
                series[i].0.push(took);
            }
        }
    }
    series
}

// ----------------------------------------------------------------------
// The table

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Missed,
    Report,
    NotApplicable,
}

fn verdict(met: bool) -> Verdict {
    if met {
        Verdict::Met
    } else {
        Verdict::Missed
    }
}

/// One line of the table: a budget, what was measured, its limit, and
/// whether it was met.
struct Row {
    budget: String,
    measured: String,
    limit: String,
    met: Verdict,
}

impl Row {
    fn new(budget: &str, measured: String, limit: String, met: Verdict) -> Row {
        Row {
            budget: budget.to_string(),
            measured,
            limit,
            met,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!("| what | measured | budget | verdict |\n| --- | --- | --- | --- |");
    for row in rows {
        let verdict = match row.met {
            Verdict::Met => "met",
            Verdict::Missed => "**MISSED**",
            Verdict::Report => "reported",
            Verdict::NotApplicable => "n/a",
        };
        println!(
            "| {} | {} | {} | {verdict} |",
            row.budget, row.measured, row.limit
        );
    }
}

/// Says which budgets were missed; the run fails when any was.
fn verdict_of_run(rows: &[Row]) -> ExitCode {
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.met == Verdict::Missed)
        .map(|r| r.budget.as_str())
        .collect();
    if missed.is_empty() {
        println!("\nall budgets met");
        ExitCode::SUCCESS
    } else {
        println!("\nbudgets MISSED:");
        for what in missed {
            println!("- {what}");
        }
        ExitCode::FAILURE
    }
}

// ----------------------------------------------------------------------
// Small helpers

/// `program args…` in `env`'s isolated environment, without the test
/// harness's session and watchdog wrapper (which would add to the time).
fn cmd_in(env: &TestEnv, program: &Path, args: &[&str]) -> Command {
    let mut cmd = env.command(program);
    cmd.args(args);
    cmd
}

/// The value of `key=` in a helper's output.
fn field(out: &Output, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    common::stdout(out)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

fn password(out: &Output) -> Option<String> {
    field(out, "password").filter(|p| !p.is_empty())
}

#[track_caller]
fn expect_token(out: &Output, token: &str, what: &str) {
    assert!(
        out.status.success() && password(out).as_deref() == Some(token),
        "{what} did not answer with the stored token\n{}",
        describe(out)
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn ms(secs: f64) -> String {
    format!("{:.2} ms", secs * 1e3)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An ELF file without a `.symtab` section name is stripped.
fn is_stripped(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    !bytes.windows(8).any(|w| w == b".symtab\0")
}

/// The machine, at the top of the output.
fn print_machine(helper: &Path, git: &Path) {
    let first_line = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!("# git-credential-bitbucket budgets (contract.md §8)\n");
    println!("- machine: {nproc} CPUs (nproc), {cpu}");
    println!(
        "- kernel: {} {}; {os}",
        read("/proc/sys/kernel/ostype").trim(),
        read("/proc/sys/kernel/osrelease").trim()
    );
    println!(
        "- load average at start: {}",
        read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("- {}", first_line(git, &["--version"]));
    println!(
        "- source: {}",
        first_line(
            git,
            &[
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "describe",
                "--always",
                "--dirty",
            ]
        )
    );
    println!(
        "- helper: {} ({})",
        helper.display(),
        if std::env::var_os("GCB_HELPER").is_some_and(|v| !v.is_empty()) {
            "GCB_HELPER"
        } else {
            "built by cargo with the bench profile, which inherits release"
        }
    );
    println!();
}
