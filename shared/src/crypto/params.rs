//! A stream's encryption parameters, kept by the server as opaque metadata.
//!
//! ```json
//! {"kdf":"pbkdf2-sha256","salt":"<22 chars>","iterations":600000,"check":"<64 chars>"}
//! ```
//!
//! The creator makes them with [`EncryptionParams::new`] and sends them when
//! creating the stream; the server runs [`EncryptionParams::validate`] and
//! stores them; every client reads them back from the stream's info, derives
//! the key from its passphrase and tests it with
//! [`EncryptionParams::verify_key`]. None of this is secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::envelope::base64_len;
use super::kdf::{KdfParams, StreamKey, MAX_ITERATIONS, MIN_ITERATIONS, SALT_LEN};
use super::key_check::{self, make_key_check, verify_key_check, KEY_CHECK_BYTES};
use super::CryptoError;

/// The only key derivation of format v1.
pub const KDF_NAME: &str = "pbkdf2-sha256";

/// How a stream's key is derived and how to tell it is the right one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionParams {
    /// Always [`KDF_NAME`] in v1; named so a later version can change it.
    pub kdf: String,
    /// The 16-byte salt, base64url without padding (22 characters).
    pub salt: String,
    /// PBKDF2 iterations, [`MIN_ITERATIONS`] to [`MAX_ITERATIONS`]. Stored
    /// rather than implied so that new streams can use more as machines get
    /// faster, without breaking old ones.
    pub iterations: u32,
    /// The key check (see [`key_check`]), 64 characters.
    pub check: String,
}

/// Why encryption parameters are not acceptable. Salt and check are public,
/// but like every error here these do not repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    #[error("unsupported key derivation; expected {KDF_NAME}")]
    UnsupportedKdf,
    #[error("the salt must be {SALT_LEN} bytes of base64url without padding")]
    BadSalt,
    #[error("{iterations} iterations are too few; the minimum is {MIN_ITERATIONS}")]
    TooFewIterations { iterations: u32 },
    #[error("{iterations} iterations are too many; the maximum is {MAX_ITERATIONS}")]
    TooManyIterations { iterations: u32 },
    #[error("the key check must be {KEY_CHECK_BYTES} bytes of base64url without padding, starting with the version byte 0x01")]
    BadCheck,
}

impl EncryptionParams {
    /// Parameters for a new stream whose key `key` was derived with `kdf`;
    /// makes the key check with a fresh nonce.
    pub fn new(kdf: &KdfParams, key: &StreamKey) -> Result<Self, CryptoError> {
        Ok(Self {
            kdf: KDF_NAME.to_owned(),
            salt: URL_SAFE_NO_PAD.encode(kdf.salt()),
            iterations: kdf.iterations(),
            check: make_key_check(key)?,
        })
    }

    /// Parameters from their parts, for clients that derive keys and make
    /// the key check themselves (WebCrypto); [`validate`](Self::validate)
    /// before trusting them.
    pub fn from_parts(salt: &[u8], iterations: u32, check: String) -> Self {
        Self {
            kdf: KDF_NAME.to_owned(),
            salt: URL_SAFE_NO_PAD.encode(salt),
            iterations,
            check,
        }
    }

    /// Checks everything that can be checked without the passphrase. The
    /// server runs this before storing; a client should too before spending
    /// a second on key derivation.
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.kdf_params()?;
        if !key_check::is_well_formed(&self.check) {
            return Err(ParamsError::BadCheck);
        }
        Ok(())
    }

    /// The salt and iteration count, validated, ready for
    /// [`derive_key`](super::derive_key).
    pub fn kdf_params(&self) -> Result<KdfParams, ParamsError> {
        if self.kdf != KDF_NAME {
            return Err(ParamsError::UnsupportedKdf);
        }
        let salt = (self.salt.len() == base64_len(SALT_LEN))
            .then(|| URL_SAFE_NO_PAD.decode(&self.salt).ok())
            .flatten()
            .and_then(|bytes| <[u8; SALT_LEN]>::try_from(bytes).ok())
            .ok_or(ParamsError::BadSalt)?;
        KdfParams::new(salt, self.iterations)
    }

    /// True iff `key` is this stream's key, i.e. the passphrase was right.
    pub fn verify_key(&self, key: &StreamKey) -> bool {
        verify_key_check(key, &self.check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> EncryptionParams {
        let kdf = KdfParams::new([5; SALT_LEN], MIN_ITERATIONS).unwrap();
        EncryptionParams::new(&kdf, &StreamKey::from_bytes([3; 32])).unwrap()
    }

    #[test]
    fn parameters_made_for_a_key_validate_and_verify_it() {
        let params = good();
        assert_eq!(params.validate(), Ok(()));
        assert_eq!(params.salt.len(), 22);
        assert_eq!(params.kdf_params().unwrap().salt(), &[5; SALT_LEN]);
        assert!(params.verify_key(&StreamKey::from_bytes([3; 32])));
        assert!(!params.verify_key(&StreamKey::from_bytes([4; 32])));
    }

    #[test]
    fn serializes_with_the_documented_field_names() {
        let json = serde_json::to_value(good()).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["check", "iterations", "kdf", "salt"]);
        assert_eq!(json["kdf"], "pbkdf2-sha256");
        assert_eq!(json["iterations"], 600_000);
    }

    #[test]
    fn rejects_each_kind_of_bad_parameters() {
        let short_salt = URL_SAFE_NO_PAD.encode([5u8; 15]);
        let long_salt = URL_SAFE_NO_PAD.encode([5u8; 17]);
        let mut wrong_version = URL_SAFE_NO_PAD.decode(good().check).unwrap();
        wrong_version[0] = 2;
        let short_check = URL_SAFE_NO_PAD.encode([1u8; KEY_CHECK_BYTES - 3]);
        type Edit = Box<dyn Fn(&mut EncryptionParams)>;
        let cases: Vec<(Edit, ParamsError)> = vec![
            (
                Box::new(|p| p.kdf = "argon2id".into()),
                ParamsError::UnsupportedKdf,
            ),
            (
                Box::new(|p| p.salt = "not base64!".into()),
                ParamsError::BadSalt,
            ),
            // Non-canonical: the last character has bits set past the 16 bytes.
            (
                Box::new(|p| p.salt = format!("{}B", "A".repeat(21))),
                ParamsError::BadSalt,
            ),
            (
                Box::new(move |p| p.salt = short_salt.clone()),
                ParamsError::BadSalt,
            ),
            (
                Box::new(move |p| p.salt = long_salt.clone()),
                ParamsError::BadSalt,
            ),
            (
                Box::new(|p| p.iterations = 100_000),
                ParamsError::TooFewIterations {
                    iterations: 100_000,
                },
            ),
            (
                Box::new(|p| p.iterations = u32::MAX),
                ParamsError::TooManyIterations {
                    iterations: u32::MAX,
                },
            ),
            (Box::new(|p| p.check = String::new()), ParamsError::BadCheck),
            (
                Box::new(|p| p.check = "hello".into()),
                ParamsError::BadCheck,
            ),
            (
                Box::new(move |p| p.check = short_check.clone()),
                ParamsError::BadCheck,
            ),
            (
                Box::new(move |p| p.check = URL_SAFE_NO_PAD.encode(&wrong_version)),
                ParamsError::BadCheck,
            ),
        ];
        for (edit, want) in cases {
            let mut params = good();
            edit(&mut params);
            assert_eq!(params.validate(), Err(want), "{params:?}");
        }
    }
}
