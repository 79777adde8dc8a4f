//! The one integration-test binary. Modules:
//! - `common`: the fakes (Bitbucket Cloud and Data Center), the isolated
//!   test environment and shared helpers;
//! - `fake_selftest`: proves the fakes (Cloud in `fake_selftest::fake`,
//!   Data Center in `fake_selftest::fake_dc`) and the fake browser behave
//!   as docs/bitbucket-facts.md says, driving them by hand (no helper
//!   involved);
//! - `builtin`: a build with the fake's consumer built in, standing in for
//!   bitbucket.org: no consumer setup, first clone, refresh, `--version`;
//! - `cloud`: end-to-end tests of real git through our helper against the
//!   fake Bitbucket Cloud;
//! - `datacenter`: real git through our helper against the fake Bitbucket
//!   Data Center, and the token flow on both fakes;
//! - `first_day`: Cloud's sign-in on any free port, a pinned port, the
//!   consumer hint, the guided token path and its check;
//! - `doctor_truth`: `doctor` fails exactly when the next git command
//!   fails, over a table of broken and healthy setups; over 500 hosts;
//!   `token` and `status` follow the same record rule as `get`;
//! - `accounts`: several accounts on one host, `status` and `logout`;
//! - `from_gcm`: `configure` and `doctor` beside Git Credential Manager;
//! - `account`: status, switch, token, doctor, and configure re-runs as a
//!   user meets them;
//! - `headless`: signing in without a browser or terminal, for CI, and in
//!   a real headless Chromium;
//! - `keyring`: the keyring backend against a real Secret Service;
//! - `messages`: what a user reads when a credential cannot be had;
//! - `guidance`: messages that name the fix that works, typed commands,
//!   and text from outside made safe everywhere it is shown;
//! - `pages`: the loopback listener's pages, in a real Chromium;
//! - `readme`: the README's install and setup commands, run as written up
//!   to the first clone, and its sample session against what git printed;
//! - `setup`: install.sh, configure/unconfigure and every `--help`;
//! - `install`: install.sh from a release archive and its `--uninstall`;
//! - `completions`: `--completions` driven by the real shells;
//! - `server_answers`: odd but valid server answers, and how we take them;
//! - `signin_safety`: the sign-in against other programs and users on the
//!   machine, and what it prints;
//! - `store_files`: every store file read only as a regular file of ours
//!   (a planted FIFO, link or another user's file);
//! - `store_key`: a Cloud-kind host keys its sign-in without the path;
//! - `store_safety`: the store's safety rules;
//! - `parallel`: many git processes at once, and two accounts refreshing
//!   at the same moment;
//! - `refresh_faults`: network faults on the refresh;
//! - `kill_mid_write`: a helper killed in the middle of a store write;
//! - `kill_window`: a helper killed right after a refresh's answer, with
//!   no grace window;
//! - `loopback_listener`: the sign-in's listener against a hostile browser;
//! - `loopback_peers`: the listener against another local user's programs
//!   (the IPv4-mapped address, a reset, a flood);
//! - `secret_leaks`: no secret in output, traces or files;
//! - `host_policy`: plain http refused, other hosts not ours;
//! - `soak`: many `get`s in parallel rounds with short-lived tokens;
//! - `company_network`: real git and the helper behind a TLS front with a
//!   throwaway company CA, a forward proxy and a client-certificate front,
//!   configured with git's own `http.*` settings;
//! - `test_hooks`: the release binary holds no test hook;
//! - `windows`: the Windows build under Wine only (Credential Manager,
//!   local app data, the opener), run by .ci/windows;
//! - `windows_setup`: the Windows build under Wine only: `install` and
//!   `uninstall` from the zip, an SSH session, the console paste.

mod account;
mod accounts;
mod builtin;
mod cloud;
mod common;
mod company_network;
mod completions;
mod datacenter;
mod doctor_truth;
mod fake_selftest;
mod first_day;
mod from_gcm;
mod guidance;
mod headless;
mod host_policy;
mod install;
mod keyring;
mod kill_mid_write;
mod kill_window;
mod loopback_listener;
mod loopback_peers;
mod messages;
mod pages;
mod parallel;
mod readme;
mod refresh_faults;
mod secret_leaks;
mod server_answers;
mod setup;
mod signin_safety;
mod soak;
mod store_files;
mod store_key;
mod store_safety;
mod test_hooks;
mod windows;
mod windows_setup;
