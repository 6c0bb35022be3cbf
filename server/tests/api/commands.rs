//! `POST /commands` and `GET /commands` against the stub provider.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, spawn_app, spawn_app_with_llm, SseClient, SseEvent, DEADLINE, TEST_API_KEY,
};
use crate::ws_client::{b64, WsClient};
use malten_tests::llm_stub::{LlmStub, Mode, PROVIDER_SECRET};

fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|event| event.event.as_str()).collect()
}

#[tokio::test]
async fn every_llm_path_answers_llm_disabled_without_a_backend() {
    let app = spawn_app().await;
    let body = assert_error(
        app.post_command(&[("stream", "off"), ("prompt", "hello?")])
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "llm_disabled",
    )
    .await;
    let sentence = body["error"].as_str().unwrap();
    assert!(
        sentence.contains("MALTEN_LLM_BASE_URL") && sentence.contains("OPENAI_API_KEY"),
        "{sentence}"
    );
    // Even a request with bad parameters learns that first.
    assert_error(
        app.post_command(&[]).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "llm_disabled",
    )
    .await;
    assert!(
        app.messages("stream=off").await.is_empty(),
        "nothing stored"
    );

    let (status, info) = app.get_json("/commands").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["enabled"], false);
    assert_eq!(info["disabled_reason"], sentence);
    let (_, health) = app.get_json("/healthz").await;
    assert_eq!(health["llm"], false);

    let mut ws = WsClient::connect_past_motd(&app).await;
    let created = ws
        .session(json!({"request": "create", "settings": {}}))
        .await;
    assert_eq!(created["success"], false);
    assert_eq!(created["error"], sentence);
    let chat = ws.chat("c1", "hello?").await;
    assert_eq!(chat["cid"], "c1");
    assert_eq!(chat["content"]["success"], false);
    assert_eq!(chat["content"]["error"], sentence);
    // Ping still works: the socket itself is not an LLM call.
    let pong = ws
        .request(json!({"msg": "ping", "cid": "p", "content": null}))
        .await;
    assert_eq!(pong["msg"], "ping");
}

#[tokio::test]
async fn get_commands_and_healthz_say_the_llm_is_enabled() {
    let stub = LlmStub::replying(&["hi"]).await;
    let app = spawn_app_with_llm(&stub, |config| config.llm_model = "tiny".into()).await;
    let (_, info) = app.get_json("/commands").await;
    assert_eq!(
        info,
        json!({"enabled": true, "model": "tiny", "max_reply_chars": 1024})
    );
    let (_, health) = app.get_json("/healthz").await;
    assert_eq!(health["llm"], true);
}

#[tokio::test]
async fn a_command_stores_the_prompt_then_the_reply_and_subscribers_see_partials_between() {
    let stub = LlmStub::replying(&["The answer", " is 4."]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let mut subscriber = app.sse("stream=calc", None).await;
    subscriber.next_of("presence").await;

    let events = app.command_ok("calc", "what is 2+2?").await;
    assert_eq!(
        names(&events),
        ["command", "partial", "partial", "reply"],
        "{events:?}"
    );
    let command = events[0].json();
    assert_eq!(command["type"], "command");
    assert_eq!(command["text"], "what is 2+2?");
    assert_eq!(events[1].json()["delta"], "The answer");
    assert_eq!(events[1].json()["command"], command["id"]);
    assert_eq!(events[1].json()["done"], false);
    let reply = events[3].json();
    assert_eq!(reply["type"], "reply");
    assert_eq!(reply["text"], "The answer is 4.");

    let stored = app.messages("stream=calc&direction=1").await;
    assert_eq!(stored, [command.clone(), reply.clone()]);

    let mut seen = Vec::new();
    loop {
        let event = subscriber.next_event().await;
        let data = event.json();
        match event.event.as_str() {
            "message" => seen.push(format!("message:{}", data["type"].as_str().unwrap())),
            "partial" if data["done"] == true => {
                assert_eq!(data["command"], command["id"]);
                seen.push("done".into());
                break;
            }
            "partial" => seen.push(format!("partial:{}", data["delta"].as_str().unwrap())),
            "presence" => {}
            other => panic!("unexpected {other} event"),
        }
    }
    assert_eq!(
        seen,
        [
            "message:command",
            "partial:The answer",
            "partial: is 4.",
            "message:reply",
            "done"
        ]
    );
}

#[tokio::test]
async fn the_model_gets_the_key_the_model_the_system_prompt_and_recent_messages_within_the_budget()
{
    let stub = LlmStub::replying(&["noted"]).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_model = "stub-model".into();
        config.llm_system_prompt = "Be terse.".into();
        config.llm_max_tokens = 77;
        config.llm_context_chars = 30;
    })
    .await;
    app.post_ok("ctx", "an old message that will not fit").await;
    app.post_ok("ctx", "recent one").await;
    app.command_ok("ctx", "first?").await;
    app.command_ok("ctx", "second?").await;

    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(
        first.headers["authorization"],
        format!("Bearer {TEST_API_KEY}")
    );
    assert_eq!(first.body["model"], "stub-model");
    assert_eq!(first.body["stream"], true);
    assert_eq!(first.body["max_tokens"], 77);
    let turns = |texts: &[(&str, &str)]| -> Vec<(String, String)> {
        texts
            .iter()
            .map(|(role, text)| ((*role).to_owned(), (*text).to_owned()))
            .collect()
    };
    assert_eq!(
        first.turns(),
        turns(&[
            ("system", "Be terse."),
            ("user", "recent one"),
            ("user", "first?")
        ])
    );
    // 30 characters: "second?" (7) + "noted" (5) + "first?" (6) + "recent one" (10).
    assert_eq!(
        requests[1].turns(),
        turns(&[
            ("system", "Be terse."),
            ("user", "recent one"),
            ("user", "first?"),
            ("assistant", "noted"),
            ("user", "second?"),
        ])
    );
}

#[tokio::test]
async fn replies_are_cut_to_1024_characters() {
    let long = "é".repeat(700);
    let stub = LlmStub::replying(&[&long, &long]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let events = app.command_ok("long", "talk a lot").await;
    let reply = events.last().unwrap().json();
    assert_eq!(reply["text"].as_str().unwrap().chars().count(), 1024);
    let stored = app.messages("stream=long").await;
    assert_eq!(stored[0]["text"], reply["text"]);
}

#[tokio::test]
async fn bad_command_input_gets_a_clear_400_or_413_and_stores_nothing() {
    let stub = LlmStub::replying(&["never"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let too_long = "x".repeat(1025);
    /// The form, the expected status and code, and what the case is.
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            &[("stream", "bad")],
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "no prompt",
        ),
        (
            &[("stream", "bad"), ("prompt", "  ")],
            StatusCode::BAD_REQUEST,
            "empty_message",
            "blank prompt",
        ),
        (
            &[("stream", "bad"), ("prompt", &too_long)],
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
            "prompt over 1024 characters",
        ),
        (
            &[("stream", "bad name"), ("prompt", "hi")],
            StatusCode::BAD_REQUEST,
            "invalid_stream_name",
            "bad stream name",
        ),
        (
            &[
                ("stream", "bad"),
                ("prompt", "hi"),
                ("plaintext", "perhaps"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "plaintext not a boolean",
        ),
    ];
    for (form, status, code, case) in cases {
        let response = app.post_command(form).await;
        assert_eq!(response.status(), status, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{case}: {body}");
    }
    assert!(app.messages("stream=bad").await.is_empty());
    assert!(stub.requests().is_empty(), "the provider was never asked");
}

#[tokio::test]
async fn a_provider_error_is_a_502_that_leaks_neither_its_body_nor_the_key() {
    let stub = LlmStub::start(Mode::Fail).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let response = app
        .post_command(&[("stream", "err"), ("prompt", "hello")])
        .await;
    let text = format!("{:?}", response.headers());
    let body = assert_error(response, StatusCode::BAD_GATEWAY, "llm_provider_error").await;
    let all = format!("{text}{body}");
    assert!(!all.contains(PROVIDER_SECRET), "{all}");
    assert!(!all.contains(TEST_API_KEY), "{all}");
    assert!(body["error"].as_str().unwrap().contains("500"), "{body}");
    let stored = app.messages("stream=err").await;
    assert_eq!(stored.len(), 1, "the command is kept, no reply is stored");
    assert_eq!(stored[0]["type"], "command");
}

/// The first-token timeout, not the total one, ends the wait: timed, with
/// the total timeout far away so the two cannot be confused.
#[tokio::test]
async fn a_provider_that_never_answers_is_a_504_after_the_first_token_timeout() {
    let stub = LlmStub::start(Mode::Stall).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_first_token_timeout_secs = 0.3;
        config.llm_total_timeout_secs = 60.0;
    })
    .await;
    let started = std::time::Instant::now();
    let response = app
        .post_command(&[("stream", "slow"), ("prompt", "hello")])
        .await;
    let elapsed = started.elapsed();
    assert_error(response, StatusCode::GATEWAY_TIMEOUT, "llm_timeout").await;
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}, not after the 0.3 s first-token timeout"
    );
    assert_eq!(stub.requests().len(), 1, "the provider was asked once");
}

/// The first piece arrives at once and the rest is held: the total timeout
/// (1.5 s, ample for the first piece on a loaded machine) ends the reply.
#[tokio::test]
async fn a_reply_that_stalls_midway_ends_with_an_error_event_and_no_reply_is_stored() {
    let stub = LlmStub::start(Mode::Held(vec!["Half".into(), " done".into()])).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_first_token_timeout_secs = 60.0;
        config.llm_total_timeout_secs = 1.5;
    })
    .await;
    let mut subscriber = app.sse("stream=stall", None).await;
    subscriber.next_of("presence").await;
    let started = std::time::Instant::now();
    let events = app.command_ok("stall", "go").await;
    let elapsed = started.elapsed();
    assert_eq!(names(&events), ["command", "partial", "error"]);
    assert_eq!(events[1].json()["delta"], "Half");
    assert_eq!(events[2].json()["code"], "llm_timeout");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "ended after {elapsed:?}, not after the 1.5 s total timeout"
    );
    assert_eq!(app.messages("stream=stall").await.len(), 1);
    let done = loop {
        let event = subscriber.next_of("partial").await.json();
        if event["done"] == true {
            break event;
        }
    };
    assert_eq!(done["error"], "llm_timeout");
}

#[tokio::test]
async fn commands_are_limited_per_stream_and_per_client_while_replies_are_generated() {
    let stub = LlmStub::start(Mode::Held(vec!["slow".into(), " reply".into()])).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_max_concurrent_per_ip = 2;
        config.llm_max_concurrent_per_stream = 1;
    })
    .await;
    // A first piece arrived, so this reply is in flight until released.
    let in_flight = app
        .post_command(&[("stream", "a"), ("prompt", "one")])
        .await;
    assert_eq!(in_flight.status(), StatusCode::OK);

    let busy_stream = app
        .post_command(&[("stream", "a"), ("prompt", "two")])
        .await;
    assert_eq!(busy_stream.headers()["retry-after"], "1");
    assert_error(
        busy_stream,
        StatusCode::TOO_MANY_REQUESTS,
        "llm_stream_busy",
    )
    .await;
    let second = app
        .post_command(&[("stream", "b"), ("prompt", "three")])
        .await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_error(
        app.post_command(&[("stream", "c"), ("prompt", "four")])
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "llm_busy",
    )
    .await;

    stub.release();
    for response in [in_flight, second] {
        let events = SseClient::from_response(response).all_events().await;
        assert_eq!(names(&events).last(), Some(&"reply"));
    }
    // Both slots are free again (the permit drops just after the last event).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let response = app
            .post_command(&[("stream", "a"), ("prompt", "again")])
            .await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slots never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn prompts_are_rate_limited_per_client() {
    let stub = LlmStub::replying(&["ok"]).await;
    let app = spawn_app_with_llm(&stub, |config| {
        config.llm_rate_per_minute = 1;
        config.llm_rate_burst = 2;
        config.rate_clock = malten_server::limits::RateClock::frozen();
    })
    .await;
    app.command_ok("rate", "one").await;
    app.command_ok("rate", "two").await;
    let refused = app
        .post_command(&[("stream", "rate"), ("prompt", "three")])
        .await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "llm_rate_limited").await;
    assert_eq!(stub.requests().len(), 2);
    // The rate is shared with /ws chats.
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(json!({})).await;
    let chat = ws
        .request(
            json!({"msg": "chat", "cid": "r", "content": {"type": "text", "data": b64("four")}}),
        )
        .await;
    assert_eq!(chat["content"]["success"], false);
    assert!(chat["content"]["error"]
        .as_str()
        .unwrap()
        .contains("too many prompts"));
}

#[tokio::test]
async fn plaintext_true_on_a_plain_stream_changes_nothing() {
    let stub = LlmStub::replying(&["same"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let response = app
        .post_command(&[("stream", "plain"), ("prompt", "hi"), ("plaintext", "true")])
        .await;
    let events = SseClient::from_response(response).all_events().await;
    assert_eq!(names(&events), ["command", "partial", "reply"]);
    assert_eq!(app.messages("stream=plain").await.len(), 2);
}

#[tokio::test]
async fn a_json_body_works_like_a_form() {
    let stub = LlmStub::replying(&["json"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let response = app
        .client
        .post(app.url("/commands"))
        .json(&json!({"stream": "j", "prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = SseClient::from_response(response).all_events().await;
    assert_eq!(events.last().unwrap().json()["text"], "json");
}

#[tokio::test]
async fn an_encrypted_stream_refuses_commands_without_the_plaintext_opt_in() {
    let stub = LlmStub::replying(&["never"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let secret = crate::encrypted::secret("pass");
    crate::encrypted::create_encrypted(&app, "vault", &secret.params, true).await;
    let body = assert_error(
        app.post_command(&[("stream", "vault"), ("prompt", "summarise")])
            .await,
        StatusCode::BAD_REQUEST,
        "plaintext_opt_in_required",
    )
    .await;
    assert!(
        body["error"].as_str().unwrap().contains("plaintext=true"),
        "{body}"
    );
    assert!(stub.requests().is_empty(), "nothing reached the model");
    assert!(app.messages("stream=vault").await.is_empty());
}

#[tokio::test]
async fn with_the_opt_in_an_encrypted_stream_gets_the_reply_in_the_response_only() {
    let stub = LlmStub::replying(&["Private", " answer"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let secret = crate::encrypted::secret("pass");
    crate::encrypted::create_encrypted(&app, "vault", &secret.params, true).await;
    // The stream has messages, so a bug that gave them to the model as
    // context would show in what the model received.
    let mut earlier = Vec::new();
    for text in ["first secret", "second secret"] {
        let envelope = crate::encrypted::envelope(&secret, "vault", text);
        app.post_ok("vault", &envelope).await;
        earlier.push(envelope);
    }
    let mut subscriber = app.sse("stream=vault", None).await;
    subscriber.next_of("presence").await;

    let response = app
        .post_command(&[
            ("stream", "vault"),
            ("prompt", "summarise"),
            ("plaintext", "true"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = SseClient::from_response(response).all_events().await;
    let kinds = names(&events);
    assert_eq!(
        kinds.first(),
        Some(&"partial"),
        "no stored command: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"reply"), "{kinds:?}");
    let reply = events.last().unwrap().json();
    assert_eq!(reply["text"], "Private answer");
    assert!(
        reply.get("id").is_none() && reply.get("created").is_none(),
        "an unstored reply: {reply}"
    );
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    // None of the stream's messages are given to the model: the system
    // prompt and the prompt, nothing else.
    let turns = requests[0].turns();
    let roles: Vec<&str> = turns.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["system", "user"], "{turns:?}");
    assert_eq!(turns[1].1, "summarise");
    let sent = requests[0].body.to_string();
    for envelope in &earlier {
        assert!(
            !sent.contains(envelope.as_str()),
            "a message reached the model"
        );
    }

    // Nothing stored, nothing broadcast: the stream stays ciphertext-only.
    let stored: Vec<Value> = app.messages("stream=vault&direction=1").await;
    let envelopes: Vec<&str> = stored
        .iter()
        .map(|m| m["envelope"].as_str().unwrap())
        .collect();
    assert_eq!(envelopes, earlier);
    let marker = crate::encrypted::envelope(&secret, "vault", "marker");
    app.post_ok("vault", &marker).await;
    let next = subscriber.next_event().await;
    assert_eq!(
        next.event, "message",
        "the first event after presence is our marker"
    );
    assert_eq!(next.json()["envelope"], marker.as_str());
}
