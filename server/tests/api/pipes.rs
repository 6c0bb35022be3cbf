//! Secure pipes (`pipe=true` on `POST /streams`): two ends at most, no
//! history beyond what they have not both read, gone when both leave.

use reqwest::StatusCode;

use crate::encrypted::{envelope, secret, Secret};
use crate::helpers::{assert_error, spawn_app, TestApp};

async fn create_pipe(app: &TestApp, stream: &str, secret: &Secret) -> reqwest::Response {
    let iterations = secret.params.iterations.to_string();
    app.create_stream(&[
        ("stream", stream),
        ("pipe", "true"),
        ("encrypted", "true"),
        ("salt", &secret.params.salt),
        ("iterations", &iterations),
        ("check", &secret.params.check),
    ])
    .await
}

#[tokio::test]
async fn a_pipe_is_described_as_one_and_must_be_private_and_encrypted() {
    let app = spawn_app().await;
    let secret = secret("pipe");
    let response = create_pipe(&app, "tube", &secret).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let info: serde_json::Value = response.json().await.unwrap();
    assert_eq!(info["pipe"], true);
    assert_eq!(info["private"], true);
    let (_, other) = app.get_json("/streams/tube").await;
    assert_eq!(other["pipe"], true);

    let plain = app
        .create_stream(&[("stream", "p1"), ("pipe", "true")])
        .await;
    let body = assert_error(plain, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert!(body["error"].as_str().unwrap().contains("pipe"), "{body}");
    let iterations = secret.params.iterations.to_string();
    let public = app
        .create_stream(&[
            ("stream", "p2"),
            ("pipe", "true"),
            ("private", "false"),
            ("encrypted", "true"),
            ("salt", &secret.params.salt),
            ("iterations", &iterations),
            ("check", &secret.params.check),
        ])
        .await;
    assert_error(public, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    let bad = app
        .create_stream(&[("stream", "p3"), ("pipe", "yes")])
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    for name in ["p1", "p2", "p3"] {
        let (status, _) = app.get_json(&format!("/streams/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} was not created");
    }
    // An ordinary stream says nothing about pipes.
    let (_, plain) = app.get_json("/streams/tube").await;
    assert!(plain.get("pipe").is_some());
    app.create_stream(&[("stream", "ordinary")]).await;
    let (_, ordinary) = app.get_json("/streams/ordinary").await;
    assert!(ordinary.get("pipe").is_none(), "{ordinary}");
}

#[tokio::test]
async fn a_third_end_is_refused_with_pipe_full_and_a_place_frees_when_an_end_leaves() {
    let app = spawn_app().await;
    let secret = secret("pipe");
    create_pipe(&app, "tube", &secret).await;
    let first = app.sse("stream=tube&last=0", None).await;
    let _second = app.sse("stream=tube&last=0", None).await;
    let third = app
        .client
        .get(app.url("/events?stream=tube&last=0"))
        .send()
        .await
        .unwrap();
    let body = assert_error(third, StatusCode::CONFLICT, "pipe_full").await;
    assert!(
        body["error"].as_str().unwrap().contains("two ends"),
        "{body}"
    );
    let (_, info) = app.get_json("/streams/tube").await;
    assert_eq!(info["observers"], 2, "the refusal left nothing behind");
    drop(first);
    app.wait_for_observers("tube", 1).await;
    let _again = app.sse("stream=tube&last=0", None).await;
    app.wait_for_observers("tube", 2).await;
}

#[tokio::test]
async fn a_pipe_keeps_only_what_its_two_ends_have_not_both_read() {
    let app = spawn_app().await;
    let secret = secret("pipe");
    create_pipe(&app, "tube", &secret).await;
    let mut a = app.sse("stream=tube&last=0", None).await;
    // With one end there, messages wait for the other.
    for text in ["one", "two"] {
        let posted = app
            .post_message("tube", &envelope(&secret, "tube", text))
            .await;
        assert_eq!(posted.status(), StatusCode::CREATED);
    }
    a.next_of("message").await;
    a.next_of("message").await;
    let (_, info) = app.get_json("/streams/tube").await;
    assert_eq!(info["messages"], 2, "unread by the second end: kept");

    let mut b = app.sse("stream=tube&last=0", None).await;
    b.next_of("message").await;
    b.next_of("message").await;
    wait_for_messages(&app, "tube", 0).await;
    assert!(app.messages("stream=tube").await.is_empty());

    // An end that reconnects gets what it has not read yet, and no gap for
    // what both ends already had.
    drop(b);
    app.wait_for_observers("tube", 1).await;
    app.post_message("tube", &envelope(&secret, "tube", "three"))
        .await;
    let three = a.next_of("message").await;
    let (_, info) = app.get_json("/streams/tube").await;
    assert_eq!(info["messages"], 1, "read by one end only: kept");
    let mut b = app.sse("stream=tube&last=0", None).await;
    let again = b.next_event().await;
    assert_eq!(again.event, "presence");
    let again = b.next_event().await;
    assert_eq!((again.event.as_str(), again.id), ("message", three.id));
    wait_for_messages(&app, "tube", 0).await;
}

#[tokio::test]
async fn a_pipe_vanishes_when_both_ends_have_left() {
    let app = spawn_app().await;
    let secret = secret("pipe");
    create_pipe(&app, "tube", &secret).await;
    // One end alone coming and going does not close it.
    let lone = app.sse("stream=tube&last=0", None).await;
    app.wait_for_observers("tube", 1).await;
    drop(lone);
    app.wait_for_observers("tube", 0).await;
    let a = app.sse("stream=tube&last=0", None).await;
    let b = app.sse("stream=tube&last=0", None).await;
    app.wait_for_observers("tube", 2).await;
    drop(a);
    app.wait_for_observers("tube", 1).await;
    drop(b);
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let (status, _) = app.get_json("/streams/tube").await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the pipe stayed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn wait_for_messages(app: &TestApp, stream: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + crate::helpers::DEADLINE;
    loop {
        let (_, info) = app.get_json(&format!("/streams/{stream}")).await;
        if info["messages"] == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
