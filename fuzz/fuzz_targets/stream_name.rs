//! Stream names (`StreamName::parse`, and the same rule through serde):
//! every valid name round-trips unchanged through text and JSON, and every
//! refusal is the error for its reason.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::limits::MAX_STREAM_NAME_LEN;
use malten_shared::{StreamName, StreamNameError};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = StreamName::parse(raw);
    match &parsed {
        Ok(name) => {
            assert_eq!(name.as_str(), raw, "a name is kept exactly as sent");
            assert!((1..=MAX_STREAM_NAME_LEN).contains(&raw.len()));
            assert!(raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_~".contains(&b)));
            assert_eq!(name.to_string(), raw);
            assert_eq!(raw.parse::<StreamName>().as_ref(), Ok(name));
            let json = serde_json::to_string(name).expect("a name serializes");
            assert_eq!(
                serde_json::from_str::<StreamName>(&json).ok().as_ref(),
                Some(name)
            );
        }
        Err(StreamNameError::Empty) => assert!(raw.is_empty()),
        Err(StreamNameError::TooLong) => assert!(raw.len() > MAX_STREAM_NAME_LEN),
        Err(StreamNameError::InvalidCharacter) => assert!(!raw.is_empty()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
    // serde applies the same rule as `parse`.
    let json = serde_json::to_string(raw).expect("a string serializes");
    assert_eq!(
        serde_json::from_str::<StreamName>(&json).is_ok(),
        parsed.is_ok(),
        "serde and parse disagree on {raw:?}"
    );
});
