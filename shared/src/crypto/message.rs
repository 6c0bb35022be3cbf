//! Sealing a [`Plaintext`] into an envelope and opening it again.
//!
//! AES-256-GCM with a fresh random 96-bit nonce per message. With random
//! nonces one key should seal fewer than 2^32 messages; a stream keeps at most
//! 1024 at a time and lives for minutes, so that bound is far away.
//!
//! The associated data binds each envelope to its stream:
//!
//! ```text
//! aad = "malten/v1/msg" || 0x00 || stream name as UTF-8
//! ```
//!
//! so an envelope copied into another stream with the same passphrase fails
//! to open there instead of appearing as if it had been said there. The zero
//! byte separates the fixed label from the name; the label contains none.

use aes_gcm::aead::AeadInPlace;
use zeroize::Zeroizing;

use super::envelope::{NONCE_LEN, TAG_LEN};
use super::kdf::StreamKey;
use super::parts;
use super::plaintext::Plaintext;
use super::{random_array, CryptoError};

/// The fixed start of every message's associated data.
pub const MESSAGE_AAD_LABEL: &[u8] = b"malten/v1/msg";

/// The associated data of a message in `stream`.
pub fn message_aad(stream: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MESSAGE_AAD_LABEL.len() + 1 + stream.len());
    aad.extend_from_slice(MESSAGE_AAD_LABEL);
    aad.push(0x00);
    aad.extend_from_slice(stream.as_bytes());
    aad
}

/// Encrypts `plaintext` for `stream` (the stream's name exactly as the
/// server has it) with a fresh random nonce; returns the envelope to post.
///
/// Fails if the plaintext breaks the rules of [`Plaintext::validate`].
pub fn seal(key: &StreamKey, stream: &str, plaintext: &Plaintext) -> Result<String, CryptoError> {
    seal_with_nonce(key, stream, plaintext, random_array()?)
}

/// [`seal`] with a caller-chosen nonce, for test vectors.
///
/// Never use a nonce twice with one key: AES-GCM then leaks the XOR of the
/// two plaintexts and lets anyone forge messages.
pub fn seal_with_nonce(
    key: &StreamKey,
    stream: &str,
    plaintext: &Plaintext,
    nonce: [u8; NONCE_LEN],
) -> Result<String, CryptoError> {
    let mut sealed = parts::padded_plaintext(plaintext)?;
    let tag = key
        .cipher()
        .encrypt_in_place_detached(&nonce.into(), &message_aad(stream), &mut sealed[..])
        .map_err(|_| CryptoError::TooLarge)?;
    sealed.extend_from_slice(&tag);
    Ok(parts::frame(&nonce, &sealed))
}

/// Decrypts an envelope of `stream` and checks what it holds.
///
/// Fails on anything that is not an authentic v1 envelope of this stream
/// under this key, and on an authentic one whose content breaks the format
/// or the rules of [`Plaintext::validate`].
pub fn open(key: &StreamKey, stream: &str, envelope: &str) -> Result<Plaintext, CryptoError> {
    let (nonce, sealed) = parts::unframe_envelope(envelope)?;
    let mut sealed = Zeroizing::new(sealed);
    let ciphertext_len = sealed.len() - TAG_LEN;
    let (ciphertext, tag) = sealed.split_at_mut(ciphertext_len);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("split at TAG_LEN");
    key.cipher()
        .decrypt_in_place_detached(&nonce.into(), &message_aad(stream), ciphertext, &tag.into())
        .map_err(|_| CryptoError::Undecryptable)?;
    parts::plaintext_from_padded(ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::envelope::{
        check_envelope, envelope_len, EnvelopeError, FORMAT_VERSION, HEADER_LEN, MAX_ENVELOPE_LEN,
    };
    use crate::crypto::plaintext::{PlaintextKind, MAX_SENT_AT};
    use crate::crypto::{envelope, padding};
    use crate::text::MessageTextError;

    fn key() -> StreamKey {
        StreamKey::from_bytes([0x42; 32])
    }

    /// Seals raw bytes as if a client had serialized them itself.
    fn seal_raw(key: &StreamKey, stream: &str, content: &[u8]) -> String {
        let mut framed = vec![FORMAT_VERSION];
        framed.extend_from_slice(&[9; NONCE_LEN]);
        framed.extend_from_slice(content);
        padding::pad_in_place(&mut framed, HEADER_LEN).unwrap();
        let tag = key
            .cipher()
            .encrypt_in_place_detached(
                &[9; NONCE_LEN].into(),
                &message_aad(stream),
                &mut framed[HEADER_LEN..],
            )
            .unwrap();
        framed.extend_from_slice(&tag);
        envelope::encode(&framed)
    }

    #[test]
    fn a_sealed_message_opens_in_its_stream_and_passes_the_server_check() {
        let plain = Plaintext::new("hello", PlaintextKind::Message, 1).with_nick("ana");
        let sealed = seal(&key(), "room", &plain).unwrap();
        assert_eq!(check_envelope(&sealed), Ok(()));
        assert_eq!(sealed.len(), envelope_len(256));
        assert_eq!(open(&key(), "room", &sealed), Ok(plain));
    }

    #[test]
    fn the_same_message_sealed_twice_gives_different_envelopes() {
        let plain = Plaintext::new("hello", PlaintextKind::Message, 1);
        assert_ne!(
            seal(&key(), "_", &plain).unwrap(),
            seal(&key(), "_", &plain).unwrap()
        );
    }

    #[test]
    fn the_largest_message_gives_the_largest_envelope() {
        let worst = Plaintext::new("\u{1}".repeat(1024), PlaintextKind::LlmPrompt, MAX_SENT_AT)
            .with_nick("\u{1}".repeat(32));
        let sealed = seal(&key(), "_", &worst).unwrap();
        assert_eq!(sealed.len(), MAX_ENVELOPE_LEN);
        assert_eq!(open(&key(), "_", &sealed), Ok(worst));
    }

    #[test]
    fn sealing_refuses_invalid_plaintext() {
        let blank = Plaintext::new("   ", PlaintextKind::Message, 1);
        assert_eq!(
            seal(&key(), "_", &blank),
            Err(CryptoError::Plaintext(MessageTextError::Blank.into()))
        );
    }

    #[test]
    fn authentic_but_malformed_content_is_refused() {
        let cases: [(&[u8], CryptoError); 4] = [
            (b"not json", CryptoError::Malformed),
            (br#"{"text":"hi"}"#, CryptoError::Malformed),
            (
                br#"{"text":"hi","sent_at":1,"kind":"shout"}"#,
                CryptoError::Malformed,
            ),
            (
                br#"{"text":"","sent_at":1,"kind":"message"}"#,
                CryptoError::Plaintext(MessageTextError::Blank.into()),
            ),
        ];
        for (content, want) in cases {
            let sealed = seal_raw(&key(), "_", content);
            assert_eq!(open(&key(), "_", &sealed), Err(want));
        }
    }

    #[test]
    fn a_missing_padding_marker_is_refused() {
        let mut padded = br#"{"text":"hi","sent_at":1,"kind":"message"}"#.to_vec();
        padded.resize(256, 0);
        let sealed = seal_raw_exact(&padded);
        assert_eq!(open(&key(), "_", &sealed), Err(CryptoError::Malformed));
    }

    /// Seals `content || 0x80` padded with zeros to exactly `padded_len`
    /// bytes, whatever the buckets say.
    fn seal_padded_to(content: &[u8], padded_len: usize) -> String {
        let mut padded = content.to_vec();
        padded.push(0x80);
        padded.resize(padded_len, 0);
        seal_raw_exact(&padded)
    }

    /// docs/crypto.md section 5: a writer may pad to a bigger bucket than
    /// needed, and readers accept it; padding to any length that is not a
    /// bucket (past a bucket, or past the largest) is refused, by the
    /// server's check and by `open`, without decrypting anything.
    #[test]
    fn padding_to_a_bigger_bucket_opens_and_padding_past_a_bucket_is_refused() {
        let content = br#"{"text":"hi","sent_at":1,"kind":"message"}"#;
        let plain = Plaintext::new("hi", PlaintextKind::Message, 1);
        for bucket in padding::BUCKETS {
            let sealed = seal_padded_to(content, bucket);
            assert_eq!(check_envelope(&sealed), Ok(()), "bucket {bucket}");
            assert_eq!(open(&key(), "_", &sealed), Ok(plain.clone()));
        }
        for over in [257, 300, 511, 513, 4097, 8191] {
            let sealed = seal_padded_to(content, over);
            let want = EnvelopeError::BadLength {
                bytes: HEADER_LEN + over + TAG_LEN,
            };
            assert_eq!(check_envelope(&sealed), Err(want.clone()), "{over} bytes");
            assert_eq!(open(&key(), "_", &sealed), Err(CryptoError::Envelope(want)));
        }
        let sealed = seal_padded_to(content, 8192 + 256);
        assert!(sealed.len() > MAX_ENVELOPE_LEN);
        assert_eq!(check_envelope(&sealed), Err(EnvelopeError::TooLong));
        assert_eq!(
            open(&key(), "_", &sealed),
            Err(CryptoError::Envelope(EnvelopeError::TooLong))
        );
    }

    /// After the marker only zeros may follow: a non-zero byte in the
    /// padding means the last non-zero byte is not the marker.
    #[test]
    fn a_non_zero_byte_in_the_padding_is_refused() {
        let mut padded = br#"{"text":"hi","sent_at":1,"kind":"message"}"#.to_vec();
        padded.push(0x80);
        padded.resize(255, 0);
        padded.push(0x01);
        let sealed = seal_raw_exact(&padded);
        assert_eq!(check_envelope(&sealed), Ok(()));
        assert_eq!(open(&key(), "_", &sealed), Err(CryptoError::Malformed));
    }

    /// Seals exactly `padded`, adding no padding of its own, whatever its
    /// length: the framing and AES-GCM only.
    fn seal_raw_exact(padded: &[u8]) -> String {
        let mut framed = vec![FORMAT_VERSION];
        framed.extend_from_slice(&[9; NONCE_LEN]);
        framed.extend_from_slice(padded);
        let tag = key()
            .cipher()
            .encrypt_in_place_detached(
                &[9; NONCE_LEN].into(),
                &message_aad("_"),
                &mut framed[HEADER_LEN..],
            )
            .unwrap();
        framed.extend_from_slice(&tag);
        envelope::encode(&framed)
    }

    #[test]
    fn a_plaintext_post_is_not_an_envelope() {
        assert_eq!(
            open(&key(), "_", "hello"),
            Err(CryptoError::Envelope(EnvelopeError::NotBase64Url))
        );
    }
}
