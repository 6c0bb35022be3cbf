//! Envelope format v1 in the browser, with WebCrypto doing the heavy work.
//!
//! `malten-shared` is the reference implementation and owns the format:
//! the plaintext JSON, the padding, the byte framing and the associated
//! data all come from it. Only PBKDF2 and AES-256-GCM run in WebCrypto
//! (`crypto.subtle`), which is about ten times faster here than the same
//! Rust compiled to WASM: derivation at 600,000 iterations takes a fraction
//! of a second instead of more than one. The end-to-end tests check that
//! envelopes made by the Rust reference open here and vice versa.

use js_sys::{Array, ArrayBuffer, Object, Uint8Array};
use malten_shared::crypto::{
    self, EncryptionParams, Plaintext, KEY_CHECK_AAD, KEY_CHECK_LABEL, MIN_ITERATIONS, NONCE_LEN,
    SALT_LEN,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, Pbkdf2Params, SubtleCrypto};

/// A stream key, held by WebCrypto as a non-extractable AES-GCM key.
#[derive(Clone, Debug)]
pub struct Key {
    aes: CryptoKey,
}

/// Why a key operation failed; the sentences are shown to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    WrongPassphrase,
    Unreadable,
    Browser(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::WrongPassphrase => f.write_str("That passphrase does not open this stream."),
            KeyError::Unreadable => {
                f.write_str("This message cannot be decrypted with the stream key.")
            }
            KeyError::Browser(what) => write!(f, "The browser's cryptography failed: {what}."),
        }
    }
}

fn browser_error(value: JsValue) -> KeyError {
    KeyError::Browser(
        value
            .dyn_ref::<js_sys::Error>()
            .map(|err| String::from(err.message()))
            .unwrap_or_else(|| "unknown error".into()),
    )
}

fn subtle() -> Result<SubtleCrypto, KeyError> {
    let crypto = web_sys::window()
        .and_then(|window| window.crypto().ok())
        .ok_or_else(|| {
            KeyError::Browser("no WebCrypto (is the page served over HTTPS or localhost?)".into())
        })?;
    Ok(crypto.subtle())
}

/// Fills `buf` from the browser's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), KeyError> {
    let crypto = web_sys::window()
        .and_then(|window| window.crypto().ok())
        .ok_or_else(|| KeyError::Browser("no crypto.getRandomValues".into()))?;
    crypto
        .get_random_values_with_u8_array(buf)
        .map_err(browser_error)?;
    Ok(())
}

/// A strong random passphrase: 24 base64url characters, 144 bits.
pub fn generate_passphrase() -> Result<String, KeyError> {
    let mut bytes = [0u8; 18];
    random_bytes(&mut bytes)?;
    Ok(crypto::encode_base64url(&bytes))
}

fn usages(names: &[&str]) -> Array {
    names.iter().map(|name| JsValue::from_str(name)).collect()
}

async fn resolve(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, KeyError> {
    JsFuture::from(promise.map_err(browser_error)?)
        .await
        .map_err(browser_error)
}

fn bytes_of(buffer: JsValue) -> Vec<u8> {
    Uint8Array::new(&buffer.unchecked_into::<ArrayBuffer>()).to_vec()
}

impl Key {
    /// Derives the stream key from a passphrase (PBKDF2-HMAC-SHA256 over
    /// the NFC form of the passphrase).
    pub async fn derive(passphrase: &str, salt: &[u8], iterations: u32) -> Result<Key, KeyError> {
        let span = crate::perf::Span::start("malten:derive");
        let subtle = subtle()?;
        // NFC through the browser's own Unicode tables (String.normalize),
        // which saves shipping a copy of them in the module.
        let normalized = String::from(js_sys::JsString::from(passphrase).normalize("NFC"));
        let material = Uint8Array::from(normalized.as_bytes());
        let base = resolve(subtle.import_key_with_str(
            "raw",
            &material,
            "PBKDF2",
            false,
            &usages(&["deriveBits"]),
        ))
        .await?
        .unchecked_into::<CryptoKey>();
        let params =
            Pbkdf2Params::new_with_str("PBKDF2", "SHA-256", iterations, &Uint8Array::from(salt));
        let bits = resolve(subtle.derive_bits_with_object(&params, &base, 256)).await?;
        let raw = Uint8Array::new(&bits);
        let aes = resolve(subtle.import_key_with_str(
            "raw",
            &raw,
            "AES-GCM",
            false,
            &usages(&["encrypt", "decrypt"]),
        ))
        .await?
        .unchecked_into::<CryptoKey>();
        // The raw key bytes lived only in that typed array; clear them.
        raw.fill(0, 0, raw.length());
        span.end();
        Ok(Key { aes })
    }

    /// Derives the key for a stream's published parameters and checks it
    /// against the stream's key check before anything is shown or posted.
    pub async fn unlock(passphrase: &str, params: &EncryptionParams) -> Result<Key, KeyError> {
        let kdf = params
            .kdf_params()
            .map_err(|err| KeyError::Browser(err.to_string()))?;
        let key = Key::derive(passphrase, kdf.salt(), kdf.iterations()).await?;
        let (nonce, sealed) =
            crypto::unframe_key_check(&params.check).map_err(|_| KeyError::WrongPassphrase)?;
        let opened = key
            .decrypt(&nonce, &sealed, KEY_CHECK_AAD)
            .await
            .map_err(|_| KeyError::WrongPassphrase)?;
        if opened != KEY_CHECK_LABEL {
            return Err(KeyError::WrongPassphrase);
        }
        Ok(key)
    }

    /// New stream parameters (random salt, the minimum iterations, a key
    /// check) for a passphrase, and the key itself.
    pub async fn create(passphrase: &str) -> Result<(EncryptionParams, Key), KeyError> {
        let mut salt = [0u8; SALT_LEN];
        random_bytes(&mut salt)?;
        let key = Key::derive(passphrase, &salt, MIN_ITERATIONS).await?;
        let nonce = fresh_nonce()?;
        let sealed = key.encrypt(&nonce, KEY_CHECK_LABEL, KEY_CHECK_AAD).await?;
        let params =
            EncryptionParams::from_parts(&salt, MIN_ITERATIONS, crypto::frame(&nonce, &sealed));
        Ok((params, key))
    }

    async fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        data: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let params = gcm(nonce, aad);
        let sealed =
            resolve(subtle()?.encrypt_with_object_and_u8_array(&params, &self.aes, data)).await?;
        Ok(bytes_of(sealed))
    }

    async fn decrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let params = gcm(nonce, aad);
        let opened = JsFuture::from(
            subtle()?
                .decrypt_with_object_and_u8_array(&params, &self.aes, sealed)
                .map_err(browser_error)?,
        )
        .await
        .map_err(|_| KeyError::Unreadable)?;
        Ok(bytes_of(opened))
    }

    /// Seals a message for `stream` into an envelope.
    pub async fn seal(&self, stream: &str, plaintext: &Plaintext) -> Result<String, KeyError> {
        let padded = crypto::padded_plaintext(plaintext)
            .map_err(|err| KeyError::Browser(err.to_string()))?;
        let nonce = fresh_nonce()?;
        let sealed = self
            .encrypt(&nonce, &padded, &crypto::message_aad(stream))
            .await?;
        Ok(crypto::frame(&nonce, &sealed))
    }

    /// Opens an envelope of `stream`.
    pub async fn open(&self, stream: &str, envelope: &str) -> Result<Plaintext, KeyError> {
        let (nonce, sealed) =
            crypto::unframe_envelope(envelope).map_err(|_| KeyError::Unreadable)?;
        let padded = self
            .decrypt(&nonce, &sealed, &crypto::message_aad(stream))
            .await?;
        crypto::plaintext_from_padded(&padded).map_err(|_| KeyError::Unreadable)
    }
}

fn fresh_nonce() -> Result<[u8; NONCE_LEN], KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    Ok(nonce)
}

fn gcm(nonce: &[u8; NONCE_LEN], aad: &[u8]) -> Object {
    let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
    params.set_additional_data_u8_array(&Uint8Array::from(aad));
    params.set_tag_length(128);
    params.into()
}
