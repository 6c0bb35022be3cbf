use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app, spawn_app_with_llm, TEST_API_KEY};
use crate::log_capture::LogCapture;
use crate::ws_client::WsClient;
use malten_tests::llm_stub::{LlmStub, Mode, PROVIDER_SECRET};

/// On a current-thread runtime every server task runs on this thread, so a
/// thread-local subscriber at the most verbose level sees every log line.
#[tokio::test(flavor = "current_thread")]
async fn logs_at_every_level_never_contain_message_text() {
    let captured = LogCapture::start();

    let secret = "correct-horse-battery-staple";
    let app = spawn_app().await;
    app.create_stream(&[("stream", "diary"), ("private", "false")])
        .await;
    let mut events = app.sse("stream=diary", None).await;
    app.post_ok("diary", secret).await;
    assert_eq!(events.texts(1).await, [secret]);
    app.messages("stream=diary").await;
    assert_error(
        app.post_message("diary", &format!("{secret}{}", "!".repeat(1024)))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "message_too_long",
    )
    .await;

    let logs = captured.text();
    assert!(
        logs.contains("stream created") && logs.contains("message_too_long"),
        "the capture works, and saw the refused post:\n{logs}"
    );
    assert!(
        !logs.contains(secret),
        "message text leaked into the logs:\n{logs}"
    );
}

/// The LLM paths: prompts, replies, the API key and the provider's error
/// body stay out of the logs at every level, on success and on failure.
#[tokio::test(flavor = "current_thread")]
async fn llm_logs_never_contain_prompts_replies_keys_or_provider_bodies() {
    let captured = LogCapture::start();

    let prompt = "prompt-purple-elephant";
    let reply = "reply-orange-giraffe";
    let stub = LlmStub::replying(&[reply]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    app.command_ok("diary", prompt).await;
    let mut ws = WsClient::connect_past_motd(&app).await;
    ws.create_session(serde_json::json!({})).await;
    let answer = ws.chat("c", prompt).await;
    assert_eq!(answer["content"]["success"], true);
    // Parameters in the query string stay out of the request spans too.
    let in_query = app
        .client
        .post(app.url(&format!("/commands?stream=diary&prompt={prompt}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 200);
    in_query.text().await.unwrap();
    stub.set_mode(Mode::Fail);
    let failed = app
        .post_command(&[("stream", "diary"), ("prompt", prompt)])
        .await;
    assert_eq!(failed.status(), 502);
    let answer = ws.chat("d", prompt).await;
    assert_eq!(answer["content"]["success"], false);

    let logs = captured.text();
    assert!(
        logs.contains("command answered") && logs.contains("status=500"),
        "the capture works:\n{logs}"
    );
    for secret in [prompt, reply, TEST_API_KEY, PROVIDER_SECRET] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
