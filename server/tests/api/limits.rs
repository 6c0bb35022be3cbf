use std::time::Duration;

use malten_server::limits::RateClock;
use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app_with, TestApp, DEADLINE};

/// An app whose write rate limit refills one unit per second up to
/// `burst`, on a frozen clock: no refill happens between two requests,
/// however slow the machine, until the test advances the clock.
async fn spawn_limited(burst: u32, trust_forwarded_for: bool) -> (TestApp, RateClock) {
    let clock = RateClock::frozen();
    let app = spawn_app_with(|config| {
        config.rate_per_second = 1;
        config.rate_burst = burst;
        config.trust_forwarded_for = trust_forwarded_for;
        config.rate_clock = clock.clone();
    })
    .await;
    (app, clock)
}

#[tokio::test]
async fn posting_too_fast_gets_429_with_retry_after_and_stores_nothing() {
    let (app, clock) = spawn_limited(3, false).await;
    for i in 0..3 {
        app.post_ok("limited", &format!("ok {i}")).await;
    }
    let refused = app.post_message("limited", "one too many").await;
    let refused_create = app.create_stream(&[("stream", "another")]).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_error(
        refused_create,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(app.messages("stream=limited").await.len(), 3);
    assert_eq!(
        app.get("/streams/another").await.status(),
        StatusCode::NOT_FOUND
    );

    // Retry-After is honest: after it, exactly one more post goes through.
    clock.advance(Duration::from_secs(1));
    app.post_ok("limited", "after the wait").await;
    let refused = app.post_message("limited", "too soon again").await;
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.messages("stream=limited").await.len(), 4);
}

#[tokio::test]
async fn the_rate_limit_guards_creating_and_posting_but_not_reading() {
    let (app, _clock) = spawn_limited(1, false).await;
    assert_eq!(app.get("/new").await.status(), StatusCode::SEE_OTHER);
    let refused = [
        app.get("/new").await,
        app.create_stream(&[("stream", "late")]).await,
        app.post_message("late", "hi").await,
    ];
    for response in refused {
        assert!(response.headers().contains_key("retry-after"));
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    for read in ["/streams", "/messages?stream=late", "/streams/late"] {
        assert_ne!(
            app.get(read).await.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{read}"
        );
    }
}

/// Posts with one `X-Forwarded-For` header per entry of `headers`, and
/// returns the status.
async fn post_from(app: &TestApp, headers: &[&str]) -> StatusCode {
    let mut request = app.client.post(app.url("/messages"));
    for header in headers {
        request = request.header("x-forwarded-for", *header);
    }
    request
        .form(&[("stream", "xff"), ("message", "hi")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_trusted() {
    let (app, _clock) = spawn_limited(1, false).await;
    // A forged header does not buy a fresh bucket.
    let statuses = [
        post_from(&app, &["10.0.0.1"]).await,
        post_from(&app, &["10.0.0.2"]).await,
    ];
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]
    );
}

/// Trusted, the client is the last entry of the last header: the address
/// the nearest proxy saw. Everything left of it is whatever the client
/// sent, so two clients sending the same leftmost entry must not share a
/// bucket, and one client cannot escape its bucket by changing it.
#[tokio::test]
async fn x_forwarded_for_separates_clients_by_the_entry_the_proxy_added_when_trusted() {
    let (app, _clock) = spawn_limited(1, true).await;
    let (a, b, c) = ("10.0.0.1", "10.0.0.2", "10.0.0.3");
    let statuses = [
        post_from(&app, &[&format!("198.51.100.7, {a}")]).await,
        // Same forged leftmost entry, another client.
        post_from(&app, &[&format!("198.51.100.7, {b}")]).await,
        // Another forged leftmost entry, the same client.
        post_from(&app, &[&format!("203.0.113.9, {b}")]).await,
        // The last header counts, not the first.
        post_from(&app, &[c, a]).await,
        post_from(&app, &[a, c]).await,
    ];
    use StatusCode as S;
    assert_eq!(
        statuses,
        [
            S::CREATED,
            S::CREATED,
            S::TOO_MANY_REQUESTS,
            S::TOO_MANY_REQUESTS,
            S::CREATED
        ]
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
