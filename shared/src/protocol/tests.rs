//! The protocol's serde shapes against the examples of `docs/llm-protocol.md`.

use super::*;
use serde_json::json;

#[test]
fn text_round_trips_through_base64_in_any_script() {
    for text in ["hello", "héllo wörld", "😀 日本語", ""] {
        assert_eq!(decode_text(&encode_text(text)).unwrap(), text);
    }
    assert_eq!(encode_text("hi"), "aGk=");
    assert_eq!(decode_text("aGk").unwrap(), "hi", "padding is optional");
}

#[test]
fn bad_data_is_named_as_such() {
    assert_eq!(decode_text("not base64!"), Err(TextDataError::NotBase64));
    assert_eq!(decode_text("//79"), Err(TextDataError::NotUtf8));
}

#[test]
fn session_requests_read_the_seed_examples() {
    let create: SessionRequest = serde_json::from_value(json!({
        "request": "create",
        "settings": {"model": "ggml-gpt4all-l13b-snoozy.bin", "temperature": 0.8, "seed": 1234}
    }))
    .unwrap();
    assert_eq!(
        create,
        SessionRequest::Create {
            settings: SessionSettings {
                model: Some("ggml-gpt4all-l13b-snoozy.bin".into()),
                temperature: Some(0.8),
                seed: Some(1234),
                name: None,
            }
        }
    );
    let resume: SessionRequest =
        serde_json::from_value(json!({"request": "resume", "session_id": "1234abcd"})).unwrap();
    assert_eq!(
        resume,
        SessionRequest::Resume {
            session_id: "1234abcd".into()
        }
    );
    let status: SessionRequest = serde_json::from_value(json!({"request": "status"})).unwrap();
    assert_eq!(status, SessionRequest::Status { session_id: None });
}

#[test]
fn responses_have_the_seed_shape() {
    let created = SessionResponse {
        session_id: Some("abc".into()),
        ..SessionResponse::ok()
    };
    assert_eq!(
        serde_json::to_value(Frame::new(
            json!("1a2b3c4d"),
            ServerPacket::Session(created)
        ))
        .unwrap(),
        json!({"msg": "session", "cid": "1a2b3c4d",
               "content": {"success": true, "error": null, "session_id": "abc"}})
    );
    assert_eq!(
        serde_json::to_value(ChatResponse::text("Alice", "hi", false)).unwrap(),
        json!({"success": true, "error": null, "sender": "Alice", "bot": true,
               "type": "text", "data": "aGk="})
    );
    assert_eq!(
        serde_json::to_value(SystemMessage::text("motd", "hi")).unwrap(),
        json!({"type": "text", "data": "aGk=", "code": "motd"})
    );
}

#[test]
fn client_frames_are_told_apart_by_msg() {
    let frame: Frame<ClientPacket> = serde_json::from_value(json!({
        "msg": "chat", "cid": "c1", "content": {"type": "text", "data": "aGk="}
    }))
    .unwrap();
    assert_eq!(frame.cid, json!("c1"));
    assert_eq!(
        frame.packet,
        ClientPacket::Chat(ChatRequest {
            kind: ContentType::Text,
            data: "aGk=".into(),
            stream: false
        })
    );
    let ping: Frame<ClientPacket> =
        serde_json::from_value(json!({"msg": "ping", "content": {"any": 1}})).unwrap();
    assert_eq!(ping.cid, Value::Null);
    assert_eq!(ping.packet, ClientPacket::Ping(json!({"any": 1})));
    for not_a_request in ["system", "error", "dance"] {
        let frame = json!({"msg": not_a_request, "cid": "x", "content": null});
        assert!(serde_json::from_value::<Frame<ClientPacket>>(frame).is_err());
    }
}

#[test]
fn server_frames_round_trip_and_name_their_type() {
    let frames = [
        ServerPacket::Ping(json!({"any": ["thing"]})),
        ServerPacket::Session(SessionResponse::failed("no")),
        ServerPacket::Chat(ChatResponse::text("Bot", "hi", true)),
        ServerPacket::System(SystemMessage::text("motd", "hello")),
        ServerPacket::Error(ErrorContent {
            success: false,
            error: "bad".into(),
        }),
    ];
    for packet in frames {
        let frame = Frame::new(json!(7), packet);
        let value = serde_json::to_value(&frame).unwrap();
        assert_eq!(value["msg"], frame.packet.msg());
        assert_eq!(value["cid"], 7);
        assert_eq!(value.as_object().unwrap().len(), 3, "{value}");
        let back: Frame<ServerPacket> = serde_json::from_value(value).unwrap();
        assert_eq!(back, frame);
    }
}

#[test]
fn server_frames_are_written_msg_cid_content_in_that_order() {
    let pong = Frame::new(json!("1a2b3c4d"), ServerPacket::Ping(Value::Null));
    assert_eq!(
        serde_json::to_string(&pong).unwrap(),
        r#"{"msg":"ping","cid":"1a2b3c4d","content":null}"#
    );
}

#[test]
fn the_stream_extension_is_off_unless_asked() {
    let plain: ChatRequest =
        serde_json::from_value(json!({"type": "text", "data": "aGk="})).unwrap();
    assert!(!plain.stream);
    let streaming: ChatRequest =
        serde_json::from_value(json!({"type": "text", "data": "aGk=", "stream": true})).unwrap();
    assert!(streaming.stream);
}

/// Found by the `ws_frame` fuzz target: an 89-digit numeric `cid` was
/// echoed as an `f64` whose text read back as a different number, because
/// serde_json's default float parsing is not correctly rounded. With
/// `float_roundtrip` (workspace `Cargo.toml`) the echo reads back as the
/// same number the client sent.
#[test]
fn a_huge_numeric_cid_is_echoed_as_the_same_number() {
    let sent = r#"{"msg":"ping","content":null,"cid":222228888888888888888888888888888888888888888888888888888888888888888888888888888882222}"#;
    let frame: Frame<ClientPacket> = serde_json::from_str(sent).unwrap();
    let reply = Frame::new(frame.cid.clone(), ServerPacket::Ping(Value::Null));
    let echoed: Value = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
    let original: Value = serde_json::from_str(sent).unwrap();
    assert_eq!(echoed["cid"], original["cid"]);
}
