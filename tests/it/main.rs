//! The one integration-test binary. Modules:
//! - `common`: the fake Bitbucket Cloud, the isolated test environment and
//!   shared helpers;
//! - `fake_selftest`: proves the fake and the fake browser behave as
//!   docs/bitbucket-facts.md says, driving them by hand (no helper involved);
//! - `cloud`: end-to-end tests of real git through our helper against the
//!   fake Bitbucket Cloud;
//! - `datacenter`: the fake Bitbucket Data Center driven by hand, then real
//!   git through our helper against it, and the token flow on both fakes;
//! - `account`: status, switch, token, doctor, and configure re-runs as a
//!   user meets them;
//! - `robustness`: parallel processes, network faults, a kill mid-write,
//!   two accounts at once, a hostile browser, secrets and host policy;
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
mod install;
mod keyring;
mod messages;
mod pages;
mod regressions;
mod robustness;
mod server_answers;
mod setup;
mod signin_safety;
mod soak;
mod store_safety;
mod windows;
