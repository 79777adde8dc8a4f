//! Bitbucket's side: its facts, its JSON answers and the HTTP client for
//! its endpoints (contract.md §6, bitbucket-facts.md A.4, B.4).

mod account;
mod answers;
mod client;
mod endpoints;
pub mod facts;
mod stand_in;

pub use account::{account_label, Account};
pub use answers::{parse_token_answer, parse_user_answer, TokenSet};
#[cfg(test)]
pub use client::NetCause;
pub use client::{ApiError, Client};
pub use endpoints::{Consumer, Endpoints};
