//! The edge cases of format v1 (`tests/vectors/crypto-v1-edges.json`): what
//! a reader must accept and refuse inside a decrypted envelope, the exact
//! JSON a writer must produce, and which paddings open.
//!
//! Every case is sealed here with the file's key and nonce by plain AES-GCM
//! (not by `seal`, which would refuse the invalid ones), then opened with
//! [`open`], so each row tests the reader exactly as another client's
//! envelope would reach it. The normative rules are in `docs/crypto.md`
//! section 4; each case names its subsection.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use malten_shared::crypto::{
    encode_base64url, message_aad, open, Plaintext, StreamKey, BUCKETS, NONCE_LEN,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct EdgeFile {
    key: String,
    nonce: String,
    stream: String,
    reader: Vec<ReaderCase>,
    writer: Vec<WriterCase>,
    padding: Vec<PaddingCase>,
}

#[derive(Debug, Deserialize)]
struct ReaderCase {
    name: String,
    section: String,
    json: String,
    accept: bool,
    plaintext: Option<Plaintext>,
}

#[derive(Debug, Deserialize)]
struct WriterCase {
    name: String,
    plaintext: Plaintext,
    json: String,
}

#[derive(Debug, Deserialize)]
struct PaddingCase {
    name: String,
    json: String,
    bucket: usize,
    marker: bool,
    accept: bool,
}

fn load() -> EdgeFile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/crypto-v1-edges.json"
    );
    let text = std::fs::read_to_string(path).expect("read the edge-case file");
    serde_json::from_str(&text).expect("parse the edge-case file")
}

/// Seals arbitrary bytes as an envelope would carry them: `0x01 || nonce ||
/// AES-256-GCM(key, nonce, content, aad)`.
fn envelope(file: &EdgeFile, content: &[u8]) -> String {
    let key: [u8; 32] = hex::decode(&file.key).unwrap().try_into().unwrap();
    let nonce: [u8; NONCE_LEN] = hex::decode(&file.nonce).unwrap().try_into().unwrap();
    let sealed = Aes256Gcm::new(&key.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: content,
                aad: &message_aad(&file.stream),
            },
        )
        .unwrap();
    let mut framed = vec![0x01];
    framed.extend_from_slice(&nonce);
    framed.extend_from_slice(&sealed);
    encode_base64url(&framed)
}

fn padded(json: &str, bucket: usize, marker: bool) -> Vec<u8> {
    let mut bytes = json.as_bytes().to_vec();
    if marker {
        bytes.push(0x80);
    }
    assert!(bytes.len() <= bucket, "case does not fit bucket {bucket}");
    bytes.resize(bucket, 0x00);
    bytes
}

fn smallest_bucket(json: &str) -> usize {
    BUCKETS
        .into_iter()
        .find(|&bucket| json.len() < bucket)
        .expect("fits a bucket")
}

fn key(file: &EdgeFile) -> StreamKey {
    StreamKey::from_bytes(hex::decode(&file.key).unwrap().try_into().unwrap())
}

#[test]
fn readers_accept_and_refuse_exactly_the_listed_plaintexts() {
    let file = load();
    let key = key(&file);
    assert!(file.reader.iter().filter(|case| case.accept).count() >= 8);
    assert!(file.reader.iter().filter(|case| !case.accept).count() >= 15);
    for case in &file.reader {
        let sealed = envelope(
            &file,
            &padded(&case.json, smallest_bucket(&case.json), true),
        );
        let opened = open(&key, &file.stream, &sealed);
        match (&opened, case.accept) {
            (Ok(plaintext), true) => assert_eq!(
                Some(plaintext),
                case.plaintext.as_ref(),
                "{} (section {}) opened to another plaintext",
                case.name,
                case.section
            ),
            (Err(_), false) => {}
            _ => panic!(
                "{} (section {}): expected accept={}, got {opened:?}",
                case.name, case.section, case.accept
            ),
        }
    }
}

#[test]
fn writers_produce_exactly_the_listed_json() {
    let file = load();
    for case in &file.writer {
        let json = serde_json::to_string(&case.plaintext).unwrap();
        assert_eq!(json, case.json, "{}", case.name);
        assert_eq!(case.plaintext.validate(), Ok(()), "{}", case.name);
    }
}

#[test]
fn any_bucket_opens_but_a_missing_marker_does_not() {
    let file = load();
    let key = key(&file);
    for case in &file.padding {
        let sealed = envelope(&file, &padded(&case.json, case.bucket, case.marker));
        assert_eq!(
            open(&key, &file.stream, &sealed).is_ok(),
            case.accept,
            "{}",
            case.name
        );
    }
}

/// Section 4.2 lists the characters that make a text blank; this is that
/// list, checked against what the reference implementation uses over every
/// Unicode scalar value.
#[test]
fn blank_means_exactly_the_25_documented_white_space_characters() {
    let documented: Vec<char> = [
        0x09..=0x0d,
        0x20..=0x20,
        0x85..=0x85,
        0xa0..=0xa0,
        0x1680..=0x1680,
        0x2000..=0x200a,
        0x2028..=0x2029,
        0x202f..=0x202f,
        0x205f..=0x205f,
        0x3000..=0x3000,
    ]
    .into_iter()
    .flatten()
    .map(|code| char::from_u32(code).unwrap())
    .collect();
    assert_eq!(documented.len(), 25);
    let blank: Vec<char> = (0..=char::MAX as u32)
        .filter_map(char::from_u32)
        .filter(|c| {
            malten_shared::check_message_text(&c.to_string())
                == Err(malten_shared::MessageTextError::Blank)
        })
        .collect();
    assert_eq!(blank, documented);
}
