//! The frames of the WebSocket session protocol at `/ws`: a conversation with
//! a language model, one JSON text frame per packet.
//!
//! Every frame, in both directions, is `{"msg", "cid", "content"}`. `msg`
//! names the packet type, `cid` is the client's correlation id (echoed in
//! every reply: the same string, or the same number; a number is read as
//! an f64, so one beyond its precision comes back as the nearest f64) and `content` depends on `msg`. Text travels
//! base64-encoded (standard alphabet) UTF-8, as in the protocol this one is
//! compatible with; [`encode_text`] and [`decode_text`] do the conversion.
//!
//! These are serde types only: the server and the web app share them, so this
//! module does no I/O and compiles for `wasm32-unknown-unknown`. The full
//! description, with examples, is `docs/llm-protocol.md`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// What a client sends, told apart by `msg`, with its `content`.
///
/// `msg` values other than these (including the server's own `system` and
/// `error`) are not requests; the server answers them with an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", content = "content", rename_all = "snake_case")]
pub enum ClientPacket {
    /// Echoed unchanged, `content` included (any JSON, `null` when absent).
    Ping(Value),
    /// Create, resume, ask the status of, or destroy a session.
    Session(SessionRequest),
    /// A prompt for the current session.
    Chat(ChatRequest),
}

/// What the server sends, told apart by `msg`, with its `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", content = "content", rename_all = "snake_case")]
pub enum ServerPacket {
    /// The echo of a client's ping.
    Ping(Value),
    /// The answer to a `session` request.
    Session(SessionResponse),
    /// A reply from the model (or a piece of one), or why there is none.
    Chat(ChatResponse),
    /// Sent unasked: the message of the day, a shutdown notice.
    System(SystemMessage),
    /// The answer to a frame whose `msg` is missing or unknown, so there is
    /// no packet type to answer with.
    Error(ErrorContent),
}

impl ServerPacket {
    /// The packet type, as it appears in `msg`.
    pub fn msg(&self) -> &'static str {
        match self {
            Self::Ping(_) => "ping",
            Self::Session(_) => "session",
            Self::Chat(_) => "chat",
            Self::System(_) => "system",
            Self::Error(_) => "error",
        }
    }
}

/// One frame: a packet ([`ClientPacket`] or [`ServerPacket`]) with the
/// client's correlation id.
///
/// Server frames are written `msg`, `cid`, `content`, in that order, as the
/// protocol's examples show them: some clients compare a ping's echo as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Frame<P> {
    /// `msg` and `content`.
    #[serde(flatten)]
    pub packet: P,
    /// The client's correlation id, any JSON value (the protocol uses
    /// strings); `null` when absent and in frames the server starts itself.
    #[serde(default)]
    pub cid: Value,
}

impl<P> Frame<P> {
    pub fn new(cid: Value, packet: P) -> Self {
        Self { packet, cid }
    }
}

impl Serialize for Frame<ServerPacket> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn fields<S: Serializer, C: Serialize>(
            serializer: S,
            msg: &'static str,
            cid: &Value,
            content: &C,
        ) -> Result<S::Ok, S::Error> {
            let mut frame = serializer.serialize_struct("Frame", 3)?;
            frame.serialize_field("msg", msg)?;
            frame.serialize_field("cid", cid)?;
            frame.serialize_field("content", content)?;
            frame.end()
        }
        let (msg, cid) = (self.packet.msg(), &self.cid);
        match &self.packet {
            ServerPacket::Ping(content) => fields(serializer, msg, cid, content),
            ServerPacket::Session(content) => fields(serializer, msg, cid, content),
            ServerPacket::Chat(content) => fields(serializer, msg, cid, content),
            ServerPacket::System(content) => fields(serializer, msg, cid, content),
            ServerPacket::Error(content) => fields(serializer, msg, cid, content),
        }
    }
}

/// The `content` of a `session` request, told apart by `request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum SessionRequest {
    /// Starts a session and makes it this connection's current one.
    Create {
        #[serde(default)]
        settings: SessionSettings,
    },
    /// Makes an existing session this connection's current one.
    Resume { session_id: String },
    /// Describes a session; without `session_id`, the current one.
    Status {
        #[serde(default)]
        session_id: Option<String>,
    },
    /// Ends the current session; `session_id`, if given, must name it.
    Destroy {
        #[serde(default)]
        session_id: Option<String>,
    },
}

/// How a session talks to the model. Every field is optional on `create`;
/// `status` reports the values in effect (the server's defaults filled in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    /// The model to ask, as the backend names it (OpenAI `model`).
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2 (OpenAI `temperature`).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Seed for reproducible sampling where the backend supports it (OpenAI `seed`).
    #[serde(default)]
    pub seed: Option<i64>,
    /// The bot's name, sent back as `sender` in chat replies.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a session is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Part of the protocol; this server's sessions are ready as soon as
    /// `create` answers, so it never reports it.
    Initializing,
    /// Ready for a prompt.
    Idle,
    /// A reply is being generated; another prompt is refused until it is done.
    Processing,
}

/// The `content` of the answer to a `session` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionResponse {
    pub success: bool,
    /// A sentence saying what went wrong; `null` on success.
    pub error: Option<String>,
    /// Set by `create`: 128 random bits, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Set by `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    /// Set by `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SessionSettings>,
}

impl SessionResponse {
    pub fn ok() -> Self {
        Self {
            success: true,
            error: None,
            session_id: None,
            status: None,
            settings: None,
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            success: false,
            error: Some(error.into()),
            ..Self::ok()
        }
    }
}

/// The kind of data a chat or system frame carries. Only text exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    Text,
}

/// The `content` of a `chat` request: a prompt for the current session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(rename = "type")]
    pub kind: ContentType,
    /// Base64 of the UTF-8 prompt.
    pub data: String,
    /// Extension: ask for the reply as it is generated, in partial frames
    /// before the final one. Off unless `true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// The `content` of a `chat` reply from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub success: bool,
    /// A sentence saying what went wrong; `null` on success.
    pub error: Option<String>,
    /// The bot's name; `null` when the prompt was refused before any session
    /// was found.
    pub sender: Option<String>,
    /// Always `true`: replies come from the model.
    pub bot: bool,
    /// `text` on success, `null` on failure.
    #[serde(rename = "type")]
    pub kind: Option<ContentType>,
    /// Base64 of the UTF-8 reply (the whole reply in the final frame, the new
    /// piece in a partial one); `null` on failure.
    pub data: Option<String>,
    /// Extension: `true` on the pieces sent before the final frame when the
    /// request asked for `stream`. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl ChatResponse {
    pub fn text(sender: &str, text: &str, partial: bool) -> Self {
        Self {
            success: true,
            error: None,
            sender: Some(sender.to_owned()),
            bot: true,
            kind: Some(ContentType::Text),
            data: Some(encode_text(text)),
            partial,
        }
    }

    pub fn failed(sender: Option<&str>, error: impl Into<String>) -> Self {
        Self {
            success: false,
            error: Some(error.into()),
            sender: sender.map(str::to_owned),
            bot: true,
            kind: None,
            data: None,
            partial: false,
        }
    }
}

/// The `content` of a `system` frame (server → client only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMessage {
    #[serde(rename = "type")]
    pub kind: ContentType,
    /// Base64 of the UTF-8 text.
    pub data: String,
    /// Extension: why it was sent, `motd` or `shutdown`, so programs need
    /// not parse the sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl SystemMessage {
    pub fn text(code: &str, text: &str) -> Self {
        Self {
            kind: ContentType::Text,
            data: encode_text(text),
            code: Some(code.to_owned()),
        }
    }
}

/// The `content` of a failure that is not an answer to a known packet type
/// (sent with `msg` = `"error"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorContent {
    pub success: bool,
    pub error: String,
}

/// Why `data` is not base64 of UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextDataError {
    #[error("`data` is not valid base64")]
    NotBase64,
    #[error("`data` is base64, but not of UTF-8 text")]
    NotUtf8,
}

/// Standard alphabet; padding optional, since some encoders omit it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `text` as the protocol carries it: base64 of its UTF-8 bytes.
pub fn encode_text(text: &str) -> String {
    BASE64.encode(text.as_bytes())
}

/// The text in a `data` field.
pub fn decode_text(data: &str) -> Result<String, TextDataError> {
    let bytes = BASE64
        .decode(data.trim())
        .map_err(|_| TextDataError::NotBase64)?;
    String::from_utf8(bytes).map_err(|_| TextDataError::NotUtf8)
}

#[cfg(test)]
mod tests;
