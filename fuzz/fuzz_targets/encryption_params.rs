//! A stream's encryption parameters as JSON (`EncryptionParams`, sent when
//! an encrypted stream is created and read back by every client) and their
//! keyless validation (`validate`, run by the server before storing and by
//! clients before deriving a key).
//!
//! Properties: validated parameters have a canonical 16-byte salt, an
//! iteration count in range and a well-formed key check, and survive a JSON
//! round trip unchanged; refusals are errors that do not echo the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::crypto::{
    encode_base64url, unframe_key_check, EncryptionParams, StreamKey, KDF_NAME, MAX_ITERATIONS,
    MIN_ITERATIONS,
};

fuzz_target!(|data: &[u8]| {
    let Ok(params) = serde_json::from_slice::<EncryptionParams>(data) else {
        return;
    };
    match params.validate() {
        Ok(()) => {
            assert_eq!(params.kdf, KDF_NAME);
            let kdf = params
                .kdf_params()
                .expect("valid parameters give KDF parameters");
            assert_eq!(kdf.iterations(), params.iterations);
            assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&params.iterations));
            assert_eq!(
                encode_base64url(kdf.salt()),
                params.salt,
                "one salt spelling"
            );
            let (nonce, sealed) =
                unframe_key_check(&params.check).expect("a valid key check unframes");
            let mut framed = vec![0x01];
            framed.extend_from_slice(&nonce);
            framed.extend_from_slice(&sealed);
            assert_eq!(
                encode_base64url(&framed),
                params.check,
                "one check spelling"
            );
            // A wrong key is told apart, never a panic.
            assert!(!params.verify_key(&StreamKey::from_bytes([0x5a; 32])));
            let json = serde_json::to_string(&params).expect("parameters serialize");
            let again: EncryptionParams = serde_json::from_str(&json).expect("and parse back");
            assert_eq!(again, params);
            assert_eq!(again.validate(), Ok(()));
        }
        Err(err) => {
            let said = err.to_string();
            for field in [&params.salt, &params.check] {
                // Longer than any error sentence, so a match would be an echo.
                if field.len() > 160 {
                    assert!(!said.contains(field.as_str()), "the error echoes the input");
                }
            }
        }
    }
});
