//! The envelope: what the server stores and relays in place of a text.
//!
//! ```text
//! base64url-without-padding( 0x01 || nonce (12 bytes) || ciphertext (bucket bytes) || tag (16 bytes) )
//! ```
//!
//! Because the padded plaintext is always exactly one bucket long, an envelope
//! has one of only six lengths, and the server can check that without a key.
//! That keeps plaintext out of an encrypted stream (a client that forgot to
//! encrypt is refused, not relayed) and bounds what it stores.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::padding::{BUCKETS, MAX_BUCKET};

/// The first byte of every v1 envelope and key check. A later format gets a
/// new number, so old clients can say "unsupported" instead of "tampered".
pub const FORMAT_VERSION: u8 = 0x01;

/// Bytes of an AES-GCM nonce (96 bits, random per message).
pub const NONCE_LEN: usize = 12;

/// Bytes of an AES-GCM authentication tag (128 bits).
pub const TAG_LEN: usize = 16;

/// Bytes before the ciphertext: the version byte and the nonce.
pub(crate) const HEADER_LEN: usize = 1 + NONCE_LEN;

/// Bytes an envelope adds around the padded plaintext.
pub(crate) const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Characters of base64url without padding that encode `bytes` bytes.
pub(crate) const fn base64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Characters of an envelope whose plaintext was padded to `bucket` bytes.
pub const fn envelope_len(bucket: usize) -> usize {
    base64_len(OVERHEAD + bucket)
}

/// Longest envelope, in characters: a maximal message padded to 8192 bytes,
/// 8221 bytes in all, is 10,962 characters of base64url. The server can use
/// it as the bound on a posted text in an encrypted stream.
pub const MAX_ENVELOPE_LEN: usize = envelope_len(MAX_BUCKET);

/// Why a string is not a v1 envelope.
///
/// No variant repeats any of the input: it may be a plaintext that a client
/// posted by mistake, and errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("an encrypted message is at most {MAX_ENVELOPE_LEN} characters")]
    TooLong,
    #[error("an encrypted message must be base64url without padding")]
    NotBase64Url,
    #[error("unsupported encryption format version")]
    UnsupportedVersion,
    #[error("an encrypted message of {bytes} bytes does not match any padding bucket")]
    BadLength { bytes: usize },
}

/// Checks that `envelope` is structurally a v1 envelope, without any key.
///
/// This is what the server runs on every post to an encrypted stream. It
/// proves nothing about who wrote the envelope or whether it decrypts; it
/// only rules out plaintext, other formats and oversized input.
pub fn check_envelope(envelope: &str) -> Result<(), EnvelopeError> {
    decode(envelope).map(|_| ())
}

/// Decodes and checks the framing; returns the whole decoded envelope.
pub(crate) fn decode(envelope: &str) -> Result<Vec<u8>, EnvelopeError> {
    // Bound the work before decoding anything. Bytes, not characters: a
    // valid envelope is ASCII, so anything longer in bytes is invalid anyway.
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLong);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(envelope)
        .map_err(|_| EnvelopeError::NotBase64Url)?;
    // The version comes before the length, so that a later format with other
    // sizes is reported as what it is.
    if bytes
        .first()
        .is_some_and(|&version| version != FORMAT_VERSION)
    {
        return Err(EnvelopeError::UnsupportedVersion);
    }
    if !BUCKETS
        .iter()
        .any(|&bucket| bytes.len() == OVERHEAD + bucket)
    {
        return Err(EnvelopeError::BadLength { bytes: bytes.len() });
    }
    Ok(bytes)
}

/// Splits a framed value (`0x01 || nonce || ciphertext || tag`) whose length
/// has been checked into its parts.
pub(crate) fn split(framed: &mut [u8]) -> (&[u8; NONCE_LEN], &mut [u8], &[u8; TAG_LEN]) {
    let (header, rest) = framed.split_at_mut(HEADER_LEN);
    let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = (&header[1..]).try_into().expect("header holds the nonce");
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("split at TAG_LEN");
    (nonce, ciphertext, tag)
}

pub(crate) fn encode(framed: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(framed)
}

pub(crate) fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maximum_envelope_is_10962_characters() {
        assert_eq!(MAX_ENVELOPE_LEN, 10_962);
        assert_eq!(
            BUCKETS.map(envelope_len),
            [380, 722, 1404, 2770, 5500, 10_962]
        );
    }

    #[test]
    fn plaintext_posts_are_rejected_without_echoing_them() {
        let cases = [
            ("hello", EnvelopeError::NotBase64Url),
            ("hello world", EnvelopeError::NotBase64Url),
            ("", EnvelopeError::BadLength { bytes: 0 }),
            // Valid base64url, but a text rather than a v1 envelope.
            ("aGVsbG8", EnvelopeError::UnsupportedVersion),
        ];
        for (input, want) in cases {
            let err = check_envelope(input).unwrap_err();
            assert_eq!(err, want, "input {input:?}");
            assert!(input.is_empty() || !err.to_string().contains(input));
        }
    }

    #[test]
    fn only_the_bucket_lengths_are_accepted() {
        for bucket in BUCKETS {
            let mut framed = vec![0u8; OVERHEAD + bucket];
            framed[0] = FORMAT_VERSION;
            assert_eq!(check_envelope(&encode(&framed)), Ok(()));
            framed.pop();
            assert_eq!(
                check_envelope(&encode(&framed)),
                Err(EnvelopeError::BadLength {
                    bytes: OVERHEAD + bucket - 1
                })
            );
        }
    }

    #[test]
    fn other_versions_padding_and_oversized_input_are_rejected() {
        let mut framed = vec![0u8; OVERHEAD + 256];
        framed[0] = 0x02;
        assert_eq!(
            check_envelope(&encode(&framed)),
            Err(EnvelopeError::UnsupportedVersion)
        );
        framed[0] = FORMAT_VERSION;
        // 285 bytes encode to 380 characters with no padding needed; 286
        // bytes would need "==" in standard base64.
        framed.push(0);
        let padded = base64::engine::general_purpose::URL_SAFE.encode(&framed);
        assert!(padded.ends_with('='));
        assert_eq!(check_envelope(&padded), Err(EnvelopeError::NotBase64Url));
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode([0xFBu8; 300]);
        assert_eq!(check_envelope(&standard), Err(EnvelopeError::NotBase64Url));
        let huge = "A".repeat(MAX_ENVELOPE_LEN + 1);
        assert_eq!(check_envelope(&huge), Err(EnvelopeError::TooLong));
    }
}
