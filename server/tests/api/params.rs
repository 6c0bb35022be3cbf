//! How request parameters are read (`http/params.rs`): boolean spellings,
//! empty values, numbers and booleans in JSON, a body without a content
//! type. Each case is observable through a route, so these tests hold
//! whatever shape the parsing code takes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn booleans_take_go_parsebool_spellings_and_empty_means_default() {
    let app = spawn_app().await;
    let cases = [
        ("1", true),
        ("t", true),
        ("T", true),
        ("TRUE", true),
        ("true", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("FALSE", false),
        ("false", false),
        ("False", false),
        // Empty is absent: the default, private.
        ("", true),
    ];
    for (i, (raw, private)) in cases.into_iter().enumerate() {
        let name = format!("bool-{i}");
        let response = app
            .create_stream(&[("stream", &name), ("private", raw)])
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{raw:?}");
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["private"], private, "private={raw:?}");
    }
    // Anything else fails closed: refused, and nothing is created.
    for raw in ["yes", "no", "on", "off", "tRUE", "fALSE", " true", "2"] {
        assert_error(
            app.create_stream(&[("stream", "bool-refused"), ("private", raw)])
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
    }
    assert_eq!(
        app.get("/streams/bool-refused").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn json_numbers_and_booleans_are_read_as_their_text() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/streams"))
        .json(&json!({"stream": "typed", "private": false, "ttl": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        (created["private"].clone(), created["ttl"].clone()),
        (json!(false), json!(300))
    );
    let number_text = app
        .client
        .post(app.url("/messages"))
        .json(&json!({"stream": "typed", "message": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(number_text.status(), StatusCode::CREATED);
    let stored: Value = number_text.json().await.unwrap();
    assert_eq!(stored["text"], "42");
    let body = assert_error(
        app.client
            .post(app.url("/messages"))
            .json(&json!({"stream": ["typed"], "message": "hi"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    assert_eq!(body["error"], "`stream` must be a string");
}

#[tokio::test]
async fn a_body_without_a_content_type_is_read_as_a_form() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/messages"))
        .body("stream=untyped&message=no+type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(
        (stored["stream"].as_str(), stored["text"].as_str()),
        (Some("untyped"), Some("no type"))
    );
    assert_error(
        app.client
            .post(app.url("/messages"))
            .header("content-type", "text/plain")
            .body("stream=untyped&message=plain")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
}

#[tokio::test]
async fn empty_values_mean_the_default() {
    let app = spawn_app().await;
    // An empty stream is the default stream `_`.
    let stored = app.post_ok("", "to the default").await;
    assert_eq!(stored["stream"], "_");
    assert_eq!(app.messages("stream=_").await.len(), 1);
    assert_eq!(app.messages("stream=").await.len(), 1);
    // An empty ttl is the default TTL; an empty cursor is no cursor.
    let response = app
        .create_stream(&[("stream", "ttl-default"), ("ttl", "")])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["ttl"], 1024);
    for text in ["a", "b", "c"] {
        app.post_ok("cursors", text).await;
    }
    let newest_first = app.messages("stream=cursors&last=&direction=-1").await;
    assert_eq!(newest_first.len(), 3);
    assert_eq!(newest_first[0]["text"], "c");
    let second = newest_first[1]["created"].as_str().unwrap();
    // Cursors and numbers may carry spaces around them.
    let after = app
        .messages(&format!(
            "stream=cursors&direction=%201&last=%20{second}%20&limit=%202"
        ))
        .await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["text"], "c");
    // Unicode spaces (ideographic, no-break) are not spaces here.
    for (name, value) in [("last", "%E3%80%80"), ("limit", "%C2%A0")] {
        let response = app
            .get(&format!("/messages?stream=cursors&{name}={value}1"))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}
