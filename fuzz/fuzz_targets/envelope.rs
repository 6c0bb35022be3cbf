//! The envelope of an encrypted message: the server's keyless check
//! (`check_envelope`, run on every post to an encrypted stream) and what a
//! client does with one (`unframe_envelope`, `open`).
//!
//! Properties: an accepted envelope has one of the bucket lengths and
//! re-frames to exactly the same text (one canonical base64url form); a
//! refusal never repeats the input (it may be a plaintext posted by
//! mistake); `open` agrees with the check, and an envelope that opens
//! re-seals to itself. The key and stream are those of the first vector in
//! `shared/tests/vectors/crypto-v1.json`, so its envelope (a seed) opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::crypto::{
    check_envelope, envelope_len, frame, open, seal_with_nonce, unframe_envelope, StreamKey,
    BUCKETS, MAX_ENVELOPE_LEN, TAG_LEN,
};

/// The key of the vector "ascii" (hex in crypto-v1.json).
const KEY: [u8; 32] = [
    0xef, 0x17, 0x71, 0x44, 0xee, 0xc9, 0x42, 0x0c, 0xbc, 0x10, 0x93, 0xd2, 0xa8, 0xb3, 0x44, 0xa9,
    0x2b, 0xc5, 0x06, 0xd0, 0xd4, 0xec, 0x9c, 0x02, 0x8d, 0xd1, 0x9f, 0x83, 0x24, 0xd8, 0xc1, 0xe6,
];
const STREAM: &str = "_";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = check_envelope(text);
    match &checked {
        Ok(()) => {
            assert!(text.len() <= MAX_ENVELOPE_LEN);
            assert!(BUCKETS.iter().any(|&b| envelope_len(b) == text.len()));
            let (nonce, sealed) = unframe_envelope(text).expect("a checked envelope unframes");
            assert!(BUCKETS.iter().any(|&b| sealed.len() == b + TAG_LEN));
            assert_eq!(frame(&nonce, &sealed), text, "one canonical form");
        }
        Err(err) => {
            assert!(unframe_envelope(text).is_err());
            // Longer than any error sentence, so a match would be an echo.
            if text.len() > 100 {
                assert!(
                    !err.to_string().contains(text),
                    "the error echoes the input"
                );
            }
        }
    }
    let key = StreamKey::from_bytes(KEY);
    match open(&key, STREAM, text) {
        Ok(plaintext) => {
            assert!(checked.is_ok(), "opened what the server would refuse");
            let (nonce, _) = unframe_envelope(text).expect("opened, so well framed");
            let again = seal_with_nonce(&key, STREAM, &plaintext, nonce)
                .expect("an opened plaintext seals again");
            assert_eq!(again, text, "an authentic envelope re-seals to itself");
        }
        Err(err) => {
            if text.len() > 100 {
                assert!(
                    !err.to_string().contains(text),
                    "the error echoes the input"
                );
            }
        }
    }
});
