//! Random ids for messages, sessions and unnamed streams.

use base64::Engine;
use malten_shared::limits::GENERATED_ID_BYTES;
use malten_shared::StreamName;
use rand::RngCore;

/// A fresh random id: 128 bits, base64url without padding (22 characters).
pub fn random_id() -> String {
    let mut bytes = [0u8; GENERATED_ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A random, unguessable stream name; base64url is within the name alphabet.
pub fn random_stream_name() -> StreamName {
    StreamName::parse(&random_id()).expect("base64url is a valid stream name")
}
