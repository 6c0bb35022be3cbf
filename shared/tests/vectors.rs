//! The test vectors of format v1 (`tests/vectors/crypto-v1.json`), checked
//! both ways: Rust derives the same key, makes the same key check and seals
//! the same envelope byte for byte, and opens the envelope to the plaintext.
//!
//! The vectors were made by an independent implementation on Node's
//! WebCrypto (`tests/interop/make-vectors.mjs`), so passing them means the
//! two agree, not merely that Rust agrees with itself.

use malten_shared::crypto::message::message_aad;
use malten_shared::crypto::{
    check_envelope, derive_key, make_key_check_with_nonce, open, seal_with_nonce, verify_key_check,
    EncryptionParams, Plaintext, StreamKey, BUCKETS, KDF_NAME, MAX_ENVELOPE_LEN, NONCE_LEN,
    SALT_LEN,
};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Deserialize)]
struct VectorFile {
    format: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    passphrase: String,
    passphrase_utf8: String,
    passphrase_nfc_utf8: String,
    salt: String,
    iterations: u32,
    key: String,
    check_nonce: String,
    check: String,
    stream: String,
    aad: String,
    nonce: String,
    plaintext: Plaintext,
    plaintext_json: String,
    plaintext_json_bytes: usize,
    padded_len: usize,
    envelope: String,
}

fn load() -> VectorFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/crypto-v1.json");
    let text = std::fs::read_to_string(path).expect("read the vectors file");
    serde_json::from_str(&text).expect("parse the vectors file")
}

fn nonce(hex_text: &str) -> [u8; NONCE_LEN] {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

#[test]
fn the_vector_file_covers_the_required_cases() {
    let file = load();
    assert_eq!(file.format, "malten encryption v1");
    let names: Vec<&str> = file.vectors.iter().map(|v| v.name.as_str()).collect();
    for required in [
        "ascii",
        "passphrase-not-nfc",
        "passphrase-nfc",
        "multibyte-with-nick",
        "llm-reply",
        "max-length-worst-case",
    ] {
        assert!(names.contains(&required), "missing vector {required}");
    }
    let worst = file
        .vectors
        .iter()
        .find(|v| v.name == "max-length-worst-case")
        .unwrap();
    assert_eq!(worst.plaintext.text.chars().count(), 1024);
    assert_eq!(worst.envelope.len(), MAX_ENVELOPE_LEN);
}

#[test]
fn every_vector_opens_to_its_plaintext_with_the_key_it_lists() {
    for v in load().vectors {
        let key = StreamKey::from_bytes(hex::decode(&v.key).unwrap().try_into().unwrap());
        assert_eq!(check_envelope(&v.envelope), Ok(()), "{}", v.name);
        assert_eq!(
            open(&key, &v.stream, &v.envelope).as_ref(),
            Ok(&v.plaintext),
            "{}",
            v.name
        );
        assert!(verify_key_check(&key, &v.check), "{}", v.name);
        // Bound to its stream: the same envelope fails anywhere else.
        assert!(open(&key, &format!("{}x", v.stream), &v.envelope).is_err());
    }
}

/// Derives every vector's key, once per distinct input and on all cores:
/// 600,000 iterations are slow in an unoptimised test build.
fn derive_all(vectors: &[Vector]) -> Vec<StreamKey> {
    let mut inputs: Vec<(&str, &str, u32)> = vectors
        .iter()
        .map(|v| (v.passphrase.as_str(), v.salt.as_str(), v.iterations))
        .collect();
    inputs.sort();
    inputs.dedup();
    let derived: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|&(passphrase, salt, iterations)| {
                scope.spawn(move || {
                    let params = EncryptionParams {
                        kdf: KDF_NAME.to_owned(),
                        salt: salt.to_owned(),
                        iterations,
                        check: String::new(),
                    };
                    derive_key(passphrase, &params.kdf_params().unwrap()).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    vectors
        .iter()
        .map(|v| {
            let input = (v.passphrase.as_str(), v.salt.as_str(), v.iterations);
            derived[inputs.binary_search(&input).unwrap()].clone()
        })
        .collect()
}

#[test]
fn every_vector_is_reproduced_byte_for_byte_from_its_inputs() {
    let vectors = load().vectors;
    let keys = derive_all(&vectors);
    for (v, key) in vectors.iter().zip(keys) {
        let name = &v.name;
        assert_eq!(hex::encode(v.passphrase.as_bytes()), v.passphrase_utf8);
        let nfc: String = v.passphrase.nfc().collect();
        assert_eq!(hex::encode(nfc.as_bytes()), v.passphrase_nfc_utf8);
        assert_eq!(hex::encode(key.as_bytes()), v.key, "{name}: key");

        let params = EncryptionParams {
            kdf: KDF_NAME.to_owned(),
            salt: v.salt.clone(),
            iterations: v.iterations,
            check: v.check.clone(),
        };
        assert_eq!(params.validate(), Ok(()), "{name}");
        assert_eq!(params.kdf_params().unwrap().salt().len(), SALT_LEN);
        assert!(params.verify_key(&key), "{name}");
        assert_eq!(
            make_key_check_with_nonce(&key, nonce(&v.check_nonce)),
            v.check,
            "{name}: check"
        );

        assert_eq!(hex::encode(message_aad(&v.stream)), v.aad, "{name}: aad");
        let json = serde_json::to_string(&v.plaintext).unwrap();
        assert_eq!(json, v.plaintext_json, "{name}: plaintext JSON");
        assert_eq!(json.len(), v.plaintext_json_bytes, "{name}");
        let bucket = BUCKETS.iter().find(|&&b| json.len() < b).copied();
        assert_eq!(bucket, Some(v.padded_len), "{name}: bucket");
        let sealed = seal_with_nonce(&key, &v.stream, &v.plaintext, nonce(&v.nonce)).unwrap();
        assert_eq!(sealed, v.envelope, "{name}: envelope");
    }
}

#[test]
fn equivalent_passphrases_in_the_vectors_share_a_key() {
    let vectors = load().vectors;
    let find = |name: &str| vectors.iter().find(|v| v.name == name).unwrap();
    let (decomposed, composed) = (find("passphrase-not-nfc"), find("passphrase-nfc"));
    assert_ne!(decomposed.passphrase, composed.passphrase);
    assert_eq!(decomposed.salt, composed.salt);
    assert_eq!(decomposed.key, composed.key);
}
