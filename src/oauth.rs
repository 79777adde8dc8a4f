//! OAuth 2.0 pieces that need no network: PKCE S256 (RFC 7636), the
//! `state` value, and the authorize URL (contract.md §6).

use crate::bitbucket::Endpoints;
use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(String);

/// `n` random bytes, base64url without padding: only `[A-Za-z0-9_-]`.
fn random_b64(n: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A PKCE pair: the verifier stays with us, the challenge goes out.
#[derive(Debug)]
pub struct Pkce {
    /// 64 characters from the RFC 7636 alphabet.
    pub verifier: Secret,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair (48 random bytes → a 64-character verifier).
    pub fn new() -> Result<Pkce, RandomError> {
        let verifier = random_b64(48)?;
        let challenge = challenge_for(&verifier);
        Ok(Pkce {
            verifier: Secret::new(verifier),
            challenge,
        })
    }
}

/// The S256 challenge for `verifier`.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh `state`: 192 random bits (contract.md §6 asks for at least 128).
pub fn new_state() -> Result<Secret, RandomError> {
    random_b64(24).map(Secret::new)
}

/// The URL the user opens to sign in.
pub fn authorize_url(cfg: &Endpoints, redirect_uri: &str, state: &Secret, pkce: &Pkce) -> String {
    let scope = cfg.consumer.scopes.join(" ");
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", cfg.consumer.id),
        ("redirect_uri", redirect_uri),
        ("state", state.expose()),
        // Data Center checks PKCE; Cloud accepts and ignores it (bitbucket-facts.md A.3).
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if !scope.is_empty() {
        pairs.push(("scope", scope.as_str()));
    }
    let sep = if cfg.authorize.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{}", cfg.authorize, crate::url::build_query(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_and_state_follow_the_rules() {
        let p = Pkce::new().expect("random");
        let v = p.verifier.expose();
        assert!((43..=128).contains(&v.len()));
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
        let s1 = new_state().expect("random");
        let s2 = new_state().expect("random");
        assert!(s1.expose().len() >= 22 && s1 != s2);
    }
}
