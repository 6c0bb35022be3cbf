//! The `/ws` session protocol, packet by packet, against the stub provider.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::helpers::{spawn_app_with, spawn_app_with_llm, DEADLINE, TEST_API_KEY};
use crate::ws_client::{b64, text_of, wait_until_a_connection_is_accepted, WsClient};
use malten_tests::llm_stub::{LlmStub, Mode, PROVIDER_SECRET};

#[tokio::test]
async fn the_message_of_the_day_arrives_first_as_base64_text() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.motd = "Hello, tester ✓".into()).await;
    let mut ws = WsClient::connect(&app).await;
    let motd = ws.recv().await;
    assert_eq!(motd["msg"], "system");
    assert_eq!(motd["cid"], Value::Null);
    assert_eq!(motd["content"]["type"], "text");
    assert_eq!(motd["content"]["code"], "motd");
    assert_eq!(text_of(&motd["content"]["data"]), "Hello, tester ✓");
}

#[tokio::test]
async fn an_empty_message_of_the_day_is_not_sent() {
    let app = spawn_app_with(|config| config.motd = String::new()).await;
    let mut ws = WsClient::connect(&app).await;
    let pong = ws
        .request(json!({"msg": "ping", "cid": "first", "content": null}))
        .await;
    assert_eq!(pong["msg"], "ping", "the first frame is the pong: {pong}");
}

#[tokio::test]
async fn ping_is_echoed_with_its_cid_and_content() {
    let app = spawn_app_with(|_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    for frame in [
        json!({"msg": "ping", "cid": "1a2b3c4d", "content": null}),
        json!({"msg": "ping", "cid": 42, "content": {"any": ["thing"]}}),
    ] {
        assert_eq!(ws.request(frame.clone()).await, frame);
    }
}

#[tokio::test]
async fn a_session_is_created_described_resumed_elsewhere_and_destroyed() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_model = "default-model".into();
        config.llm_allowed_models = "ggml-gpt4all-l13b-snoozy.bin".into();
    })
    .await;
    let mut first = WsClient::connect_past_motd(&app).await;
    let settings = json!({"model": "ggml-gpt4all-l13b-snoozy.bin", "temperature": 0.8,
                          "seed": 1234, "name": "Alice"});
    let created = first
        .request(json!({"msg": "session", "cid": "c-create",
                        "content": {"request": "create", "settings": settings}}))
        .await;
    assert_eq!(created["msg"], "session");
    assert_eq!(created["cid"], "c-create");
    assert_eq!(created["content"]["success"], true);
    assert_eq!(created["content"]["error"], Value::Null);
    let id = created["content"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 22, "128 bits, base64url");
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    let status = first
        .session(json!({"request": "status", "session_id": id}))
        .await;
    assert_eq!(
        status,
        json!({"success": true, "error": null, "status": "idle", "settings": settings})
    );

    // Another connection takes the session up; `status` then needs no id.
    let mut second = WsClient::connect_past_motd(&app).await;
    let resumed = second
        .session(json!({"request": "resume", "session_id": id}))
        .await;
    assert_eq!(resumed, json!({"success": true, "error": null}));
    assert_eq!(
        second.session(json!({"request": "status"})).await["status"],
        "idle"
    );

    let wrong = second
        .session(json!({"request": "destroy", "session_id": "someone-elses"}))
        .await;
    assert_eq!(wrong["success"], false);
    assert!(wrong["error"]
        .as_str()
        .unwrap()
        .contains("only the session"));
    let destroyed = second
        .session(json!({"request": "destroy", "session_id": id}))
        .await;
    assert_eq!(destroyed, json!({"success": true, "error": null}));

    for request in [
        json!({"request": "status", "session_id": id}),
        json!({"request": "resume", "session_id": id}),
    ] {
        let gone = first.session(request).await;
        assert_eq!(gone["success"], false);
        assert!(
            gone["error"]
                .as_str()
                .unwrap()
                .contains("expired or does not exist"),
            "{gone}"
        );
    }
}

#[tokio::test]
async fn session_settings_are_checked_and_defaults_filled_in() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.llm_model = "default-model".into()).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    let cases = [
        (json!({"model": "expensive-model"}), "not offered"),
        (json!({"temperature": 2.5}), "between 0 and 2"),
        (json!({"temperature": -0.1}), "between 0 and 2"),
        (json!({"name": ""}), "1 to 64"),
        (json!({"name": "x".repeat(65)}), "1 to 64"),
    ];
    for (settings, expected) in cases {
        let reply = ws
            .session(json!({"request": "create", "settings": settings}))
            .await;
        assert_eq!(reply["success"], false, "{settings}");
        assert!(
            reply["error"].as_str().unwrap().contains(expected),
            "{settings}: {reply}"
        );
    }
    ws.create_session(json!({})).await;
    let status = ws.session(json!({"request": "status"})).await;
    assert_eq!(
        status["settings"],
        json!({"model": "default-model", "temperature": null, "seed": null, "name": "Malten"})
    );
}

#[tokio::test]
async fn chat_replies_in_base64_as_the_bot_and_sends_the_history_to_the_model() {
    let stub = LlmStub::replying(&["Hel", "lo ☀"]).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_system_prompt = "Be kind.".into();
    })
    .await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({"temperature": 0.8, "seed": 1234, "name": "Alice"}))
        .await;

    let reply = ws.chat("c1", "first prompt").await;
    assert_eq!(reply["msg"], "chat");
    assert_eq!(reply["cid"], "c1");
    let content = &reply["content"];
    assert_eq!(content["success"], true);
    assert_eq!(content["error"], Value::Null);
    assert_eq!(content["sender"], "Alice");
    assert_eq!(content["bot"], true);
    assert_eq!(content["type"], "text");
    assert_eq!(text_of(&content["data"]), "Hello ☀");
    assert!(content.get("partial").is_none());

    ws.chat("c2", "second prompt").await;
    let requests = stub.requests();
    assert_eq!(requests[0].body["temperature"], 0.8);
    assert_eq!(requests[0].body["seed"], 1234);
    assert_eq!(
        requests[0].headers["authorization"],
        format!("Bearer {TEST_API_KEY}")
    );
    let turns: Vec<(String, String)> = requests[1].turns();
    let expected: Vec<(String, String)> = [
        ("system", "Be kind."),
        ("user", "first prompt"),
        ("assistant", "Hello ☀"),
        ("user", "second prompt"),
    ]
    .iter()
    .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(turns, expected, "the history goes to the model");
}

#[tokio::test]
async fn a_resumed_session_keeps_its_history() {
    let stub = LlmStub::replying(&["remembered"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut first = WsClient::connect_past_motd(&app).await;
    let id = first.create_session(json!({})).await;
    first.chat("a", "my name is Ada").await;
    drop(first);
    let mut second = WsClient::connect_past_motd(&app).await;
    second
        .session(json!({"request": "resume", "session_id": id}))
        .await;
    second.chat("b", "what is my name?").await;
    let turns = stub.requests()[1].turns();
    assert!(turns.contains(&("user".to_owned(), "my name is Ada".to_owned())));
}

#[tokio::test]
async fn a_second_prompt_while_one_is_processing_is_refused_and_the_socket_stays_responsive() {
    let stub = LlmStub::start(Mode::Held(vec!["slow".into(), " answer".into()])).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({})).await;
    ws.send(
        json!({"msg": "chat", "cid": "first", "content": {"type": "text", "data": b64("one")}}),
    )
    .await;
    // Wait until the provider has the request: the session is processing.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while stub.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the prompt never reached the stub"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = ws.session(json!({"request": "status"})).await;
    assert_eq!(status["status"], "processing");
    let busy = ws.chat("second", "two").await;
    assert_eq!(busy["cid"], "second");
    assert_eq!(busy["content"]["success"], false);
    assert!(
        busy["content"]["error"]
            .as_str()
            .unwrap()
            .contains("still processing"),
        "{busy}"
    );
    let pong = ws
        .request(json!({"msg": "ping", "cid": "p", "content": null}))
        .await;
    assert_eq!(pong["cid"], "p", "ping answered while the model works");

    stub.release();
    let reply = ws.recv().await;
    assert_eq!(reply["cid"], "first");
    assert_eq!(text_of(&reply["content"]["data"]), "slow answer");
    let status = ws.session(json!({"request": "status"})).await;
    assert_eq!(status["status"], "idle");
}

#[tokio::test]
async fn the_stream_extension_sends_partial_frames_then_the_whole_reply() {
    let stub = LlmStub::replying(&["To", "ken", "s"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({})).await;
    ws.send(json!({"msg": "chat", "cid": "s1",
                   "content": {"type": "text", "data": b64("stream it"), "stream": true}}))
        .await;
    let mut pieces = Vec::new();
    let last = loop {
        let frame = ws.recv().await;
        assert_eq!(frame["cid"], "s1");
        if frame["content"]["partial"] == true {
            pieces.push(text_of(&frame["content"]["data"]));
        } else {
            break frame;
        }
    };
    assert_eq!(pieces, ["To", "ken", "s"]);
    assert_eq!(text_of(&last["content"]["data"]), "Tokens");
    assert!(last["content"].get("partial").is_none());
}

#[tokio::test]
async fn chat_without_a_session_is_refused() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    let reply = ws.chat("c", "hello").await;
    assert_eq!(reply["content"]["success"], false);
    assert!(reply["content"]["error"]
        .as_str()
        .unwrap()
        .contains("no session"));
    let status = ws.session(json!({"request": "status"})).await;
    assert_eq!(status["success"], false);
}

#[tokio::test]
async fn an_idle_session_expires_and_resume_says_so() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.llm_session_idle_secs = 0.2).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    let id = ws.create_session(json!({})).await;
    // `status` does not count as use, so polling it waits for the expiry.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = ws
            .session(json!({"request": "status", "session_id": id}))
            .await;
        if status["success"] == false {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = ws
        .session(json!({"request": "resume", "session_id": id}))
        .await;
    assert_eq!(resumed["success"], false);
    assert_eq!(
        resumed["error"],
        "the session has expired or does not exist; create a new one"
    );
}

#[tokio::test]
async fn provider_failures_and_timeouts_are_clear_sentences_without_secrets() {
    let stub = LlmStub::start(Mode::Fail).await;
    // 1.5 s: ample for the stub to answer (or fail) first on a loaded
    // machine, and short enough to wait out once.
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_first_token_timeout_secs = 1.5;
        config.llm_total_timeout_secs = 60.0;
    })
    .await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({"name": "Bot"})).await;
    let failed = ws.chat("f", "hello").await;
    let text = failed.to_string();
    assert_eq!(failed["content"]["success"], false);
    assert_eq!(failed["content"]["sender"], "Bot");
    assert!(text.contains("HTTP status 500"), "{text}");
    assert!(!text.contains(PROVIDER_SECRET) && !text.contains(TEST_API_KEY));

    stub.set_mode(Mode::Stall);
    let started = std::time::Instant::now();
    let timed_out = ws.chat("t", "hello again").await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "gave up after {elapsed:?}, not after the 1.5 s first-token timeout"
    );
    assert_eq!(timed_out["content"]["success"], false);
    assert!(
        timed_out["content"]["error"]
            .as_str()
            .unwrap()
            .contains("did not start answering"),
        "{timed_out}"
    );
    // Failed turns leave the session idle and out of the history.
    stub.set_mode(Mode::Reply(vec!["fine".into()]));
    let ok = ws.chat("o", "third").await;
    assert_eq!(ok["content"]["success"], true);
    let turns = stub.requests().last().unwrap().turns();
    assert_eq!(turns.iter().filter(|(role, _)| role == "user").count(), 1);
}

#[tokio::test]
async fn bad_frames_get_failures_that_echo_the_cid_and_keep_the_connection() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({})).await;
    let cases = [
        (
            json!({"msg": "dance", "cid": "k1", "content": null}),
            "error",
            "unknown `msg`",
        ),
        (
            json!({"cid": "k2", "content": null}),
            "error",
            "`msg` is required",
        ),
        (
            json!({"msg": "system", "cid": "k3", "content": {}}),
            "error",
            "server only",
        ),
        (
            json!({"msg": "session", "cid": "k4", "content": {"request": "explode"}}),
            "session",
            "unknown variant",
        ),
        (
            json!({"msg": "session", "cid": "k5", "content": {"request": "resume"}}),
            "session",
            "session_id",
        ),
        (
            json!({"msg": "chat", "cid": "k6", "content": {"type": "text"}}),
            "chat",
            "missing field `data`",
        ),
        (
            json!({"msg": "chat", "cid": "k7", "content": {"type": "text", "data": "***"}}),
            "chat",
            "not valid base64",
        ),
        (
            json!({"msg": "chat", "cid": "k8", "content": {"type": "text", "data": 12}}),
            "chat",
            "invalid type",
        ),
        (
            json!({"msg": "chat", "cid": "k9", "content": {"type": "video", "data": "aGk="}}),
            "chat",
            "unknown variant",
        ),
    ];
    for (frame, msg, expected) in cases {
        let reply = ws.request(frame.clone()).await;
        assert_eq!(reply["msg"], msg, "for {frame}: {reply}");
        assert_eq!(reply["cid"], frame["cid"], "for {frame}: {reply}");
        assert_eq!(reply["content"]["success"], false, "for {frame}");
        let error = reply["content"]["error"].as_str().unwrap();
        assert!(error.contains(expected), "for {frame}: {error}");
    }
    let still_open = ws
        .request(json!({"msg": "ping", "cid": "alive", "content": null}))
        .await;
    assert_eq!(still_open["cid"], "alive");
    assert!(stub.requests().is_empty(), "no bad frame reached the model");
}

#[tokio::test]
async fn frames_that_are_not_json_binary_or_too_large_close_with_1002() {
    let app = spawn_app_with(|config| config.ws_max_frame_bytes = 1024).await;
    let cases: [(&str, Frame); 4] = [
        ("not JSON", Frame::Text("hello?".into())),
        ("truncated JSON", Frame::Text("{\"msg\": \"pi".into())),
        (
            "binary",
            Frame::Binary(b"{\"msg\":\"ping\"}".to_vec().into()),
        ),
        (
            "just over the limit",
            Frame::Text(
                json!({"msg": "ping", "cid": "big", "content": "x".repeat(1024)})
                    .to_string()
                    .into(),
            ),
        ),
    ];
    for (case, frame) in cases {
        let mut ws = WsClient::connect_past_motd(&app).await;
        ws.send_raw(frame).await;
        assert_eq!(ws.close_code().await, 1002, "{case}");
    }
    let mut ws = WsClient::connect_past_motd(&app).await;
    let at_limit = json!({"msg": "ping", "cid": "ok", "content": "x".repeat(980)});
    assert!(at_limit.to_string().len() <= 1024);
    assert_eq!(ws.request(at_limit.clone()).await, at_limit);
}

#[tokio::test]
async fn session_sockets_count_against_the_per_ip_connection_cap() {
    let app = spawn_app_with(|config| config.max_connections_per_ip = 1).await;
    let first = WsClient::connect_past_motd(&app).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    drop(first);
    wait_until_a_connection_is_accepted(&app, "the slot was never freed").await;
}

#[tokio::test]
async fn shutdown_sends_a_system_notice_then_closes() {
    let mut app = spawn_app_with(|_| {}).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    let shutdown = app.shutdown();
    let notice = async {
        let notice = ws.recv().await;
        assert_eq!(notice["msg"], "system");
        assert_eq!(notice["content"]["code"], "shutdown");
        assert!(text_of(&notice["content"]["data"]).contains("shutting down"));
        assert_eq!(ws.close_code().await, 1001);
    };
    let (result, ()) = tokio::join!(shutdown, notice);
    result.expect("run returns cleanly");
}

/// docs/llm-protocol.md: "The server pings every `--keepalive-secs`
/// (WebSocket ping frames)". With 1 s, two pings arrive, each about a
/// second apart, on an otherwise silent connection.
#[tokio::test]
async fn the_server_pings_every_keepalive_period() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.keepalive_secs = 1).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    let started = std::time::Instant::now();
    let mut pings = Vec::new();
    while pings.len() < 2 {
        match ws.next_frame().await {
            Frame::Ping(_) => pings.push(started.elapsed()),
            Frame::Pong(_) => {}
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(
        pings[1] >= Duration::from_millis(1500) && pings[1] < Duration::from_secs(5),
        "pings at {pings:?}"
    );
}

/// Creating a session counts against the address's creation rate
/// (`--rate-per-second`, `--rate-burst`), like creating a stream.
#[tokio::test]
async fn session_creation_counts_against_the_creation_rate() {
    let stub = LlmStub::replying(&["hi"]).await;
    let clock = malten_server::limits::RateClock::frozen();
    let app = spawn_app_with_llm(&stub, |config| {
        config.rate_per_second = 1;
        config.rate_burst = 2;
        config.rate_clock = clock.clone();
    })
    .await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({})).await;
    ws.create_session(json!({})).await;
    let refused = ws
        .session(json!({"request": "create", "settings": {}}))
        .await;
    let stream_too = app.create_stream(&[("stream", "after")]).await.status();
    let refused = (refused, stream_too);
    assert_eq!(refused.0["success"], false, "{refused:?}");
    assert!(
        refused.0["error"]
            .as_str()
            .unwrap()
            .contains("too many requests from your address"),
        "{refused:?}"
    );
    assert_eq!(refused.1, reqwest::StatusCode::TOO_MANY_REQUESTS);
}

/// At most `--llm-max-sessions` sessions exist at once, across connections;
/// destroying one makes room.
#[tokio::test]
async fn the_number_of_sessions_is_capped() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.llm_max_sessions = 2).await;
    let mut first = WsClient::connect_past_motd(&app).await;
    let mut second = WsClient::connect_past_motd(&app).await;
    let id = first.create_session(json!({})).await;
    second.create_session(json!({})).await;
    let refused = second
        .session(json!({"request": "create", "settings": {}}))
        .await;
    assert_eq!(refused["success"], false);
    assert_eq!(
        refused["error"],
        "the server holds its maximum of 2 sessions; try again later"
    );
    let destroyed = first
        .session(json!({"request": "destroy", "session_id": id}))
        .await;
    assert_eq!(destroyed["success"], true, "{destroyed}");
    second.create_session(json!({})).await;
}
