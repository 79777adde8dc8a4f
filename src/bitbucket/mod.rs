//! Bitbucket's side: its facts, its JSON answers and the HTTP client for
//! its endpoints (contract.md §6, bitbucket-facts.md A.4, B.4).

mod account;
mod answers;
mod client;
mod endpoints;
pub mod facts;

pub use account::{account_label, Account};
pub use answers::{parse_token_answer, parse_user_answer, BadAnswer, TokenSet};
pub use client::{ApiError, Client};
pub use endpoints::{Consumer, Endpoints};

/// Keeps server-provided text printable and short before it reaches a
/// terminal (moved to [`crate::text`]; kept here for its callers).
pub use crate::text::printable;

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn printable_strips_control_characters_and_truncates() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a [31mb c");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
    }
}
