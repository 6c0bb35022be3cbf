//! The key check: tells a client whether its passphrase is the stream's.
//!
//! Without it, a mistyped passphrase would show up only as "every message
//! fails to decrypt", and worse, a client could post messages nobody else can
//! read. The creator encrypts a fixed label under the stream key and stores
//! the result with the stream; a client that decrypts it back to the label has
//! the right key.
//!
//! ```text
//! check = base64url-without-padding( 0x01 || nonce (12) || AES-256-GCM(key, nonce,
//!             plaintext = "malten key check v1", aad = "malten/v1/check") )
//! ```
//!
//! The check is as hard to attack as the key itself: it lets an attacker test
//! passphrase guesses offline, but so does any stored envelope, which is why
//! the key derivation is deliberately slow.

use aes_gcm::aead::AeadInPlace;

use super::envelope::{self, FORMAT_VERSION, HEADER_LEN, NONCE_LEN, TAG_LEN};
use super::kdf::StreamKey;
use super::{random_array, CryptoError};

/// The plaintext of every key check.
pub const KEY_CHECK_LABEL: &[u8] = b"malten key check v1";

/// The associated data of a key check; differs from every message's, so a
/// key check can never be passed off as a message or the other way round.
pub const KEY_CHECK_AAD: &[u8] = b"malten/v1/check";

/// Bytes of a decoded key check: 48.
pub const KEY_CHECK_BYTES: usize = HEADER_LEN + KEY_CHECK_LABEL.len() + TAG_LEN;

/// Characters of a key check: 64.
pub const KEY_CHECK_LEN: usize = envelope::base64_len(KEY_CHECK_BYTES);

/// Makes a key check for `key` with a fresh random nonce.
pub fn make_key_check(key: &StreamKey) -> Result<String, CryptoError> {
    Ok(make_key_check_with_nonce(key, random_array()?))
}

/// Makes a key check with the given nonce. Only for test vectors: never reuse
/// a nonce that has encrypted anything else under the same key.
pub fn make_key_check_with_nonce(key: &StreamKey, nonce: [u8; NONCE_LEN]) -> String {
    let mut framed = Vec::with_capacity(KEY_CHECK_BYTES);
    framed.push(FORMAT_VERSION);
    framed.extend_from_slice(&nonce);
    framed.extend_from_slice(KEY_CHECK_LABEL);
    let tag = key
        .cipher()
        .encrypt_in_place_detached(&nonce.into(), KEY_CHECK_AAD, &mut framed[HEADER_LEN..])
        .expect("AES-GCM encrypts a 19-byte label");
    framed.extend_from_slice(&tag);
    envelope::encode(&framed)
}

/// True iff `check` is a v1 key check that decrypts under `key` to the label.
///
/// Anything malformed is simply "not this key": a client reacts the same way
/// to both, by asking for the passphrase again.
pub fn verify_key_check(key: &StreamKey, check: &str) -> bool {
    if check.len() != KEY_CHECK_LEN {
        return false;
    }
    let Some(mut framed) = envelope::decode_base64url(check) else {
        return false;
    };
    if framed.len() != KEY_CHECK_BYTES || framed[0] != FORMAT_VERSION {
        return false;
    }
    let (nonce, ciphertext, tag) = envelope::split(&mut framed);
    let (nonce, tag) = ((*nonce).into(), (*tag).into());
    key.cipher()
        .decrypt_in_place_detached(&nonce, KEY_CHECK_AAD, ciphertext, &tag)
        .is_ok_and(|()| ciphertext == KEY_CHECK_LABEL)
}

/// The structural part of [`verify_key_check`], for the server, which has no
/// key: the right length, base64url, the v1 version byte.
pub(crate) fn is_well_formed(check: &str) -> bool {
    check.len() == KEY_CHECK_LEN
        && envelope::decode_base64url(check)
            .is_some_and(|bytes| bytes.len() == KEY_CHECK_BYTES && bytes[0] == FORMAT_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_check_is_64_characters() {
        assert_eq!(KEY_CHECK_BYTES, 48);
        assert_eq!(KEY_CHECK_LEN, 64);
        let check = make_key_check(&StreamKey::from_bytes([1; 32])).unwrap();
        assert_eq!(check.len(), KEY_CHECK_LEN);
        assert!(is_well_formed(&check));
    }

    #[test]
    fn the_check_verifies_only_under_its_own_key() {
        let key = StreamKey::from_bytes([1; 32]);
        let check = make_key_check(&key).unwrap();
        assert!(verify_key_check(&key, &check));
        assert!(!verify_key_check(&StreamKey::from_bytes([2; 32]), &check));
    }

    #[test]
    fn malformed_checks_are_simply_not_this_key() {
        let key = StreamKey::from_bytes([1; 32]);
        let check = make_key_check(&key).unwrap();
        let mut wrong_version = envelope::decode_base64url(&check).unwrap();
        wrong_version[0] = 2;
        for bad in [
            String::new(),
            "hello".to_owned(),
            check[..63].to_owned(),
            format!("{check}A"),
            check.replace(|c: char| c.is_ascii_digit(), "+"),
            envelope::encode(&wrong_version),
        ] {
            if bad != check {
                assert!(!verify_key_check(&key, &bad), "{bad:?}");
            }
        }
    }
}
