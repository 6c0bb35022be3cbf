use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, numbered, spawn_app, spawn_app_with};

fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn created(message: &Value) -> u64 {
    message["created"]
        .as_str()
        .expect("created is a string")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_post_returns_201_with_the_stored_message() {
    let app = spawn_app().await;
    let response = app.post_message("room", "hello world").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["stream"], "room");
    assert_eq!(message["text"], "hello world");
    assert_eq!(message["type"], "message");
    assert!(message["id"].as_str().is_some_and(|id| id.len() >= 22));
    assert!(
        created(&message) > 1_600_000_000_000_000_000,
        "unix nanoseconds"
    );
}

/// docs/api.md: "Body values win over query values", for forms and JSON.
#[tokio::test]
async fn body_values_win_over_query_values() {
    let app = spawn_app().await;
    let by_form = app
        .client
        .post(app.url("/messages?stream=from-query&message=query%20text"))
        .form(&[("stream", "from-body"), ("message", "form text")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), StatusCode::CREATED);
    let by_json = app
        .client
        .post(app.url("/messages?stream=from-query&message=query%20text"))
        .json(&json!({"stream": "from-body", "message": "json text"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_json.status(), StatusCode::CREATED);
    // A value only in the query still counts.
    let mixed = app
        .client
        .post(app.url("/messages?stream=from-body"))
        .form(&[("message", "body text, query stream")])
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), StatusCode::CREATED);
    let page = app.messages("stream=from-body&direction=1").await;
    assert_eq!(
        texts(&page),
        ["form text", "json text", "body text, query stream"]
    );
    assert!(app.messages("stream=from-query").await.is_empty());
    let created = app
        .client
        .post(app.url("/streams?stream=query-name&private=true&ttl=100"))
        .form(&[
            ("stream", "body-name"),
            ("private", "false"),
            ("ttl", "200"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["stream"], "body-name");
    assert_eq!(created["private"], false);
    assert_eq!(created["ttl"], 200);
}

#[tokio::test]
async fn parameters_come_from_the_query_a_form_or_json() {
    let app = spawn_app().await;
    let by_query = app
        .client
        .post(app.url("/messages?stream=p&message=from%20query"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::CREATED);
    let by_json = app
        .client
        .post(app.url("/messages"))
        .json(&json!({"stream": "p", "message": "from json"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_json.status(), StatusCode::CREATED);
    app.post_ok("p", "from form").await;
    let page = app.messages("stream=p&direction=1").await;
    assert_eq!(texts(&page), ["from query", "from json", "from form"]);
}

#[tokio::test]
async fn the_default_stream_is_underscore() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/messages"))
        .form(&[("message", "hi")])
        .send()
        .await
        .unwrap();
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["stream"], "_");
    assert_eq!(texts(&app.messages("").await), ["hi"]);
}

#[tokio::test]
async fn created_is_strictly_increasing_within_a_stream() {
    let app = spawn_app().await;
    let mut last = 0;
    for text in numbered("m", 50) {
        let message = app.post_ok("fast", &text).await;
        assert!(created(&message) > last);
        last = created(&message);
    }
}

#[tokio::test]
async fn the_limit_is_1024_characters_not_bytes_and_longer_is_rejected_not_cut() {
    let app = spawn_app().await;
    let max = "é".repeat(1024);
    let stored = app.post_ok("chars", &max).await;
    assert_eq!(stored["text"].as_str().unwrap().chars().count(), 1024);
    let too_long = format!("{max}x");
    let body = assert_error(
        app.post_message("chars", &too_long).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "message_too_long",
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("1024"));
    assert!(
        !body.to_string().contains("éééé"),
        "errors never echo the text"
    );
    assert_eq!(app.messages("stream=chars").await.len(), 1);
}

#[tokio::test]
async fn bad_posts_are_rejected_and_change_nothing() {
    let app = spawn_app_with(|config| config.max_body_bytes = 8 * 1024).await;
    app.post_ok("safe", "original").await;
    let client = &app.client;
    let cases = vec![
        (
            "blank message",
            app.post_message("safe", "   ").await,
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            "empty message",
            app.post_message("safe", "").await,
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            "missing message",
            client
                .post(app.url("/messages"))
                .form(&[("stream", "safe")])
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "bad stream",
            app.post_message("no spaces", "x").await,
            StatusCode::BAD_REQUEST,
            "invalid_stream_name",
        ),
        (
            "malformed json",
            client
                .post(app.url("/messages"))
                .header("content-type", "application/json")
                .body("{\"stream\": \"safe\", \"message\": ")
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "json array",
            client
                .post(app.url("/messages"))
                .json(&json!(["safe", "x"]))
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "json object as message",
            client
                .post(app.url("/messages"))
                .json(&json!({"stream": "safe", "message": {"a": 1}}))
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "unsupported body type",
            client
                .post(app.url("/messages"))
                .header("content-type", "text/xml")
                .body("<message/>")
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        ),
        (
            "body too large",
            client
                .post(app.url("/messages"))
                .form(&[("stream", "safe"), ("message", &"x".repeat(9 * 1024))])
                .send()
                .await
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (what, response, status, code) in cases {
        assert_eq!(response.status(), status, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{what}: {body}");
    }
    assert_eq!(texts(&app.messages("stream=safe").await), ["original"]);
}

#[tokio::test]
async fn a_stream_keeps_the_newest_1024_messages() {
    let app = spawn_app().await;
    let all = numbered("n", 1030);
    for text in &all {
        app.post_ok("full", text).await;
    }
    let page = app.messages("stream=full&direction=1&limit=1024").await;
    assert_eq!(texts(&page), all[6..]);
    let (_, info) = app.get_json("/streams/full").await;
    assert_eq!(info["messages"], 1024);
}

#[tokio::test]
async fn paging_forward_never_skips_a_message() {
    let app = spawn_app().await;
    let all = numbered("f", 60);
    for text in &all {
        app.post_ok("pages", text).await;
    }
    let mut seen = Vec::new();
    let mut last = "0".to_owned();
    loop {
        let page = app
            .messages(&format!("stream=pages&direction=1&limit=7&last={last}"))
            .await;
        let Some(newest) = page.last() else { break };
        assert!(page.len() <= 7);
        last = newest["created"].as_str().unwrap().to_owned();
        seen.extend(texts(&page));
    }
    assert_eq!(seen, all);
}

#[tokio::test]
async fn paging_backward_goes_newest_first_from_the_newest_when_last_is_absent_or_zero() {
    let app = spawn_app().await;
    let all = numbered("b", 10);
    let mut stored = Vec::new();
    for text in &all {
        stored.push(app.post_ok("back", text).await);
    }
    for query in [
        "stream=back&direction=-1&limit=3",
        "stream=back&direction=-1&limit=3&last=0",
        "stream=back&limit=3",
    ] {
        assert_eq!(
            texts(&app.messages(query).await),
            ["b-9", "b-8", "b-7"],
            "{query}"
        );
    }
    let before = stored[7]["created"].as_str().unwrap();
    let page = app
        .messages(&format!("stream=back&direction=-1&limit=3&last={before}"))
        .await;
    assert_eq!(texts(&page), ["b-6", "b-5", "b-4"]);
}

#[tokio::test]
async fn a_message_can_be_fetched_by_id() {
    let app = spawn_app().await;
    app.post_ok("ids", "first").await;
    let second = app.post_ok("ids", "second").await;
    let id = second["id"].as_str().unwrap();
    assert_eq!(
        app.messages(&format!("stream=ids&id={id}")).await,
        std::slice::from_ref(&second)
    );
    assert_error(
        app.get("/messages?stream=ids&id=nope").await,
        StatusCode::NOT_FOUND,
        "message_not_found",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_stream_reads_as_empty() {
    let app = spawn_app().await;
    assert!(app.messages("stream=nobody").await.is_empty());
    let (_, list) = app.get_json("/streams/nobody").await;
    assert_eq!(
        list["code"], "stream_not_found",
        "reading does not create a stream"
    );
}

#[tokio::test]
async fn bad_read_parameters_are_rejected_with_a_reason() {
    let app = spawn_app().await;
    let cases = [
        ("stream=x&limit=0", "`limit`"),
        ("stream=x&limit=1025", "`limit`"),
        ("stream=x&limit=many", "`limit`"),
        ("stream=x&direction=2", "`direction`"),
        ("stream=x&direction=up", "`direction`"),
        ("stream=x&last=yesterday", "`last`"),
        ("stream=x&last=-1", "`last`"),
    ];
    for (query, says) in cases {
        let body = assert_error(
            app.get(&format!("/messages?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    assert_error(
        app.get("/messages?stream=a%20b").await,
        StatusCode::BAD_REQUEST,
        "invalid_stream_name",
    )
    .await;
}

#[tokio::test]
async fn a_full_memory_budget_refuses_posts_with_503_and_keeps_what_is_stored() {
    // Each short message costs a few hundred bytes; 2 KB holds a handful
    // (beside the stream's own fixed cost).
    let budget = malten_server::store::STREAM_OVERHEAD_BYTES + 2048;
    let app = spawn_app_with(|config| config.max_memory_bytes = budget).await;
    let mut stored = Vec::new();
    let refused = loop {
        let response = app
            .post_message("budget", &format!("message {}", stored.len()))
            .await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        stored.push(response.json::<Value>().await.unwrap());
        assert!(stored.len() < 100, "the budget was never enforced");
    };
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "memory_full").await;
    assert!(!stored.is_empty());
    let page = app.messages("stream=budget&direction=1&limit=1024").await;
    assert_eq!(page, stored, "stored messages are intact");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let bytes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("malten_message_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        bytes <= budget as u64,
        "memory never grows past the budget: {bytes}"
    );
}
