//! End-to-end encryption of a stream's messages, format v1.
//!
//! Everyone who knows a stream's passphrase derives the same key, and the
//! server only ever relays and stores opaque envelopes: it can check their
//! shape ([`check_envelope`]) but not read or forge them. `docs/crypto.md` is
//! the normative description, written for people implementing another client;
//! this module is the reference implementation, and
//! `shared/tests/vectors/crypto-v1.json` pins both to the same bytes.
//!
//! In short:
//! - key: PBKDF2-HMAC-SHA256 over the NFC passphrase, a 16-byte random salt and
//!   at least [`MIN_ITERATIONS`] iterations ([`kdf`]);
//! - message: a small JSON object ([`Plaintext`]), padded to one of a few
//!   bucket sizes so its length says little ([`padding`]), sealed with
//!   AES-256-GCM under a fresh random nonce and bound to its stream by the
//!   associated data ([`seal`], [`open`]);
//! - on the wire: `base64url(0x01 || nonce || ciphertext || tag)` ([`envelope`]);
//! - per stream, the server keeps [`EncryptionParams`]: the salt, the iteration
//!   count and a key check, which lets a client tell a wrong passphrase before
//!   it shows or posts anything ([`key_check`]).
//!
//! What it does not give: forward secrecy, sender authentication, or any
//! separation between members: whoever has the passphrase can read everything
//! still stored and write as anyone.
//!
//! # Layout
//! - [`kdf`]: [`KdfParams`], [`StreamKey`] and [`derive_key`].
//! - [`key_check`]: [`make_key_check`] and [`verify_key_check`].
//! - [`plaintext`]: [`Plaintext`], what an envelope contains.
//! - [`padding`]: the bucket sizes and the `0x80 0x00…` padding rule.
//! - [`envelope`]: the byte layout, its size limits and [`check_envelope`],
//!   the structural check the server runs without any key.
//! - [`message`]: [`seal`] and [`open`].
//! - [`params`]: [`EncryptionParams`], the per-stream metadata on the server.
//! - [`parts`]: the same format in pieces, for clients (the web app) that run
//!   PBKDF2 and AES-GCM in WebCrypto.
//! - [`error`]: [`CryptoError`], what sealing, opening and deriving can fail with.

pub mod envelope;
pub mod error;
pub mod kdf;
pub mod key_check;
pub mod message;
pub mod padding;
pub mod params;
pub mod parts;
pub mod plaintext;

#[cfg(test)]
mod tests;

pub use envelope::{
    check_envelope, envelope_len, EnvelopeError, FORMAT_VERSION, MAX_ENVELOPE_LEN, NONCE_LEN,
    TAG_LEN,
};
pub use error::CryptoError;
pub use kdf::{
    derive_key, new_salt, KdfParams, StreamKey, KEY_LEN, MAX_ITERATIONS, MIN_ITERATIONS, SALT_LEN,
};
pub use key_check::{
    make_key_check, make_key_check_with_nonce, verify_key_check, KEY_CHECK_AAD, KEY_CHECK_LABEL,
};
pub use message::{message_aad, open, seal, seal_with_nonce};
pub use padding::BUCKETS;
pub use params::{EncryptionParams, ParamsError, KDF_NAME};
pub use parts::{
    encode_base64url, frame, normalize_passphrase, padded_plaintext, plaintext_from_padded,
    unframe_envelope, unframe_key_check,
};
pub use plaintext::{Plaintext, PlaintextError, PlaintextKind, MAX_NICK_CHARS, MAX_SENT_AT};

/// Fills an array from the platform's secure random source
/// (`crypto.getRandomValues` in the browser).
///
/// Nonces must never repeat under one key, and with AES-GCM a repeat is
/// catastrophic, so a failing source is an error, never a fallback.
fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(CryptoError::Random)?;
    Ok(out)
}
