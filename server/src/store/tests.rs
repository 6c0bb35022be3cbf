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
        .message
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
    assert_eq!(refused.err(), Some(StoreError::MemoryFull));
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

/// The next `Messages` delivery, skipping presence.
async fn next_messages(subscription: &mut Subscription) -> Vec<Arc<stream::Stored>> {
    loop {
        match subscription.next().await.expect("a delivery") {
            Delivery::Messages(messages) => return messages,
            Delivery::Presence(_) => {}
            other => panic!("expected messages, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_pipe_releases_what_both_ends_have_read() {
    let store = store();
    store
        .create(Some(name("pipe")), true, None, None, true)
        .unwrap();
    let empty = store.snapshot();
    let mut first = store.subscribe(&name("pipe"), None).unwrap();
    let mut second = store.subscribe(&name("pipe"), None).unwrap();
    post(&store, "pipe", "chunk one");
    post(&store, "pipe", "chunk two");
    assert_eq!(store.snapshot().messages, empty.messages + 2);
    assert!(store.snapshot().bytes > empty.bytes);

    assert_eq!(next_messages(&mut first).await.len(), 2);
    assert_eq!(
        store.snapshot().messages,
        empty.messages + 2,
        "kept until the other end has read them too"
    );
    assert_eq!(next_messages(&mut second).await.len(), 2);
    let after = store.snapshot();
    assert_eq!(after.messages, empty.messages, "both ends read: released");
    assert_eq!(after.bytes, empty.bytes, "and their bytes credited back");
}

#[test]
fn a_ttl_at_either_bound_is_accepted_and_one_second_outside_is_refused() {
    let store = store();
    let limits = store.limits();
    let (min, max) = (limits.min_ttl.as_secs(), limits.max_ttl.as_secs());
    assert_eq!(limits.ttl(None).unwrap(), limits.default_ttl);
    assert_eq!(limits.ttl(Some(min)).unwrap(), Duration::from_secs(min));
    assert_eq!(limits.ttl(Some(max)).unwrap(), Duration::from_secs(max));
    for outside in [min - 1, max + 1] {
        assert!(
            matches!(
                limits.ttl(Some(outside)),
                Err(StoreError::TtlOutOfRange { .. })
            ),
            "{outside}"
        );
    }
}

/// A stream costs 10 KiB of the memory budget before it holds anything
/// (`STREAM_OVERHEAD_BYTES`, measured and rounded up), so a budget of
/// 25 KiB holds two empty streams and refuses a third.
#[test]
fn an_empty_stream_costs_ten_kib_of_the_budget() {
    let store = Store::new(
        StoreLimits {
            default_ttl: Duration::from_secs(1024),
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(86_400),
            max_streams: 100,
            max_memory_bytes: 25 * 1024,
            pace_max_wait: Duration::ZERO,
            pace_window: 1,
        },
        Arc::new(crate::metrics::Metrics::new()),
    );
    store
        .create(Some(name("one")), false, None, None, false)
        .unwrap();
    assert_eq!(store.snapshot().bytes, 10 * 1024);
    store
        .create(Some(name("two")), false, None, None, false)
        .unwrap();
    assert!(matches!(
        store.create(Some(name("three")), false, None, None, false),
        Err(StoreError::MemoryFull)
    ));
    assert_eq!(store.snapshot().streams, 2, "the refusal created nothing");
}

/// A cursor the stream has issued is a valid resume point, even when the
/// stream's cursor clock has run ahead of the wall clock (a burst of posts
/// within the same nanosecond); one past it is not.
#[test]
fn a_cursor_up_to_the_newest_issued_is_accepted_and_one_past_it_is_refused() {
    let store = store();
    post(&store, "ahead", "x");
    let issued = Cursor(u64::MAX - 1);
    store.get(&name("ahead")).unwrap().lock().newest = issued;
    assert!(store.check_cursor(&name("ahead"), issued).is_ok());
    assert!(matches!(
        store.check_cursor(&name("ahead"), Cursor(u64::MAX)),
        Err(StoreError::InvalidCursor(_))
    ));
}

/// `recent` (what the LLM is given as context) takes the newest messages
/// that fit in the character budget, a message that exactly fills it
/// included, and stops at the first that does not fit.
#[test]
fn recent_takes_the_newest_run_that_fits_exactly() {
    let store = store();
    post(&store, "context", "abc");
    post(&store, "context", "défg");
    let texts = |max_chars| -> Vec<String> {
        store
            .recent(&name("context"), max_chars)
            .into_iter()
            .map(|m| m.body.text().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(7), ["abc", "défg"], "characters, not bytes");
    assert_eq!(texts(6), ["défg"]);
    assert_eq!(texts(4), ["défg"]);
    assert!(
        texts(3).is_empty(),
        "the newest does not fit: nothing older either"
    );
}

/// Cursors strictly increase even when the wall clock does not (a burst
/// within one nanosecond, or a clock stepped back): each is one past the
/// newest already issued.
#[test]
fn cursors_stay_strictly_increasing_when_the_clock_lags_behind() {
    let store = store();
    post(&store, "burst", "first");
    let ahead = Cursor(u64::MAX / 2);
    store.get(&name("burst")).unwrap().lock().newest = ahead;
    let second = post(&store, "burst", "second");
    let third = post(&store, "burst", "third");
    assert_eq!(second.created, Cursor(ahead.0 + 1));
    assert_eq!(third.created, Cursor(ahead.0 + 2));
}
