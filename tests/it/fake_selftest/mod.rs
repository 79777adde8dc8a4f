//! The fakes driven by hand: no helper is involved, so these pass before
//! the helper exists and prove that the fakes enforce what
//! docs/bitbucket-facts.md says.
//! - `fake`: the fake Bitbucket Cloud, the fake browser and the isolated
//!   test environment;
//! - `fake_dc`: the fake Bitbucket Data Center.

mod fake;
mod fake_dc;
