//! Identifiers, secrets and their hashes.
//!
//! The original handed out ids from a non-cryptographic generator, so they
//! could be guessed. Here every id is a prefix and 32 lowercase hex digits
//! (128 bits) from the operating system's CSPRNG, secrets and tokens carry
//! 256 bits, and only SHA-256 hashes of secrets and tokens are stored. A
//! plain hash is enough: these values are random, not passwords, so there is
//! nothing to brute-force from a dictionary.

use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The kinds of ids, by prefix.
pub const ORG: &str = "org_";
pub const APP: &str = "app_";
pub const USER: &str = "usr_";
pub const CHANNEL: &str = "chn_";
pub const PARTICIPANT: &str = "prt_";
pub const MESSAGE: &str = "msg_";

/// `bytes` random bytes from the OS, as lowercase hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random source works");
    hex(&buf)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// A new id: `prefix` and 128 random bits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(16))
}

/// Whether `raw` looks like an id of this kind. Used to answer 404 early
/// without a query, never to decide access.
pub fn looks_like(prefix: &str, raw: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() >= 16 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A new client secret for an environment (`sk_production_…`, `sk_test_…`).
pub fn new_secret(environment: &str) -> String {
    format!("sk_{environment}_{}", random_hex(32))
}

/// A new access token.
pub fn new_token() -> String {
    format!("mct_{}", random_hex(32))
}

/// The stored form of a secret or token: SHA-256, hex.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn matches_hash(presented: &str, stored_hash: &str) -> bool {
    hash(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

/// Compares two secrets in constant time (hashing first, so neither the
/// content nor the length leaks through timing).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefix_and_32_lowercase_hex_and_differ() {
        let a = new_id(CHANNEL);
        let b = new_id(CHANNEL);
        assert_ne!(a, b);
        assert_eq!(a.len(), CHANNEL.len() + 32);
        assert!(looks_like(CHANNEL, &a));
        assert!(!looks_like(USER, &a));
        assert!(!looks_like(CHANNEL, "chn_ABCDEF0123456789ABCDEF"));
    }

    #[test]
    fn hashes_match_only_their_secret() {
        let secret = new_secret("test");
        assert!(secret.starts_with("sk_test_"));
        let stored = hash(&secret);
        assert!(matches_hash(&secret, &stored));
        assert!(!matches_hash(&new_secret("test"), &stored));
        assert!(secrets_equal("a", "a"));
        assert!(!secrets_equal("a", "ab"));
    }
}
