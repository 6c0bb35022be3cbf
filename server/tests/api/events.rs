use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;

use crate::helpers::{numbered, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_subscriber_gets_presence_then_each_message_with_its_cursor_as_id() {
    let app = spawn_app().await;
    let mut events = app.sse("stream=live", None).await;
    let presence = events.next_event().await;
    assert_eq!(presence.event, "presence");
    assert_eq!(presence.json()["observers"], 1);
    assert!(presence.id.is_some(), "every event has an id");

    let stored = app.post_ok("live", "hello").await;
    let message = events.next_event().await;
    assert_eq!(message.event, "message");
    assert_eq!(message.id.as_deref(), stored["created"].as_str());
    assert_eq!(message.json(), stored);
}

#[tokio::test]
async fn last_event_id_replays_exactly_what_came_after_then_continues_live() {
    let app = spawn_app().await;
    let mut stored = Vec::new();
    for text in numbered("r", 5) {
        stored.push(app.post_ok("resume", &text).await);
    }
    let cursor = stored[1]["created"].as_str().unwrap();
    let mut events = app.sse("stream=resume", Some(cursor)).await;
    assert_eq!(events.texts(3).await, ["r-2", "r-3", "r-4"]);
    app.post_ok("resume", "r-5").await;
    assert_eq!(events.texts(1).await, ["r-5"]);
}

#[tokio::test]
async fn the_last_parameter_resumes_too_and_the_header_wins_over_it() {
    let app = spawn_app().await;
    let mut stored = Vec::new();
    for text in numbered("p", 4) {
        stored.push(app.post_ok("param", &text).await);
    }
    let first = stored[0]["created"].as_str().unwrap();
    let third = stored[2]["created"].as_str().unwrap();
    let mut by_param = app.sse(&format!("stream=param&last={first}"), None).await;
    assert_eq!(by_param.texts(3).await, ["p-1", "p-2", "p-3"]);
    // A reconnecting EventSource repeats its URL and adds the header.
    let mut by_header = app
        .sse(&format!("stream=param&last={first}"), Some(third))
        .await;
    assert_eq!(by_header.texts(1).await, ["p-3"]);
    let mut everything = app.sse("stream=param&last=0", None).await;
    assert_eq!(everything.texts(4).await, ["p-0", "p-1", "p-2", "p-3"]);
}

#[tokio::test]
async fn replay_and_live_meet_without_duplicates_or_holes_under_concurrent_posts() {
    let app = spawn_app().await;
    let first = app.post_ok("race", "race-0").await;
    let cursor = first["created"].as_str().unwrap().to_owned();
    let poster = {
        let client = app.client.clone();
        let url = app.url("/messages");
        tokio::spawn(async move {
            for text in numbered("race", 300).into_iter().skip(1) {
                let response = client
                    .post(&url)
                    .form(&[("stream", "race"), ("message", &text)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
        })
    };
    // Subscribe while the posts are in flight.
    tokio::task::yield_now().await;
    let mut events = app.sse("stream=race", Some(&cursor)).await;
    let received = events.texts(299).await;
    poster.await.unwrap();
    assert_eq!(received, numbered("race", 300)[1..]);
}

#[tokio::test]
async fn a_cursor_older_than_what_is_retained_gets_a_gap_first() {
    let app = spawn_app().await;
    let first = app.post_ok("old", "o-0").await;
    for text in numbered("o", 1030).into_iter().skip(1) {
        app.post_ok("old", &text).await;
    }
    let cursor = first["created"].as_str().unwrap();
    let mut events = app.sse("stream=old", Some(cursor)).await;
    let gap = events.next_of("gap").await;
    let data = gap.json();
    assert_eq!(data["after"].as_str(), Some(cursor));
    let oldest = app.messages("stream=old&direction=1&limit=1").await;
    assert_eq!(data["available_from"], oldest[0]["created"]);
    assert_eq!(events.texts(1024).await, numbered("o", 1030)[6..]);
}

#[tokio::test]
async fn keep_alive_comments_flow_while_the_stream_is_quiet() {
    let app = spawn_app_with(|config| config.keepalive_secs = 1).await;
    let mut events = app.sse("stream=quiet", None).await;
    let mut comment = None;
    while comment.is_none() {
        comment = events.next_block().await.expect("stream open").comment;
    }
    assert_eq!(comment.as_deref(), Some("keep-alive"));
}

#[tokio::test]
async fn presence_follows_subscribers_coming_and_going() {
    let app = spawn_app().await;
    let mut first = app.sse("stream=room", None).await;
    assert_eq!(first.next_of("presence").await.json()["observers"], 1);
    let mut second = app.sse("stream=room", None).await;
    assert_eq!(second.next_of("presence").await.json()["observers"], 2);
    assert_eq!(first.next_of("presence").await.json()["observers"], 2);
    app.wait_for_observers("room", 2).await;
    drop(second);
    // The server notices the closed connection when it next writes; a post
    // makes it write.
    app.post_ok("room", "anyone?").await;
    loop {
        let event = first.next_event().await;
        if event.event == "presence" {
            assert_eq!(event.json()["observers"], 1);
            break;
        }
    }
    app.wait_for_observers("room", 1).await;
}

#[tokio::test]
async fn a_slow_subscriber_gets_every_message_or_a_gap_and_never_slows_the_others() {
    let app = spawn_app().await;
    let total = 3000;
    let text = "x".repeat(400);
    // The slow subscriber connects and then reads nothing until the end.
    let mut slow = app.sse("stream=busy", None).await;
    let fast_readers = join_all((0..3).map(|_| app.sse("stream=busy", None))).await;
    app.wait_for_observers("busy", 4).await;
    let readers = fast_readers
        .into_iter()
        .map(|mut reader| tokio::spawn(async move { reader.texts(total).await }));
    let readers: Vec<_> = readers.collect();
    for i in 0..total {
        app.post_ok("busy", &format!("{i:05}{text}")).await;
    }
    for reader in readers {
        let texts = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .unwrap()
            .unwrap();
        let numbers: Vec<usize> = texts.iter().map(|t| t[..5].parse().unwrap()).collect();
        assert_eq!(
            numbers,
            (0..total).collect::<Vec<_>>(),
            "fast readers get everything in order"
        );
    }
    // Now the slow one reads: messages in order, and any hole explained by a gap.
    let mut expected_next = 0;
    let mut gaps = 0;
    let mut seen = HashSet::new();
    while expected_next < total {
        let event = slow.next_event().await;
        match event.event.as_str() {
            "message" => {
                let n: usize = event.json()["text"].as_str().unwrap()[..5].parse().unwrap();
                assert!(seen.insert(n), "duplicate {n}");
                assert!(
                    n == expected_next || (gaps > 0 && n > expected_next),
                    "hole before {n} without a gap"
                );
                expected_next = n + 1;
            }
            "gap" => gaps += 1,
            "presence" => {}
            other => panic!("unexpected {other}"),
        }
    }
}
