//! Store behaviour on paused tokio time: TTL expiry and the lag policy.

use std::sync::Arc;
use std::time::Duration;

use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::wire::{Cursor, MessageKind};
use malten_shared::StreamName;

use super::*;
use crate::engine::{Delivery, Page};

fn store() -> Arc<Store> {
    Store::for_tests()
}

fn name(raw: &str) -> StreamName {
    StreamName::parse(raw).unwrap()
}

fn post(store: &Store, stream: &str, text: &str) -> Message {
    store
        .post(&name(stream), text.to_owned(), MessageKind::Message)
        .unwrap()
}

fn texts(store: &Store, stream: &str) -> Vec<String> {
    let page = store
        .page(
            &name(stream),
            Page::Forward {
                after: Cursor::START,
            },
            1024,
        )
        .unwrap();
    let messages: Vec<Message> = serde_json::from_slice(&page).unwrap();
    messages
        .into_iter()
        .map(|m| m.body.text().unwrap().to_owned())
        .collect()
}

/// One expiry pass now, as the sweeper task would make it (deterministic,
/// unlike waiting for that task to be scheduled).
fn sweep(store: &Store) {
    store.sweep(tokio::time::Instant::now());
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_disappears_after_its_ttl() {
    let store = store();
    post(&store, "idle", "hello");
    tokio::time::advance(Duration::from_secs(1023)).await;
    sweep(&store);
    assert!(store.get(&name("idle")).is_some(), "still within the TTL");
    tokio::time::advance(Duration::from_secs(2)).await;
    sweep(&store);
    assert!(store.get(&name("idle")).is_none(), "gone after 1024 s idle");
    assert_eq!(store.gauges().messages.load(Ordering::Relaxed), 0);
    assert_eq!(
        store.gauges().bytes.load(Ordering::Relaxed),
        0,
        "its memory is released"
    );
}

/// The task runs the pass by itself, once per `SWEEP_INTERVAL`.
#[tokio::test(start_paused = true)]
async fn the_sweeper_task_removes_an_idle_stream_within_one_interval() {
    let store = store();
    let _sweeper = spawn_sweeper(Arc::clone(&store));
    post(&store, "idle", "hello");
    tokio::time::advance(Duration::from_secs(1025)).await;
    let deadline = tokio::time::Instant::now() + super::sweep::SWEEP_INTERVAL * 2;
    // Sleeping on the paused clock lets the task's timer fire.
    while store.get(&name("idle")).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "not swept");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_per_stream_ttl_is_honoured() {
    let store = store();
    store
        .create(Some(name("short")), false, Some(30), None, false)
        .unwrap();
    store
        .create(Some(name("long")), false, Some(3000), None, false)
        .unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    sweep(&store);
    assert!(store.get(&name("short")).is_none());
    assert!(store.get(&name("long")).is_some());
}

#[tokio::test(start_paused = true)]
async fn messages_older_than_the_ttl_disappear_while_newer_ones_stay() {
    let store = store();
    store
        .create(Some(name("aging")), false, Some(100), None, false)
        .unwrap();
    post(&store, "aging", "old");
    tokio::time::advance(Duration::from_secs(60)).await;
    post(&store, "aging", "new");
    tokio::time::advance(Duration::from_secs(41)).await;
    // A read drops expired messages itself, whether or not the sweeper ran.
    assert_eq!(texts(&store, "aging"), ["new"]);
    assert!(
        store.get(&name("aging")).is_some(),
        "the stream had a post within its TTL"
    );
}

#[tokio::test(start_paused = true)]
async fn activity_keeps_a_stream_alive() {
    let store = store();
    for i in 0..5 {
        post(&store, "chatty", &format!("m{i}"));
        tokio::time::advance(Duration::from_secs(1000)).await;
        sweep(&store);
    }
    assert!(store.get(&name("chatty")).is_some());
    assert_eq!(
        texts(&store, "chatty"),
        ["m4"],
        "only the last message is younger than the TTL"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_with_subscribers_is_kept_but_its_messages_still_expire() {
    let store = store();
    let subscription = store.subscribe(&name("watched"), None).unwrap();
    post(&store, "watched", "soon gone");
    tokio::time::advance(Duration::from_secs(1100)).await;
    sweep(&store);
    assert!(store.get(&name("watched")).is_some());
    assert!(texts(&store, "watched").is_empty());
    drop(subscription);
    tokio::time::advance(Duration::from_secs(2)).await;
    sweep(&store);
    assert!(
        store.get(&name("watched")).is_none(),
        "removed once nobody watches"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_the_ring_gets_a_gap_then_the_rest_in_order() {
    let store = store();
    let mut subscription = store.subscribe(&name("lag"), None).unwrap();
    assert!(matches!(
        subscription.next().await,
        Some(Delivery::Presence(_))
    ));
    for i in 0..1500 {
        post(&store, "lag", &format!("{i}"));
    }
    let Some(Delivery::Gap(gap)) = subscription.next().await else {
        panic!("expected a gap first");
    };
    let mut received = Vec::new();
    while received.len() < 1024 {
        match subscription.next().await {
            Some(Delivery::Messages(batch)) => {
                received.extend(
                    batch
                        .iter()
                        .map(|stored| stored.message.body.text().unwrap().to_owned()),
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = (476..1500).map(|i| i.to_string()).collect();
    assert_eq!(received, expected);
    let oldest = store
        .page(
            &name("lag"),
            Page::Forward {
                after: Cursor::START,
            },
            1,
        )
        .unwrap();
    let oldest: Vec<Message> = serde_json::from_slice(&oldest).unwrap();
    assert_eq!(gap.available_from, Some(oldest[0].created));
}

#[tokio::test]
async fn a_refused_post_leaves_the_cursor_clock_untouched() {
    let store = Arc::new(Store::new(
        StoreLimits {
            max_memory_bytes: STREAM_OVERHEAD_BYTES + 400,
            ..store().limits().clone()
        },
        Arc::new(Metrics::new()),
    ));
    let first = post(&store, "tight", "fits");
    let refused = store.post(&name("tight"), "x".repeat(200), MessageKind::Message);
    assert_eq!(refused, Err(StoreError::MemoryFull));
    let stream = store.get(&name("tight")).unwrap();
    assert_eq!(stream.lock().newest, first.created);
    assert_eq!(texts(&store, "tight"), ["fits"]);
}

/// A full ring makes room by evicting its oldest message, and the evicted
/// message's bytes are credited in the same step: a budget that holds one
/// full ring (plus one message in flight) never refuses a post to it, and
/// the byte gauge always equals what the ring holds.
#[tokio::test]
async fn eviction_credits_the_evicted_bytes_to_the_budget() {
    let probe = store();
    post(&probe, "full", &"x".repeat(100));
    // The gauge also holds the stream's own fixed charge.
    let cost = probe.gauges().bytes.load(Ordering::Relaxed) - STREAM_OVERHEAD_BYTES;
    assert!(cost > 100);
    let store = Arc::new(Store::new(
        StoreLimits {
            max_memory_bytes: STREAM_OVERHEAD_BYTES + cost * (MAX_MESSAGES_PER_STREAM + 1),
            ..store().limits().clone()
        },
        Arc::new(Metrics::new()),
    ));
    // Same-length texts, so every message costs the same.
    for i in 0..MAX_MESSAGES_PER_STREAM + 10 {
        post(&store, "full", &format!("{i:0100}"));
    }
    assert_eq!(
        store.gauges().bytes.load(Ordering::Relaxed),
        STREAM_OVERHEAD_BYTES + cost * MAX_MESSAGES_PER_STREAM
    );
    assert_eq!(
        store.gauges().messages.load(Ordering::Relaxed),
        MAX_MESSAGES_PER_STREAM
    );
    assert_eq!(texts(&store, "full")[0], format!("{:0100}", 10));
}
