//! Format v1 in pieces, for clients that bring their own AES-256-GCM.
//!
//! The web app runs PBKDF2 and AES-GCM in the browser's WebCrypto, which is
//! about ten times faster than this crate compiled to WASM, but everything
//! else (normalising the passphrase, the plaintext JSON, the padding, the
//! framing, the associated data) comes from here, so there is one
//! implementation of the format. [`seal`](super::seal) and
//! [`open`](super::open) are built from the same pieces.
//!
//! "Sealed" below means AES-GCM output: ciphertext followed by the 16-byte
//! tag, as both the `aes-gcm` crate and WebCrypto produce it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::envelope::{self, FORMAT_VERSION, HEADER_LEN, NONCE_LEN};
use super::key_check::{is_well_formed, KEY_CHECK_BYTES};
use super::padding;
use super::plaintext::Plaintext;
use super::CryptoError;

/// The passphrase in Unicode NFC, the form PBKDF2 is run over.
pub fn normalize_passphrase(passphrase: &str) -> Zeroizing<String> {
    Zeroizing::new(passphrase.nfc().collect())
}

/// The plaintext as JSON, padded to its bucket: what AES-GCM encrypts.
pub fn padded_plaintext(plaintext: &Plaintext) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    plaintext.validate()?;
    let mut buffer = Zeroizing::new(Vec::with_capacity(padding::MAX_BUCKET));
    serde_json::to_writer(&mut *buffer, plaintext).map_err(|_| CryptoError::TooLarge)?;
    padding::pad_in_place(&mut buffer, 0).ok_or(CryptoError::TooLarge)?;
    Ok(buffer)
}

/// The plaintext inside decrypted, padded bytes, checked against the rules.
pub fn plaintext_from_padded(padded: &[u8]) -> Result<Plaintext, CryptoError> {
    let json = padding::unpad(padded).ok_or(CryptoError::Malformed)?;
    // serde reads a struct from a JSON array too (`["hi",null,1,"message"]`);
    // the format says object, so anything else is refused before parsing.
    if !starts_with_object(json) {
        return Err(CryptoError::Malformed);
    }
    let plaintext: Plaintext = serde_json::from_slice(json).map_err(|_| CryptoError::Malformed)?;
    plaintext.validate()?;
    Ok(plaintext)
}

/// Whether the first byte after JSON whitespace (RFC 8259: space, tab, LF,
/// CR) opens an object.
fn starts_with_object(json: &[u8]) -> bool {
    json.iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&byte| byte == b'{')
}

/// `base64url(0x01 || nonce || sealed)`: an envelope, or a key check.
pub fn frame(nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> String {
    let mut framed = Zeroizing::new(Vec::with_capacity(HEADER_LEN + sealed.len()));
    framed.push(FORMAT_VERSION);
    framed.extend_from_slice(nonce);
    framed.extend_from_slice(sealed);
    envelope::encode(&framed)
}

/// The nonce and sealed bytes of a structurally valid envelope.
pub fn unframe_envelope(envelope: &str) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    let framed = envelope::decode(envelope)?;
    Ok(split_header(framed))
}

/// The nonce and sealed bytes of a well-formed key check.
pub fn unframe_key_check(check: &str) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    if !is_well_formed(check) {
        return Err(CryptoError::Malformed);
    }
    let framed = envelope::decode_base64url(check).ok_or(CryptoError::Malformed)?;
    debug_assert_eq!(framed.len(), KEY_CHECK_BYTES);
    Ok(split_header(framed))
}

fn split_header(mut framed: Vec<u8>) -> ([u8; NONCE_LEN], Vec<u8>) {
    let nonce: [u8; NONCE_LEN] = framed[1..HEADER_LEN]
        .try_into()
        .expect("length was checked");
    framed.drain(..HEADER_LEN);
    (nonce, framed)
}

/// Base64url without padding, the encoding of every binary field in v1.
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{derive_unchecked, StreamKey};
    use crate::crypto::message::message_aad;
    use crate::crypto::{open, seal_with_nonce, PlaintextKind};
    use aes_gcm::aead::Aead;

    fn key() -> StreamKey {
        derive_unchecked("pieces", b"0123456789abcdef", 2)
    }

    /// The encoding of salts and keys the web app sends: base64url, no
    /// padding, as docs/crypto.md section 1 says.
    #[test]
    fn binary_fields_are_base64url_without_padding() {
        assert_eq!(encode_base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(encode_base64url(b"malten"), "bWFsdGVu");
        assert_eq!(encode_base64url(&[]), "");
    }

    #[test]
    fn the_pieces_make_the_same_envelope_as_seal() {
        let key = key();
        let plaintext = Plaintext::new("hello", PlaintextKind::Message, 1).with_nick("ann");
        let nonce = [7u8; NONCE_LEN];
        let padded = padded_plaintext(&plaintext).unwrap();
        let sealed = key
            .cipher()
            .encrypt(
                &nonce.into(),
                aes_gcm::aead::Payload {
                    msg: &padded,
                    aad: &message_aad("s"),
                },
            )
            .unwrap();
        let by_pieces = frame(&nonce, &sealed);
        assert_eq!(
            by_pieces,
            seal_with_nonce(&key, "s", &plaintext, nonce).unwrap()
        );
        let (nonce_back, sealed_back) = unframe_envelope(&by_pieces).unwrap();
        assert_eq!((nonce_back, sealed_back), (nonce, sealed));
        assert_eq!(open(&key, "s", &by_pieces).unwrap(), plaintext);
    }

    #[test]
    fn padded_plaintext_round_trips_and_rejects_unpadded_bytes() {
        let plaintext = Plaintext::new("x", PlaintextKind::LlmReply, 5);
        let padded = padded_plaintext(&plaintext).unwrap();
        assert_eq!(padded.len(), 256);
        assert_eq!(plaintext_from_padded(&padded).unwrap(), plaintext);
        assert!(plaintext_from_padded(b"{\"text\":\"x\"}").is_err());
    }

    #[test]
    fn passphrases_are_normalized_to_nfc() {
        assert_eq!(normalize_passphrase("e\u{301}").as_str(), "\u{e9}");
    }

    #[test]
    fn key_checks_unframe_and_plain_text_does_not() {
        let check = crate::crypto::make_key_check_with_nonce(&key(), [1; NONCE_LEN]);
        let (nonce, sealed) = unframe_key_check(&check).unwrap();
        assert_eq!(nonce, [1; NONCE_LEN]);
        assert_eq!(sealed.len(), KEY_CHECK_BYTES - HEADER_LEN);
        assert!(unframe_key_check("hello").is_err());
        assert!(unframe_envelope("hello").is_err());
    }
}
