//! The frames of `/ws` as the server reads them: what a text frame means,
//! and which frames break the protocol badly enough to close the connection.
//!
//! A frame is read with serde as a `Frame<ClientPacket>` (the packet told
//! apart by its `msg` tag). Only when that fails is the frame looked at
//! again, to answer with the documented failure: under the packet type when
//! it is known (else `error`), echoing the `cid` whenever one could be read.
//! Only non-JSON, binary or oversized frames are [`Violation`]s.
//!
//! [`interpret`] is pure (no socket, no state), so every malformed input can
//! be tested directly.

use malten_shared::check_message_text;
use malten_shared::protocol::{
    decode_text, ChatRequest, ChatResponse, ClientPacket, ErrorContent, Frame, ServerPacket,
    SessionRequest, SessionResponse,
};
use serde::Deserialize;
use serde_json::Value;

/// A frame that ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    TooLarge,
    NotJson,
    Binary,
    Unreadable,
}

impl Violation {
    /// The close reason (at most 123 bytes, as close frames require).
    pub fn reason(self, limit: usize) -> String {
        match self {
            Self::TooLarge => format!("frame larger than {limit} bytes"),
            Self::NotJson => "frames must be JSON".into(),
            Self::Binary => "frames must be JSON text, not binary".into(),
            Self::Unreadable => "unreadable or oversized frame".into(),
        }
    }
}

/// A frame as understood, before acting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Ping {
        cid: Value,
        content: Value,
    },
    Session {
        cid: Value,
        request: SessionRequest,
    },
    Chat {
        cid: Value,
        prompt: String,
        stream: bool,
    },
    /// JSON, but not a valid request: answered at once with `reply` (a
    /// `success: false` packet).
    Invalid {
        cid: Value,
        reply: ServerPacket,
    },
}

/// Reads one text frame. Never panics, whatever the input.
pub fn interpret(text: &str, max_frame_bytes: usize) -> Result<Incoming, Violation> {
    if text.len() > max_frame_bytes {
        return Err(Violation::TooLarge);
    }
    let mut value: Value = serde_json::from_str(text).map_err(|_| Violation::NotJson)?;
    if let Value::Object(fields) = &mut value {
        // An absent `content` is `null`: a ping without one is echoed so.
        fields.entry("content").or_insert(Value::Null);
    }
    let Ok(Frame { packet, cid }) = Frame::<ClientPacket>::deserialize(&value) else {
        return Ok(diagnose(value));
    };
    Ok(match packet {
        ClientPacket::Ping(content) => Incoming::Ping { cid, content },
        ClientPacket::Session(request) => Incoming::Session { cid, request },
        ClientPacket::Chat(chat) => match read_prompt(&chat) {
            Ok(prompt) => Incoming::Chat {
                cid,
                prompt,
                stream: chat.stream,
            },
            Err(error) => invalid_chat(cid, &error),
        },
    })
}

/// The documented failure for a JSON frame that is not a request.
fn diagnose(value: Value) -> Incoming {
    let Value::Object(mut frame) = value else {
        return invalid(
            Value::Null,
            "a frame must be a JSON object {\"msg\", \"cid\", \"content\"}",
        );
    };
    let cid = frame.remove("cid").unwrap_or(Value::Null);
    let content = frame.remove("content").unwrap_or(Value::Null);
    let kind = match frame.get("msg") {
        None | Some(Value::Null) => return invalid(cid, "`msg` is required"),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return invalid(cid, "`msg` must be a string"),
    };
    match kind {
        "session" => {
            let error = SessionRequest::deserialize(&content)
                .err()
                .map_or_else(|| "unreadable".to_owned(), |err| describe(&err));
            Incoming::Invalid {
                cid,
                reply: ServerPacket::Session(SessionResponse::failed(format!(
                    "invalid session request: {error}"
                ))),
            }
        }
        "chat" if content.is_null() => {
            invalid_chat(cid, "`content` with `type` and `data` is required")
        }
        "chat" => {
            let error = ChatRequest::deserialize(&content)
                .err()
                .map_or_else(|| "unreadable".to_owned(), |err| describe(&err));
            invalid_chat(cid, &error)
        }
        "system" => invalid(cid, "`system` frames are sent by the server only"),
        other => {
            let shown: String = other.chars().take(32).collect();
            invalid(
                cid,
                &format!("unknown `msg` {shown:?}; expected ping, session or chat"),
            )
        }
    }
}

/// A failure answered under `error`: there is no packet type to answer with.
fn invalid(cid: Value, error: &str) -> Incoming {
    Incoming::Invalid {
        cid,
        reply: ServerPacket::Error(ErrorContent {
            success: false,
            error: error.to_owned(),
        }),
    }
}

fn invalid_chat(cid: Value, error: &str) -> Incoming {
    Incoming::Invalid {
        cid,
        reply: ServerPacket::Chat(ChatResponse::failed(
            None,
            format!("invalid chat request: {error}"),
        )),
    }
}

/// serde's message without its position suffix (frames are one line).
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The prompt of a chat request, checked like any message.
fn read_prompt(chat: &ChatRequest) -> Result<String, String> {
    let prompt = decode_text(&chat.data).map_err(|err| err.to_string())?;
    check_message_text(&prompt).map_err(|err| err.to_string())?;
    Ok(prompt)
}

/// A frame as text.
pub fn encode(cid: Value, packet: ServerPacket) -> String {
    serde_json::to_string(&Frame::new(cid, packet)).expect("frames always serialize")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMIT: usize = 1024;

    fn failure(text: &str) -> (&'static str, Value, String) {
        let Ok(Incoming::Invalid { cid, reply }) = interpret(text, LIMIT) else {
            panic!("{text} should be answered with a failure");
        };
        let msg = reply.msg();
        let error = match reply {
            ServerPacket::Session(SessionResponse { success, error, .. })
            | ServerPacket::Chat(ChatResponse { success, error, .. }) => {
                assert!(!success, "{text}");
                error.expect("a failure says why")
            }
            ServerPacket::Error(ErrorContent { success, error }) => {
                assert!(!success, "{text}");
                error
            }
            other => panic!("{text}: not a failure: {other:?}"),
        };
        (msg, cid, error)
    }

    #[test]
    fn frames_that_break_the_protocol_close_the_connection() {
        let cases = [
            ("not json", Violation::NotJson),
            ("{\"msg\": \"ping\"", Violation::NotJson),
            ("", Violation::NotJson),
        ];
        for (text, violation) in cases {
            assert_eq!(interpret(text, LIMIT), Err(violation), "for {text:?}");
        }
        let big = json!({"msg": "ping", "cid": "x", "content": "a".repeat(LIMIT)}).to_string();
        assert_eq!(interpret(&big, LIMIT), Err(Violation::TooLarge));
    }

    #[test]
    fn bad_requests_get_a_clear_failure_that_echoes_the_cid() {
        let cases = [
            (json!([1, 2]), "error", "JSON object"),
            (json!({"cid": "c1"}), "error", "`msg` is required"),
            (
                json!({"msg": 7, "cid": "c1"}),
                "error",
                "`msg` must be a string",
            ),
            (
                json!({"msg": "dance", "cid": "c1"}),
                "error",
                "unknown `msg` \"dance\"",
            ),
            (
                json!({"msg": "system", "cid": "c1", "content": {}}),
                "error",
                "server only",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {}}),
                "session",
                "missing field `request`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "fly"}}),
                "session",
                "unknown variant `fly`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "resume"}}),
                "session",
                "missing field `session_id`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "create", "settings": {"seed": "x"}}}),
                "session",
                "invalid type",
            ),
            (
                json!({"msg": "chat", "cid": "c1"}),
                "chat",
                "`content` with `type` and `data` is required",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text"}}),
                "chat",
                "missing field `data`",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "image", "data": "aGk="}}),
                "chat",
                "unknown variant `image`",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "%%%"}}),
                "chat",
                "not valid base64",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "//79"}}),
                "chat",
                "not of UTF-8 text",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "ICA="}}),
                "chat",
                "must not be empty",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": 5}}),
                "chat",
                "invalid type",
            ),
        ];
        for (frame, expected_msg, expected_error) in cases {
            let (msg, cid, error) = failure(&frame.to_string());
            assert_eq!(msg, expected_msg, "for {frame}");
            assert!(
                error.contains(expected_error),
                "for {frame}: {error:?} should mention {expected_error:?}"
            );
            if frame.get("cid").is_some() {
                assert_eq!(cid, json!("c1"), "for {frame}");
            }
        }
    }

    #[test]
    fn good_frames_are_understood() {
        assert_eq!(
            interpret(r#"{"msg":"ping","cid":"1a2b3c4d","content":null}"#, LIMIT),
            Ok(Incoming::Ping {
                cid: json!("1a2b3c4d"),
                content: Value::Null
            })
        );
        assert_eq!(
            interpret(r#"{"msg":"ping","cid":"no content"}"#, LIMIT),
            Ok(Incoming::Ping {
                cid: json!("no content"),
                content: Value::Null
            }),
            "an absent content is echoed as null"
        );
        assert_eq!(
            interpret(
                r#"{"msg":"chat","cid":7,"content":{"type":"text","data":"aGk=","stream":true}}"#,
                LIMIT
            ),
            Ok(Incoming::Chat {
                cid: json!(7),
                prompt: "hi".into(),
                stream: true
            })
        );
    }
}
