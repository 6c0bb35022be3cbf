use std::sync::{Arc, Mutex};
use std::time::Duration;

use malten_shared::limits::MAX_MESSAGES_PER_STREAM;

use crate::helpers::{numbered, spawn_app, spawn_app_with, SseEvent, DEADLINE};
use crate::raw_http::RawSse;

/// docs/api.md: every event's `id:` is the subscriber's cursor after that
/// event, which is what a browser sends back as `Last-Event-ID`: for a
/// presence event, the last message the subscriber had been given (or
/// would start after).
#[tokio::test]
async fn presence_events_carry_the_subscribers_cursor_as_id() {
    let app = spawn_app().await;
    let before = app.post_ok("ids", "before").await;
    let mut first = app.sse("stream=ids", None).await;
    let presence = first.next_of("presence").await;
    assert_eq!(presence.id.as_deref(), before["created"].as_str());
    let live = app.post_ok("ids", "live").await;
    assert_eq!(first.texts(1).await, ["live"]);
    let _second = app.sse("stream=ids", None).await;
    let presence = first.next_of("presence").await;
    assert_eq!(presence.json()["observers"], 2);
    assert_eq!(presence.id.as_deref(), live["created"].as_str());
}

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
    // Subscribe while the posts are in flight: once some have landed.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while app.get_json("/streams/race").await.1["messages"].as_u64() < Some(20) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the posts never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
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

/// A reader that goes away (a closed tab, or a page the web app moves
/// into the back/forward cache after closing its connection) is counted
/// out at once: the server sees the connection close without having to
/// write to it first (no keep-alive falls due here, and nothing is posted).
#[tokio::test]
async fn a_subscriber_that_disconnects_is_counted_out_without_a_write() {
    let app = spawn_app_with(|config| config.keepalive_secs = 3600).await;
    let mut first = app.sse("stream=room", None).await;
    assert_eq!(first.next_of("presence").await.json()["observers"], 1);
    let mut second = app.sse("stream=room", None).await;
    assert_eq!(second.next_of("presence").await.json()["observers"], 2);
    assert_eq!(first.next_of("presence").await.json()["observers"], 2);
    drop(second);
    assert_eq!(first.next_of("presence").await.json()["observers"], 1);
    app.wait_for_observers("room", 1).await;
}

/// A subscriber on a raw socket with a 2 KiB receive buffer stops reading:
/// once its socket and the server's send buffer are full, its subscription
/// stops advancing while posts go on. Its lag is known exactly from the
/// deliveries counter (the fast subscriber, kept in step, got every post),
/// so the test keeps posting until it is more than a ring behind.
#[tokio::test]
async fn a_subscriber_that_falls_behind_the_ring_gets_the_exact_gap_and_never_slows_the_others() {
    let app = spawn_app().await;
    let filler = "x".repeat(1000);
    let mut slow = RawSse::connect(app.addr, "stream=busy", 2048).await;
    let mut fast = app.sse("stream=busy", None).await;
    app.wait_for_observers("busy", 2).await;
    let fast_numbers = Arc::new(Mutex::new(Vec::new()));
    let fast_reader = {
        let numbers = Arc::clone(&fast_numbers);
        tokio::spawn(async move {
            loop {
                let event = fast.next_event().await;
                match event.event.as_str() {
                    "message" => numbers.lock().unwrap().push(number(&event)),
                    "presence" => {}
                    other => panic!("the fast subscriber got a {other} event: {}", event.data),
                }
            }
        })
    };
    let mut posted = 0;
    let slow_delivered = loop {
        for _ in 0..64 {
            app.post_ok("busy", &format!("{posted:06}{filler}")).await;
            posted += 1;
        }
        // The fast subscriber keeps up while the slow one is stuck.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while fast_numbers.lock().unwrap().len() < posted {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fast subscriber fell behind"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let slow_delivered = app.metric("malten_deliveries_total").await - posted as u64;
        if posted as u64 - slow_delivered > MAX_MESSAGES_PER_STREAM as u64 {
            break slow_delivered as usize;
        }
        assert!(posted < 50_000, "the slow subscriber never fell behind");
    };
    fast_reader.abort();
    assert_eq!(
        *fast_numbers.lock().unwrap(),
        (0..posted).collect::<Vec<_>>(),
        "the fast subscriber got everything in order"
    );
    assert_eq!(app.metric("malten_gaps_total").await, 0);

    // Now the slow one reads: exactly what it was handed before it stopped,
    // then a gap naming the last of those and the oldest retained message,
    // then exactly the retained messages.
    let first_retained = posted - MAX_MESSAGES_PER_STREAM;
    let mut before_gap = Vec::new();
    let mut last_id = None;
    let (gap_id, gap) = loop {
        let event = slow.next_event().await;
        match event.event.as_str() {
            "message" => {
                before_gap.push(number(&event));
                last_id = event.id.clone();
            }
            "gap" => break (event.id.clone(), event.json()),
            "presence" => {}
            other => panic!("unexpected {other}"),
        }
    };
    assert_eq!(before_gap, (0..slow_delivered).collect::<Vec<_>>());
    assert!(
        slow_delivered > 0,
        "the slow subscriber read something first"
    );
    assert_eq!(gap["stream"], "busy");
    assert_eq!(gap["after"].as_str(), last_id.as_deref());
    let mut after_gap = Vec::new();
    let mut first_id = None;
    while after_gap.len() < MAX_MESSAGES_PER_STREAM {
        let event = slow.next_event().await;
        match event.event.as_str() {
            "message" => {
                first_id.get_or_insert(event.id.clone());
                after_gap.push(number(&event));
            }
            "presence" => {}
            other => panic!("unexpected {other} after the gap"),
        }
    }
    assert_eq!(
        gap["available_from"].as_str(),
        first_id.flatten().as_deref()
    );
    assert_eq!(after_gap, (first_retained..posted).collect::<Vec<_>>());
    assert_eq!(app.metric("malten_gaps_total").await, 1);
    // The gap's id is the cursor after it: resuming from it gets exactly
    // the retained messages, with no second gap.
    let mut resumed = app.sse("stream=busy", gap_id.as_deref()).await;
    let numbers: Vec<usize> = resumed
        .texts(MAX_MESSAGES_PER_STREAM)
        .await
        .iter()
        .map(|text| text[..6].parse().unwrap())
        .collect();
    assert_eq!(numbers, (first_retained..posted).collect::<Vec<_>>());
}

/// The number a message of the slow-subscriber test starts with.
fn number(event: &SseEvent) -> usize {
    event.json()["text"].as_str().unwrap()[..6].parse().unwrap()
}
