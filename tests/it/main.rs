//! The one integration-test binary. Modules:
//! - `common`: the fake Bitbucket Cloud, the isolated test environment and
//!   shared helpers;
//! - `fake_selftest`: proves the fakes (Cloud in `fake_selftest::fake`,
//!   Data Center in `fake_selftest::fake_dc`) and the fake browser behave
//!   as docs/bitbucket-facts.md says, driving them by hand (no helper
//!   involved);
//! - `cloud`: end-to-end tests of real git through our helper against the
//!   fake Bitbucket Cloud;
//! - `datacenter`: real git through our helper against the fake Bitbucket
//!   Data Center, and the token flow on both fakes;
//! - `account`: status, switch, token, doctor, and configure re-runs as a
//!   user meets them;
//! - `parallel`: many git processes at once, and two accounts refreshing
//!   at the same moment;
//! - `refresh_faults`: network faults on the refresh;
//! - `kill_mid_write`: a helper killed in the middle of a store write;
//! - `loopback_listener`: the sign-in's listener against a hostile browser;
//! - `secret_leaks`: no secret in output, traces or files;
//! - `host_policy`: plain http refused, other hosts not ours;
//! - `windows`: the Windows build under Wine only (Credential Manager,
//!   local app data, the opener), run by .ci/windows.

mod account;
mod accounts;
mod cloud;
mod common;
mod completions;
mod datacenter;
mod fake_selftest;
mod headless;
mod host_policy;
mod install;
mod keyring;
mod kill_mid_write;
mod loopback_listener;
mod messages;
mod pages;
mod parallel;
mod refresh_faults;
mod secret_leaks;
mod server_answers;
mod setup;
mod signin_safety;
mod soak;
mod store_safety;
mod windows;
