//! What an envelope contains: a small JSON object.
//!
//! ```json
//! {"text":"hello","nick":"ana","sent_at":1700000000000,"kind":"message"}
//! ```
//!
//! Everything that says something about the message is in here, inside the
//! encryption, rather than next to it on the server: the nick, the time the
//! sender wrote it, and whether it is a prompt for or a reply from the LLM.

use serde::{Deserialize, Serialize};

use crate::text::{check_message_text, MessageTextError};

/// Longest nick, in characters (Unicode scalar values).
pub const MAX_NICK_CHARS: usize = 32;

/// Largest `sent_at`: 2^53 - 1, the largest integer a JavaScript number holds
/// exactly, so that a browser client reads back the same value. In unix
/// milliseconds that is the year 287,396.
pub const MAX_SENT_AT: u64 = (1 << 53) - 1;

/// What kind of message a plaintext is; decides how a client shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaintextKind {
    /// Something a person wrote.
    Message,
    /// A question for the LLM. It is encrypted like any other message, so
    /// the client that runs the LLM must hold the passphrase.
    LlmPrompt,
    /// The LLM's answer, posted by the client that asked.
    LlmReply,
}

/// A decrypted message.
///
/// Serialized with the fields in this order and `nick` left out when absent,
/// which is also what `JSON.stringify` gives for an object built in this
/// order; readers must accept any order and ignore unknown fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plaintext {
    /// Must pass [`check_message_text`]: encryption does not change what a
    /// message may say.
    pub text: String,
    /// Chosen by the sender and NOT authenticated: anyone with the
    /// passphrase can write under any nick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// The sender's clock in unix milliseconds. The server's own `created`
    /// time is what orders messages; this is only shown.
    pub sent_at: u64,
    pub kind: PlaintextKind,
}

/// Why a [`Plaintext`] breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaintextError {
    #[error(transparent)]
    Text(#[from] MessageTextError),
    #[error(
        "a nick must be 1 to {MAX_NICK_CHARS} characters and not blank; leave it out for none"
    )]
    Nick,
    #[error("sent_at is larger than 2^53 - 1, which JavaScript cannot represent exactly")]
    SentAtTooLarge,
}

impl Plaintext {
    /// A message of `kind` without a nick.
    pub fn new(text: impl Into<String>, kind: PlaintextKind, sent_at: u64) -> Self {
        Self {
            text: text.into(),
            nick: None,
            sent_at,
            kind,
        }
    }

    /// Sets the nick.
    pub fn with_nick(mut self, nick: impl Into<String>) -> Self {
        self.nick = Some(nick.into());
        self
    }

    /// Checks the rules that bound a plaintext's size and keep it showable.
    /// [`seal`](super::seal) refuses a plaintext that breaks them, and
    /// [`open`](super::open) refuses one that another client sealed anyway.
    pub fn validate(&self) -> Result<(), PlaintextError> {
        check_message_text(&self.text)?;
        if let Some(nick) = &self.nick {
            let chars = nick.chars().take(MAX_NICK_CHARS + 1).count();
            if nick.trim().is_empty() || chars > MAX_NICK_CHARS {
                return Err(PlaintextError::Nick);
            }
        }
        if self.sent_at > MAX_SENT_AT {
            return Err(PlaintextError::SentAtTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::padding::{bucket_for, BUCKETS};
    use crate::limits::MAX_MESSAGE_CHARS;

    #[test]
    fn serializes_with_the_documented_field_names() {
        let plain = Plaintext::new("hi", PlaintextKind::LlmPrompt, 7).with_nick("ana");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"text":"hi","nick":"ana","sent_at":7,"kind":"llm_prompt"}"#
        );
        let no_nick = Plaintext::new("hi", PlaintextKind::Message, 7);
        assert_eq!(
            serde_json::to_string(&no_nick).unwrap(),
            r#"{"text":"hi","sent_at":7,"kind":"message"}"#
        );
    }

    #[test]
    fn reads_fields_in_any_order_with_null_nick_and_unknown_fields() {
        let json = r#"{"kind":"llm_reply","sent_at":1,"nick":null,"text":"ok","future":true}"#;
        let plain: Plaintext = serde_json::from_str(json).unwrap();
        assert_eq!(plain, Plaintext::new("ok", PlaintextKind::LlmReply, 1));
    }

    #[test]
    fn rejects_each_kind_of_bad_plaintext() {
        let ok = Plaintext::new("hi", PlaintextKind::Message, 1);
        let cases = [
            (
                Plaintext::new(" ", PlaintextKind::Message, 1),
                PlaintextError::Text(MessageTextError::Blank),
            ),
            (
                Plaintext::new("x".repeat(1025), PlaintextKind::Message, 1),
                PlaintextError::Text(MessageTextError::TooLong { chars: 1025 }),
            ),
            (ok.clone().with_nick(""), PlaintextError::Nick),
            (ok.clone().with_nick("  "), PlaintextError::Nick),
            (ok.clone().with_nick("n".repeat(33)), PlaintextError::Nick),
            (
                Plaintext::new("hi", PlaintextKind::Message, MAX_SENT_AT + 1),
                PlaintextError::SentAtTooLarge,
            ),
            // 2^53, the first integer a JavaScript number cannot hold
            // exactly next to its neighbours.
            (
                Plaintext::new("hi", PlaintextKind::Message, 9_007_199_254_740_992),
                PlaintextError::SentAtTooLarge,
            ),
        ];
        for (plain, want) in cases {
            assert_eq!(plain.validate(), Err(want), "{plain:?}");
        }
        assert_eq!(ok.with_nick("é".repeat(32)).validate(), Ok(()));
        assert_eq!(MAX_SENT_AT, 9_007_199_254_740_991, "2^53 - 1");
        let latest = Plaintext::new("hi", PlaintextKind::Message, MAX_SENT_AT);
        assert_eq!(latest.validate(), Ok(()));
    }

    #[test]
    fn the_worst_case_message_fits_the_largest_bucket() {
        // U+0001 is not whitespace, so 1024 of them are a valid text, and
        // serde_json (like JSON.stringify) writes each as the six bytes
        // `\u0001`: the longest serialization of a character.
        let worst = Plaintext::new(
            "\u{1}".repeat(MAX_MESSAGE_CHARS),
            PlaintextKind::LlmPrompt,
            MAX_SENT_AT,
        )
        .with_nick("\u{1}".repeat(MAX_NICK_CHARS));
        assert_eq!(worst.validate(), Ok(()));
        let json = serde_json::to_vec(&worst).unwrap();
        assert_eq!(json.len(), 6 * 1024 + 6 * 32 + 68);
        assert_eq!(json.len(), 6404);
        assert_eq!(bucket_for(json.len()), Some(BUCKETS[5]));
        // And four-byte characters, the longest raw UTF-8, stay well under.
        let emoji = Plaintext::new("😀".repeat(MAX_MESSAGE_CHARS), PlaintextKind::Message, 0)
            .with_nick("😀".repeat(MAX_NICK_CHARS));
        assert!(serde_json::to_vec(&emoji).unwrap().len() < json.len());
    }
}
