//! From a passphrase to a stream key: PBKDF2-HMAC-SHA256.
//!
//! PBKDF2 is not the strongest password hash, but it is the one every browser
//! ships in WebCrypto, so a client can derive the key natively (fast) instead
//! of in wasm, and an independent implementation needs no library at all.
//! The iteration count is OWASP's 2023 figure for PBKDF2-HMAC-SHA256 and is
//! stored per stream, so new streams can use more.

use std::fmt;

use aes_gcm::{Aes256Gcm, Key, KeyInit};
use pbkdf2::pbkdf2_hmac;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::params::ParamsError;
use super::{random_array, CryptoError};

/// Fewest PBKDF2 iterations accepted anywhere in the public API.
pub const MIN_ITERATIONS: u32 = 600_000;

/// Most PBKDF2 iterations accepted: a stream's creator chooses the count, and
/// an absurd one would freeze every reader's browser.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Bytes of salt; random per stream, so equal passphrases on two streams give
/// unrelated keys and no table can be precomputed.
pub const SALT_LEN: usize = 16;

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;

/// A salt and an iteration count that are acceptable by construction.
///
/// The fields are private so that a key can only be derived with at least
/// [`MIN_ITERATIONS`]: a weak count cannot slip in through a typo or a hostile
/// stream's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    salt: [u8; SALT_LEN],
    iterations: u32,
}

impl KdfParams {
    /// Accepts `iterations` in `MIN_ITERATIONS..=MAX_ITERATIONS`.
    pub fn new(salt: [u8; SALT_LEN], iterations: u32) -> Result<Self, ParamsError> {
        if iterations < MIN_ITERATIONS {
            return Err(ParamsError::TooFewIterations { iterations });
        }
        if iterations > MAX_ITERATIONS {
            return Err(ParamsError::TooManyIterations { iterations });
        }
        Ok(Self { salt, iterations })
    }

    /// Parameters for a new stream: a fresh random salt and [`MIN_ITERATIONS`].
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            salt: new_salt()?,
            iterations: MIN_ITERATIONS,
        })
    }

    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

/// A fresh random salt for a new stream.
pub fn new_salt() -> Result<[u8; SALT_LEN], CryptoError> {
    random_array()
}

/// A stream's AES-256-GCM key.
///
/// It lives in its own heap allocation, so moving the key around copies a
/// pointer rather than the secret, and the bytes are wiped when it is dropped.
/// `Debug` shows no bytes, so a key cannot leak into a log by accident.
pub struct StreamKey {
    bytes: Box<[u8; KEY_LEN]>,
}

impl StreamKey {
    /// Wraps raw key bytes, for a key derived elsewhere (say, by WebCrypto in
    /// the browser) or kept between page loads; the caller's copy is wiped.
    pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        let key = Self {
            bytes: Box::new(bytes),
        };
        bytes.zeroize();
        key
    }

    /// The raw key, to hand to another implementation or keep for a session.
    /// Whoever holds these bytes can read and write the stream.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The AES-256-GCM instance for this key. Expanding the key costs far
    /// less than encrypting one padded message, so it is not cached.
    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.bytes[..]))
    }
}

impl Clone for StreamKey {
    fn clone(&self) -> Self {
        Self {
            bytes: self.bytes.clone(),
        }
    }
}

impl Drop for StreamKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for StreamKey {}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(..)")
    }
}

/// Derives the stream key from a passphrase.
///
/// The passphrase is normalised to NFC first, so "é" typed as one code point
/// on one keyboard and as "e" plus a combining accent on another give the same
/// key. This takes a noticeable fraction of a second by design: that is what
/// makes guessing passphrases expensive.
pub fn derive_key(passphrase: &str, params: &KdfParams) -> Result<StreamKey, CryptoError> {
    if passphrase.is_empty() {
        return Err(CryptoError::EmptyPassphrase);
    }
    Ok(derive_unchecked(
        passphrase,
        &params.salt,
        params.iterations,
    ))
}

/// PBKDF2 with any iteration count; the public path is [`derive_key`], which
/// only accepts validated [`KdfParams`]. Unit tests call this with a handful
/// of iterations so that property tests stay fast.
pub(crate) fn derive_unchecked(passphrase: &str, salt: &[u8], iterations: u32) -> StreamKey {
    let normalized = Zeroizing::new(passphrase.nfc().collect::<String>());
    let mut key = StreamKey {
        bytes: Box::new([0u8; KEY_LEN]),
    };
    pbkdf2_hmac::<Sha256>(normalized.as_bytes(), salt, iterations, &mut key.bytes[..]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_reject_iteration_counts_outside_the_allowed_range() {
        let salt = [7u8; SALT_LEN];
        assert_eq!(
            KdfParams::new(salt, MIN_ITERATIONS - 1),
            Err(ParamsError::TooFewIterations {
                iterations: MIN_ITERATIONS - 1
            })
        );
        assert_eq!(
            KdfParams::new(salt, MAX_ITERATIONS + 1),
            Err(ParamsError::TooManyIterations {
                iterations: MAX_ITERATIONS + 1
            })
        );
        assert!(KdfParams::new(salt, MIN_ITERATIONS).is_ok());
        assert!(KdfParams::new(salt, MAX_ITERATIONS).is_ok());
    }

    #[test]
    fn pbkdf2_matches_the_rfc_7914_test_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", c=1).
        let key = derive_unchecked("passwd", b"salt", 1);
        assert_eq!(
            hex::encode(key.as_bytes()),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn an_empty_passphrase_is_refused() {
        let params = KdfParams::new([0u8; SALT_LEN], MIN_ITERATIONS).unwrap();
        assert_eq!(
            derive_key("", &params).unwrap_err(),
            CryptoError::EmptyPassphrase
        );
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let key = StreamKey::from_bytes([0xAB; KEY_LEN]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "StreamKey(..)");
    }

    #[test]
    fn generated_params_use_a_fresh_salt_and_the_minimum_count() {
        let a = KdfParams::generate().unwrap();
        let b = KdfParams::generate().unwrap();
        assert_ne!(a.salt(), b.salt());
        assert_eq!(a.iterations(), MIN_ITERATIONS);
    }
}
