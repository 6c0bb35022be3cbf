use reqwest::StatusCode;

use crate::helpers::{assert_error, numbered, spawn_app, TestApp};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;
    assert_error(
        app.get("/no/such/route").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = app
        .client
        .delete(app.url("/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Every counter moves by exactly what happened: a deleted or doubled
/// increment fails here.
#[tokio::test]
async fn metrics_count_streams_messages_subscribers_deliveries_drops_gaps_and_rejections_exactly() {
    let app = spawn_app().await;
    // Two subscribers and three posts: six deliveries.
    let mut first = app.sse("stream=m", None).await;
    let mut second = app.sse("stream=m", None).await;
    app.wait_for_observers("m", 2).await;
    for text in numbered("m", 3) {
        app.post_ok("m", &text).await;
    }
    assert_eq!(first.texts(3).await, numbered("m", 3));
    assert_eq!(second.texts(3).await, numbered("m", 3));
    assert_error(
        app.post_message("bad name", "x").await,
        StatusCode::BAD_REQUEST,
        "invalid_stream_name",
    )
    .await;
    assert_metrics(
        &app,
        &[
            "malten_streams 1",
            "malten_messages 3",
            "malten_posts_total 3",
            "malten_subscribers 2",
            "malten_deliveries_total 6",
            "malten_drops_total 0",
            "malten_gaps_total 0",
            "malten_rejections_total{code=\"invalid_stream_name\"} 1",
        ],
    )
    .await;

    // Two posts past the 1024-message ring: two drops. A reader from the
    // start gets one gap, then the 1024 retained messages.
    for text in numbered("d", 1026) {
        app.post_ok("d", &text).await;
    }
    let mut late = app.sse("stream=d&last=0", None).await;
    late.next_of("gap").await;
    assert_eq!(late.texts(1024).await, numbered("d", 1026)[2..]);
    assert_error(
        app.post_message("d", " ").await,
        StatusCode::BAD_REQUEST,
        "empty_message",
    )
    .await;
    assert_metrics(
        &app,
        &[
            "malten_streams 2",
            "malten_messages 1027",
            "malten_posts_total 1029",
            "malten_subscribers 3",
            "malten_deliveries_total 1030",
            "malten_drops_total 2",
            "malten_gaps_total 1",
            "malten_rejections_total{code=\"invalid_stream_name\"} 1",
            "malten_rejections_total{code=\"empty_message\"} 1",
        ],
    )
    .await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("malten_message_bytes "), "{text}");
}

async fn assert_metrics(app: &TestApp, expected: &[&str]) {
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in expected {
        assert!(
            text.lines().any(|l| l == *line),
            "missing `{line}` in:\n{text}"
        );
    }
}
