use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app_with, TestApp, DEADLINE};

/// An app allowing one write a second per client after a burst of `burst`.
async fn rate_limited_app(burst: u32, trust_forwarded_for: bool) -> TestApp {
    spawn_app_with(|config| {
        config.rate_per_second = 1;
        config.rate_burst = burst;
        config.trust_forwarded_for = trust_forwarded_for;
    })
    .await
}

#[tokio::test]
async fn posting_too_fast_gets_429_with_retry_after_and_stores_nothing() {
    let app = rate_limited_app(3, false).await;
    for i in 0..3 {
        app.post_ok("limited", &format!("ok {i}")).await;
    }
    let refused = app.post_message("limited", "one too many").await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_error(
        app.create_stream(&[("stream", "another")]).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(app.messages("stream=limited").await.len(), 3);
}

#[tokio::test]
async fn the_rate_limit_guards_creating_and_posting_but_not_reading() {
    let app = rate_limited_app(1, false).await;
    assert_eq!(app.get("/new").await.status(), StatusCode::SEE_OTHER);
    for refused in [
        app.get("/new").await,
        app.create_stream(&[("stream", "late")]).await,
        app.post_message("late", "hi").await,
    ] {
        assert!(refused.headers().contains_key("retry-after"));
        assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    for read in ["/streams", "/messages?stream=late", "/streams/late"] {
        assert_ne!(
            app.get(read).await.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{read}"
        );
    }
}

/// Posts with `X-Forwarded-For: ip` and returns the status.
async fn post_from(app: &TestApp, ip: &str) -> StatusCode {
    app.client
        .post(app.url("/messages"))
        .header("x-forwarded-for", ip)
        .form(&[("stream", "xff"), ("message", "hi")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_trusted() {
    let app = rate_limited_app(1, false).await;
    assert_eq!(post_from(&app, "10.0.0.1").await, StatusCode::CREATED);
    // A forged header does not buy a fresh bucket.
    assert_eq!(
        post_from(&app, "10.0.0.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn x_forwarded_for_separates_clients_when_trusted() {
    let app = rate_limited_app(1, true).await;
    assert_eq!(
        post_from(&app, "198.51.100.1, 10.0.0.1").await,
        StatusCode::CREATED
    );
    assert_eq!(post_from(&app, "10.0.0.2").await, StatusCode::CREATED);
    assert_eq!(
        post_from(&app, "10.0.0.2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn real_time_connections_are_capped_per_ip() {
    let app = spawn_app_with(|config| config.max_connections_per_ip = 2).await;
    let first = app.sse("stream=cap", None).await;
    let _second = app.sse("stream=cap", None).await;
    let refused = app.get("/events?stream=cap").await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
    )
    .await;
    drop(first);
    // The slot frees once the server sees the connection close.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        app.post_ok("cap", "wake the writers").await;
        if app.get("/events?stream=cap").await.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
