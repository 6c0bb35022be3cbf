use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app};

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

#[tokio::test]
async fn metrics_expose_streams_messages_bytes_subscribers_deliveries_drops_gaps_and_rejections() {
    let app = spawn_app().await;
    app.post_ok("m", "hello").await;
    let _ = app.post_message("bad name", "x").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "malten_streams 1",
        "malten_messages 1",
        "malten_posts_total 1",
        "malten_subscribers 0",
        "malten_deliveries_total 0",
        "malten_drops_total 0",
        "malten_gaps_total 0",
        "malten_rejections_total{code=\"invalid_stream_name\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.contains("malten_message_bytes "), "{text}");
}
