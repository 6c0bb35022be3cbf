//! The JSON on the wire: what the server sends and the clients parse.
//!
//! Timestamps are unix nanoseconds serialized as decimal strings, as in the
//! original Malten, because JavaScript numbers lose precision past 2^53.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::EncryptionParams;
use crate::name::StreamName;

/// A position in a stream: the `created` time of a message, in unix
/// nanoseconds.
///
/// The server makes `created` strictly increasing within a stream, so a cursor
/// names exactly one point between messages: "everything after this one".
/// Cursor 0 is "before the first message".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub u64);

impl Cursor {
    /// The position before any message.
    pub const START: Cursor = Cursor(0);
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim_ascii().parse().map(Cursor)
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    /// Accepts the canonical string form and, for lenient clients, a number.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Raw::Number(n) => Ok(Cursor(n)),
        }
    }
}

/// What a stored message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A message someone posted.
    Message,
    /// A prompt sent to the LLM through `POST /commands`.
    Command,
    /// The LLM's reply to a command.
    Reply,
}

/// What a message carries: readable text in a plain stream, an opaque
/// envelope (see `docs/crypto.md`) in an encrypted one. On the wire this is
/// a `text` or an `envelope` member, never both, so a message of an
/// encrypted stream has no field the server could have read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    Text(String),
    Envelope(String),
}

impl Body {
    /// The text of a plain message.
    pub fn text(&self) -> Option<&str> {
        match self {
            Body::Text(text) => Some(text),
            Body::Envelope(_) => None,
        }
    }

    /// The envelope of an encrypted message.
    pub fn envelope(&self) -> Option<&str> {
        match self {
            Body::Envelope(envelope) => Some(envelope),
            Body::Text(_) => None,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Body::Text(s) | Body::Envelope(s) => s,
        }
    }
}

/// A stored message, as `GET /messages`, `POST /messages` and the `message`
/// event carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Random id, unique within the server.
    pub id: String,
    pub stream: StreamName,
    /// `text` or `envelope`.
    #[serde(flatten)]
    pub body: Body,
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// Unix nanoseconds; strictly increasing within a stream, so it doubles
    /// as the message's [`Cursor`].
    pub created: Cursor,
}

/// One stream as `GET /streams` and `POST /streams` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub stream: StreamName,
    /// Listed by `GET /streams` when false.
    pub private: bool,
    /// Idle time-to-live in seconds.
    pub ttl: u64,
    /// Unix nanoseconds of the last post (or of creation).
    pub updated: Cursor,
    /// Messages currently retained.
    pub messages: usize,
    /// Current real-time subscribers.
    pub observers: usize,
    /// Whether messages are end-to-end encrypted envelopes.
    #[serde(default)]
    pub encrypted: bool,
    /// How to derive and check the key of an encrypted stream: public
    /// parameters, never the key or the passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionParams>,
    /// A secure pipe (`docs/api.md`): at most two live subscribers, no
    /// history beyond what they have not both read. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pipe: bool,
}

/// The kinds of real-time event, as named in SSE's `event:` field and in the
/// WebSocket frames' `event` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Message,
    Presence,
    Gap,
    System,
    /// A piece of an LLM reply while it is generated; see [`Partial`].
    Partial,
}

impl EventKind {
    /// Every kind, for clients that listen to each by name.
    pub const ALL: [EventKind; 5] = [
        EventKind::Message,
        EventKind::Presence,
        EventKind::Gap,
        EventKind::System,
        EventKind::Partial,
    ];

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Presence => "presence",
            EventKind::Gap => "gap",
            EventKind::System => "system",
            EventKind::Partial => "partial",
        }
    }
}

/// The events of a `POST /commands` response, as named in SSE's `event:`
/// field: the stored `command`, `partial` pieces, then `reply` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandEventKind {
    Command,
    Partial,
    Reply,
    Error,
}

impl CommandEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandEventKind::Command => "command",
            CommandEventKind::Partial => "partial",
            CommandEventKind::Reply => "reply",
            CommandEventKind::Error => "error",
        }
    }
}

/// Data of a `presence` event: the current number of subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub stream: StreamName,
    pub observers: usize,
}

/// Data of a `gap` event: messages between `after` and `available_from` were
/// dropped (by the 1024-message bound or the TTL) before this subscriber saw
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub stream: StreamName,
    /// The cursor the subscriber asked to resume after.
    pub after: Cursor,
    /// The oldest retained message's cursor: delivery resumes here.
    /// Absent when nothing newer is retained at all.
    pub available_from: Option<Cursor>,
}

/// Data of a `system` event: a notice from the server itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemNotice {
    /// Stable machine-readable reason, e.g. `shutdown`.
    pub code: String,
    /// A sentence for people.
    pub text: String,
}

/// Data of a `partial` event: a piece of the model's reply to a command, sent
/// to the stream's subscribers as it is generated.
///
/// Partials are previews, never stored nor replayed, and a subscriber that
/// falls behind may miss some: only the `reply` message that follows is
/// guaranteed. The last partial of a command has `done: true` (and an `error`
/// code if generation failed, in which case no reply is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub stream: StreamName,
    /// The id of the `command` message being answered; `null` when the
    /// command was not stored (plaintext replies on an encrypted stream).
    pub command: Option<String>,
    /// The new text since the previous partial (empty in the final one).
    pub delta: String,
    pub done: bool,
    /// On the final partial of a failed generation, the error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One real-time event. On SSE, `id` and `event` become the `id:` and
/// `event:` fields and `data` the `data:` line; on a WebSocket the whole
/// value is one JSON text frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The subscriber's position after this event: resume with it as
    /// `Last-Event-ID` or `last=` to miss nothing and see nothing twice.
    pub id: Cursor,
    pub event: EventKind,
    pub data: serde_json::Value,
}

/// The body of `GET /commands`: whether the LLM path is available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandsInfo {
    /// Whether `POST /commands` and `/ws` sessions can be used.
    pub enabled: bool,
    /// The default model, when enabled.
    pub model: Option<String>,
    /// Replies are cut to this many characters.
    pub max_reply_chars: usize,
    /// How the operator can enable it, when disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A sentence for people.
    pub error: String,
    /// Stable `snake_case` code for programs.
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_serializes_as_a_string_and_reads_both_forms() {
        assert_eq!(
            serde_json::to_string(&Cursor(1652035113591000000)).unwrap(),
            "\"1652035113591000000\""
        );
        let from_text: Cursor = serde_json::from_str("\"42\"").unwrap();
        let from_number: Cursor = serde_json::from_str("42").unwrap();
        assert_eq!(from_text, Cursor(42));
        assert_eq!(from_number, Cursor(42));
        assert!(serde_json::from_str::<Cursor>("\"-1\"").is_err());
    }

    #[test]
    fn an_encrypted_message_has_an_envelope_and_no_text() {
        let message = Message {
            id: "m2".into(),
            stream: StreamName::parse("secret").unwrap(),
            body: Body::Envelope("AQID".into()),
            kind: MessageKind::Message,
            created: Cursor(8),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["envelope"], "AQID");
        assert!(json.get("text").is_none());
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message);
    }

    #[test]
    fn message_uses_the_malten_field_names() {
        let message = Message {
            id: "m1".into(),
            stream: StreamName::parse("foo").unwrap(),
            body: Body::Text("hi".into()),
            kind: MessageKind::Message,
            created: Cursor(7),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":"m1","stream":"foo","text":"hi","type":"message","created":"7"})
        );
    }
}
