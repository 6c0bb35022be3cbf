//! Stream names: parsed once at the edge, valid everywhere after.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{DEFAULT_STREAM, MAX_STREAM_NAME_LEN};

/// Why a string is not a stream name. The messages are shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamNameError {
    #[error("stream name must not be empty")]
    Empty,
    #[error("stream name is longer than {MAX_STREAM_NAME_LEN} characters")]
    TooLong,
    #[error("stream name may only contain the characters A-Z, a-z, 0-9, '.', '_', '~' and '-'")]
    InvalidCharacter,
}

/// A stream name of 1 to 64 characters from `[A-Za-z0-9._~-]`.
///
/// These are exactly the URL-unreserved characters, so a name can be put in a
/// path, a query or a fragment without escaping, and generated base64url ids
/// are valid names too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    /// Checks `raw` against the naming rule; never panics.
    pub fn parse(raw: &str) -> Result<Self, StreamNameError> {
        if raw.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if !raw.bytes().all(is_name_byte) {
            return Err(StreamNameError::InvalidCharacter);
        }
        // Only ASCII is left, so bytes are characters.
        if raw.len() > MAX_STREAM_NAME_LEN {
            return Err(StreamNameError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The default stream `_`, used when a request names none.
    pub fn default_stream() -> Self {
        Self(DEFAULT_STREAM.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-')
}

impl Default for StreamName {
    fn default() -> Self {
        Self::default_stream()
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamName {
    type Error = StreamNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StreamName> for String {
    fn from(name: StreamName) -> Self {
        name.0
    }
}

impl std::str::FromStr for StreamName {
    type Err = StreamNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_default_stream_and_unreserved_characters() {
        for ok in ["_", "a", "Foo.bar~baz-9", &"x".repeat(64)] {
            assert!(StreamName::parse(ok).is_ok(), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_name_with_its_reason() {
        let cases = [
            ("", StreamNameError::Empty),
            (&"x".repeat(65) as &str, StreamNameError::TooLong),
            ("a b", StreamNameError::InvalidCharacter),
            ("a/b", StreamNameError::InvalidCharacter),
            ("ünï", StreamNameError::InvalidCharacter),
            ("<script>", StreamNameError::InvalidCharacter),
        ];
        for (raw, want) in cases {
            assert_eq!(StreamName::parse(raw), Err(want), "input {raw:?}");
        }
    }

    #[test]
    fn deserializing_applies_the_rule() {
        assert!(serde_json::from_str::<StreamName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<StreamName>("\"not ok\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_the_rule(raw in "\\PC{0,80}") {
            let valid = !raw.is_empty()
                && raw.len() <= MAX_STREAM_NAME_LEN
                && raw.bytes().all(is_name_byte);
            prop_assert_eq!(StreamName::parse(&raw).is_ok(), valid);
        }

        #[test]
        fn every_valid_name_round_trips(raw in "[A-Za-z0-9._~-]{1,64}") {
            let name = StreamName::parse(&raw).unwrap();
            prop_assert_eq!(name.as_str(), raw.as_str());
        }
    }
}
