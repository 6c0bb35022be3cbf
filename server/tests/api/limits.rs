use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app_with, TestApp, DEADLINE};

/// The rate limit refills one post per second, so a refusal only means
/// something if the requests before it took less than that: runs
/// `scenario` (attempt number in, responses out) until it finishes within
/// 900 ms, up to five times, and returns its result. Without this, a slow
/// second would let the refused post through, and a test that expects two
/// clients *not* to share a bucket would pass whatever the buckets were.
pub(crate) async fn within_one_refill<T, F, Fut>(mut scenario: F) -> T
where
    F: FnMut(u8) -> Fut,
    Fut: Future<Output = T>,
{
    for attempt in 0..5 {
        let started = Instant::now();
        let result = scenario(attempt).await;
        if started.elapsed() < Duration::from_millis(900) {
            return result;
        }
    }
    panic!("five attempts each took longer than the 1 s refill; the machine is too slow");
}

#[tokio::test]
async fn posting_too_fast_gets_429_with_retry_after_and_stores_nothing() {
    let (app, refused, refused_create) = within_one_refill(|_| async {
        let app = spawn_app_with(|config| {
            config.rate_per_second = 1;
            config.rate_burst = 3;
        })
        .await;
        for i in 0..3 {
            app.post_ok("limited", &format!("ok {i}")).await;
        }
        let refused = app.post_message("limited", "one too many").await;
        let refused_create = app.create_stream(&[("stream", "another")]).await;
        (app, refused, refused_create)
    })
    .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_error(
        refused_create,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(app.messages("stream=limited").await.len(), 3);
}

#[tokio::test]
async fn the_rate_limit_guards_creating_and_posting_but_not_reading() {
    let (app, first, refused) = within_one_refill(|_| async {
        let app = spawn_app_with(|config| {
            config.rate_per_second = 1;
            config.rate_burst = 1;
        })
        .await;
        let first = app.get("/new").await.status();
        let refused = [
            app.get("/new").await,
            app.create_stream(&[("stream", "late")]).await,
            app.post_message("late", "hi").await,
        ];
        (app, first, refused)
    })
    .await;
    assert_eq!(first, StatusCode::SEE_OTHER);
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
    let statuses = within_one_refill(|_| async {
        let app = spawn_app_with(|config| {
            config.rate_per_second = 1;
            config.rate_burst = 1;
        })
        .await;
        // A forged header does not buy a fresh bucket.
        [
            post_from(&app, &["10.0.0.1"]).await,
            post_from(&app, &["10.0.0.2"]).await,
        ]
    })
    .await;
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
    let app = spawn_app_with(|config| {
        config.rate_per_second = 1;
        config.rate_burst = 1;
        config.trust_forwarded_for = true;
    })
    .await;
    let statuses = within_one_refill(|attempt| {
        let app = &app;
        async move {
            let a = format!("10.{attempt}.0.1");
            let b = format!("10.{attempt}.0.2");
            let c = format!("10.{attempt}.0.3");
            [
                post_from(app, &[&format!("198.51.100.7, {a}")]).await,
                // Same forged leftmost entry, another client.
                post_from(app, &[&format!("198.51.100.7, {b}")]).await,
                // Another forged leftmost entry, the same client.
                post_from(app, &[&format!("203.0.113.9, {b}")]).await,
                // The last header counts, not the first.
                post_from(app, &[&c, &a]).await,
                post_from(app, &[&a, &c]).await,
            ]
        }
    })
    .await;
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
