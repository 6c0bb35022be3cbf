//! The frames of `/ws` as the server reads them: what a text frame means,
//! and which frames break the protocol badly enough to close the connection.
//!
//! [`interpret`] is pure (no socket, no state), so every malformed input can
//! be tested directly. Frames that are JSON but wrong become
//! [`Incoming::Invalid`], answered with `success: false` under the packet
//! type when it is known (else `error`), echoing the `cid` whenever one could
//! be read; only non-JSON, binary or oversized frames are [`Violation`]s.

use malten_shared::check_message_text;
use malten_shared::protocol::{decode_text, msg, ChatRequest as ChatFrame, Frame, SessionRequest};
use serde::Serialize;
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
    /// JSON, but not a valid request: answered with `success: false` under
    /// `msg` (the packet type when known, else `error`).
    Invalid {
        msg: &'static str,
        cid: Value,
        error: String,
    },
}

/// Reads one text frame. Never panics, whatever the input.
pub fn interpret(text: &str, max_frame_bytes: usize) -> Result<Incoming, Violation> {
    if text.len() > max_frame_bytes {
        return Err(Violation::TooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| Violation::NotJson)?;
    let Value::Object(mut frame) = value else {
        return Ok(invalid(
            msg::ERROR,
            Value::Null,
            "a frame must be a JSON object {\"msg\", \"cid\", \"content\"}",
        ));
    };
    let cid = frame.remove("cid").unwrap_or(Value::Null);
    let content = frame.remove("content").unwrap_or(Value::Null);
    let kind = match frame.get("msg") {
        None | Some(Value::Null) => return Ok(invalid(msg::ERROR, cid, "`msg` is required")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Ok(invalid(msg::ERROR, cid, "`msg` must be a string")),
    };
    Ok(match kind {
        msg::PING => Incoming::Ping { cid, content },
        msg::SESSION => match serde_json::from_value::<SessionRequest>(content) {
            Ok(request) => Incoming::Session { cid, request },
            Err(err) => invalid(
                msg::SESSION,
                cid,
                &format!("invalid session request: {}", describe(&err)),
            ),
        },
        msg::CHAT => match read_chat(content) {
            Ok((prompt, stream)) => Incoming::Chat {
                cid,
                prompt,
                stream,
            },
            Err(error) => invalid(msg::CHAT, cid, &format!("invalid chat request: {error}")),
        },
        msg::SYSTEM => invalid(
            msg::ERROR,
            cid,
            "`system` frames are sent by the server only",
        ),
        other => {
            let shown: String = other.chars().take(32).collect();
            invalid(
                msg::ERROR,
                cid,
                &format!("unknown `msg` {shown:?}; expected ping, session or chat"),
            )
        }
    })
}

fn invalid(msg: &'static str, cid: Value, error: &str) -> Incoming {
    Incoming::Invalid {
        msg,
        cid,
        error: error.to_owned(),
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

/// The prompt of a chat frame's content, checked like any message.
fn read_chat(content: Value) -> Result<(String, bool), String> {
    if content.is_null() {
        return Err("`content` with `type` and `data` is required".into());
    }
    let chat: ChatFrame = serde_json::from_value(content).map_err(|err| describe(&err))?;
    let prompt = decode_text(&chat.data).map_err(|err| err.to_string())?;
    check_message_text(&prompt).map_err(|err| err.to_string())?;
    Ok((prompt, chat.stream))
}

/// A frame as text.
pub fn encode<C: Serialize>(kind: &str, cid: Value, content: C) -> String {
    serde_json::to_string(&Frame::new(kind, cid, content)).expect("frames always serialize")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMIT: usize = 1024;

    fn failure(text: &str) -> (&'static str, Value, String) {
        match interpret(text, LIMIT) {
            Ok(Incoming::Invalid { msg, cid, error }) => (msg, cid, error),
            other => panic!("{text} should be answered with a failure, got {other:?}"),
        }
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
