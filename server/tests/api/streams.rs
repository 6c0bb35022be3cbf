use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_explicit_public_stream_is_created_and_listed_with_its_counts() {
    let app = spawn_app().await;
    let response = app
        .create_stream(&[("stream", "lobby"), ("private", "false"), ("ttl", "300")])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["stream"], "lobby");
    assert_eq!(created["ttl"], 300);
    assert_eq!(created["private"], false);

    app.post_ok("lobby", "one").await;
    app.post_ok("lobby", "two").await;
    let (status, list) = app.get_json("/streams").await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let lobby = &list[0];
    assert_eq!(lobby["stream"], "lobby");
    assert_eq!(lobby["ttl"], 300);
    assert_eq!(lobby["messages"], 2);
    assert_eq!(lobby["observers"], 0);
    assert!(lobby["updated"].as_str().unwrap().parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn streams_are_unlisted_unless_created_with_private_false() {
    let app = spawn_app().await;
    app.post_ok("implicit-by-post", "hi").await;
    let _subscriber = app.sse("stream=implicit-by-subscription", None).await;
    for form in [
        &[("stream", "explicit-default")][..],
        &[("stream", "explicit-private"), ("private", "true")],
        &[("stream", "listed"), ("private", "false")],
    ] {
        let response = app.create_stream(form).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{form:?}");
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["stream"], form[0].1);
        assert_eq!(created["private"], form.len() == 1 || form[1].1 == "true");
    }
    let (_, list) = app.get_json("/streams").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["listed"]);
    // Unlisted streams still exist for whoever knows the name.
    let (status, info) = app.get_json("/streams/implicit-by-post").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["private"], true);
}

#[tokio::test]
async fn a_stream_without_a_name_gets_an_unguessable_128_bit_id() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app.create_stream(&[]).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        let id = body["stream"].as_str().unwrap().to_owned();
        assert_eq!(body["private"], true);
        // 22 base64url characters carry 132 bits, of which 128 are random.
        assert_eq!(id.len(), 22, "{id}");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn new_creates_a_private_stream_and_redirects_to_its_fragment() {
    let app = spawn_app().await;
    let response = app.get("/new").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = location.strip_prefix("/#").expect("redirects to /#<id>");
    assert_eq!(id.len(), 22);
    let (status, info) = app.get_json(&format!("/streams/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["private"], true);
    let (_, list) = app.get_json("/streams").await;
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test]
async fn creating_an_existing_stream_is_a_conflict_that_changes_nothing() {
    let app = spawn_app().await;
    let created = app
        .create_stream(&[("stream", "taken"), ("private", "false"), ("ttl", "120")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    app.post_ok("taken", "kept").await;
    let again = app
        .create_stream(&[("stream", "taken"), ("ttl", "600")])
        .await;
    assert_error(again, StatusCode::CONFLICT, "stream_exists").await;
    let (_, info) = app.get_json("/streams/taken").await;
    assert_eq!(info["ttl"], 120);
    assert_eq!(info["messages"], 1);
    assert_eq!(info["private"], false);
}

#[tokio::test]
async fn bad_stream_parameters_are_rejected_with_a_reason() {
    let app = spawn_app_with(|config| {
        config.min_ttl = 10;
        config.max_ttl = 1000;
    })
    .await;
    /// Form, expected code, words the error must contain.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("stream", "has space")],
            "invalid_stream_name",
            "A-Z, a-z, 0-9",
        ),
        (
            &[("stream", "slash/y")],
            "invalid_stream_name",
            "A-Z, a-z, 0-9",
        ),
        (
            &[("stream", "ünicode")],
            "invalid_stream_name",
            "A-Z, a-z, 0-9",
        ),
        (&[("stream", &"x".repeat(65))], "invalid_stream_name", "64"),
        (
            &[("stream", "ok"), ("ttl", "9")],
            "invalid_ttl",
            "between 10 and 1000",
        ),
        (
            &[("stream", "ok"), ("ttl", "1001")],
            "invalid_ttl",
            "between 10 and 1000",
        ),
        (
            &[("stream", "ok"), ("ttl", "-5")],
            "invalid_parameter",
            "`ttl`",
        ),
        (
            &[("stream", "ok"), ("ttl", "soon")],
            "invalid_parameter",
            "`ttl`",
        ),
        (
            &[("stream", "ok"), ("private", "maybe")],
            "invalid_parameter",
            "`private`",
        ),
    ];
    for (form, code, says) in cases {
        let response = app.create_stream(form).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, code).await;
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{form:?}: {body}"
        );
    }
    let (_, info) = app.get_json("/streams/ok").await;
    assert_eq!(
        info["code"], "stream_not_found",
        "no rejected request created the stream"
    );
}

#[tokio::test]
async fn the_stream_count_is_bounded_with_a_503() {
    let app = spawn_app_with(|config| config.max_streams = 2).await;
    app.post_ok("a", "x").await;
    assert_eq!(
        app.create_stream(&[("stream", "b")]).await.status(),
        StatusCode::CREATED
    );
    assert_error(
        app.create_stream(&[("stream", "c")]).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
    )
    .await;
    assert_error(
        app.post_message("d", "x").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
    )
    .await;
    // Existing streams keep working.
    app.post_ok("a", "still fine").await;
}

#[tokio::test]
async fn stream_info_of_an_unknown_stream_is_a_404() {
    let app = spawn_app().await;
    assert_error(
        app.get("/streams/nobody-here").await,
        StatusCode::NOT_FOUND,
        "stream_not_found",
    )
    .await;
    assert_error(
        app.get("/streams/bad%20name").await,
        StatusCode::BAD_REQUEST,
        "invalid_stream_name",
    )
    .await;
}

/// docs/api.md: `GET /streams` lists the most recently active first; a post
/// moves a stream to the front.
#[tokio::test]
async fn the_stream_list_is_most_recently_active_first() {
    let app = spawn_app().await;
    for name in ["alpha", "beta", "gamma"] {
        let response = app
            .create_stream(&[("stream", name), ("private", "false")])
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let order = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["stream"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        order(app.get_json("/streams").await.1),
        ["gamma", "beta", "alpha"]
    );
    app.post_ok("alpha", "I am back").await;
    assert_eq!(
        order(app.get_json("/streams").await.1),
        ["alpha", "gamma", "beta"]
    );
    app.post_ok("beta", "me too").await;
    let (_, list) = app.get_json("/streams").await;
    let updated: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["updated"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(order(list), ["beta", "alpha", "gamma"]);
    assert!(updated.windows(2).all(|w| w[0] > w[1]), "{updated:?}");
}
