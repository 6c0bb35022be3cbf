//! `/ws` frames (the LLM socket): `frames::interpret`, which reads a text
//! frame as a `Frame<ClientPacket>` (`shared/src/protocol.rs`) and, when it
//! is not one, works out the documented failure.
//!
//! Properties: only oversized or non-JSON frames close the connection; every
//! JSON frame gets an answer echoing the `cid` exactly as sent; a chat
//! prompt passes the message text rule; a failure says so (`success:
//! false`); every answer encodes as a JSON frame `{"msg","cid","content"}`
//! whose `msg` names the packet and whose `cid` is the client's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_server::llm::frames::{encode, interpret, Incoming, Violation};
use malten_shared::check_message_text;
use malten_shared::protocol::{ServerPacket, SessionRequest};
use serde_json::Value;

/// The server's default `ws_max_frame_bytes` (server/src/config.rs).
const LIMIT: usize = 16 * 1024;

/// The answer's JSON has the documented shape, `msg` first.
fn answered(cid: &Value, reply: ServerPacket) {
    let msg = reply.msg();
    let text = encode(cid.clone(), reply);
    assert!(text.starts_with("{\"msg\":"), "{text}");
    let frame: Value = serde_json::from_str(&text).expect("an answer is JSON");
    assert_eq!(frame["msg"], msg);
    assert_eq!(&frame["cid"], cid);
    assert!(frame.get("content").is_some());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let incoming = match interpret(text, LIMIT) {
        Ok(incoming) => incoming,
        Err(Violation::TooLarge) => return assert!(text.len() > LIMIT),
        Err(Violation::NotJson) => {
            return assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}")
        }
        Err(other) => panic!("a text frame cannot be {other:?}"),
    };
    assert!(text.len() <= LIMIT);
    let sent: Value = serde_json::from_str(text).expect("only JSON is interpreted");
    let sent_cid = sent.get("cid").cloned().unwrap_or(Value::Null);
    match incoming {
        Incoming::Ping { cid, content } => {
            assert_eq!(cid, sent_cid);
            assert_eq!(&content, sent.get("content").unwrap_or(&Value::Null));
            answered(&cid, ServerPacket::Ping(content));
        }
        Incoming::Session { cid, request } => {
            assert_eq!(cid, sent_cid);
            let json = serde_json::to_value(&request).expect("a request serializes");
            let again: SessionRequest = serde_json::from_value(json).expect("and reads back");
            assert_eq!(again, request);
        }
        Incoming::Chat { cid, prompt, .. } => {
            assert_eq!(cid, sent_cid);
            assert_eq!(check_message_text(&prompt), Ok(()));
        }
        Incoming::Invalid { cid, reply } => {
            assert_eq!(cid, sent_cid);
            match &reply {
                ServerPacket::Error(content) => assert!(!content.success),
                ServerPacket::Session(content) => assert!(!content.success),
                ServerPacket::Chat(content) => assert!(!content.success),
                other => panic!("not a failure: {other:?}"),
            }
            answered(&cid, reply);
        }
    }
});
