//! Two nodes' hubs on one real `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use malten_tests::redis_server::RedisServer;
use tokio::sync::broadcast;

use crate::chat::realtime::{ChatEvent, Hub};
use crate::engine::redis::Settings;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;

const DEADLINE: Duration = Duration::from_secs(20);

/// A node's hub (its engine kept alive alongside, as in the server).
async fn node(redis: &RedisServer) -> (Engine, Arc<dyn Hub>) {
    let engine = Engine::redis(
        &Settings::parse(&redis.url(), false),
        false,
        Store::for_tests().limits().clone(),
        Arc::new(Metrics::new()),
    )
    .await
    .expect("connects");
    let hub = engine.chat_hub().expect("a redis engine has a chat hub");
    (engine, hub)
}

fn typing(user: &str) -> ChatEvent {
    ChatEvent::Typing {
        user_id: user.into(),
        participant_id: "prt_1".into(),
    }
}

/// The next event, within the deadline.
async fn next(events: &mut broadcast::Receiver<ChatEvent>) -> ChatEvent {
    tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("an event in time")
        .expect("the hub is open")
}

fn typer(event: &ChatEvent) -> Option<&str> {
    match event {
        ChatEvent::Typing { user_id, .. } => Some(user_id),
        _ => None,
    }
}

/// Subscribes and waits until the node's Redis subscription is confirmed.
async fn subscribed(hub: &Arc<dyn Hub>, channel: &str) -> broadcast::Receiver<ChatEvent> {
    let mut events = hub.subscribe(channel);
    assert!(
        matches!(next(&mut events).await, ChatEvent::Resync),
        "a new subscription is told to catch up once the topic is subscribed"
    );
    events
}

#[tokio::test]
async fn events_reach_the_other_node_once_and_are_not_echoed_back() {
    let redis = RedisServer::start().await.expect("redis-server");
    let (_a_engine, a) = node(&redis).await;
    let (_b_engine, b) = node(&redis).await;
    let mut on_a = subscribed(&a, "chn_1").await;
    let mut on_b = subscribed(&b, "chn_1").await;
    let mut elsewhere = subscribed(&b, "chn_2").await;

    a.publish("chn_1", typing("usr_first"));
    a.publish("chn_1", typing("usr_second"));
    for events in [&mut on_a, &mut on_b] {
        assert_eq!(typer(&next(events).await), Some("usr_first"));
        assert_eq!(typer(&next(events).await), Some("usr_second"));
    }
    // Had A's own events come back through Redis, the next thing on A
    // would be a copy of the first.
    b.publish("chn_1", typing("usr_from_b"));
    assert_eq!(typer(&next(&mut on_a).await), Some("usr_from_b"));
    assert_eq!(typer(&next(&mut on_b).await), Some("usr_from_b"));
    assert!(
        elsewhere.try_recv().is_err(),
        "another channel's subscriber"
    );
}

#[tokio::test]
async fn after_redis_restarts_subscribers_catch_up_and_events_flow_again() {
    let mut redis = RedisServer::start().await.expect("redis-server");
    let (_a_engine, a) = node(&redis).await;
    let (_b_engine, b) = node(&redis).await;
    let mut on_b = subscribed(&b, "chn_1").await;

    redis.restart().await.expect("redis-server again");
    // Whatever was published meanwhile, B's subscribers are told to look.
    loop {
        if matches!(next(&mut on_b).await, ChatEvent::Resync) {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        a.publish("chn_1", typing("usr_after"));
        let arrived = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                if typer(&next(&mut on_b).await) == Some("usr_after") {
                    return;
                }
            }
        })
        .await;
        if arrived.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "events flow again");
    }
}

/// `CLIENT PAUSE … WRITE` holds `PUBLISH` past the engine's call timeout,
/// while the other node's subscription stays up: the publishing node must
/// tell it, once Redis answers, that it may have missed something.
#[tokio::test]
async fn a_publish_that_failed_is_followed_by_a_resync_notice() {
    let redis = RedisServer::start().await.expect("redis-server");
    let (_a_engine, a) = node(&redis).await;
    let (_b_engine, b) = node(&redis).await;
    let mut on_b = subscribed(&b, "chn_1").await;

    let mut admin = redis.connection().await.expect("a connection");
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .expect("CLIENT PAUSE");
    a.publish("chn_1", typing("usr_paused"));
    loop {
        match next(&mut on_b).await {
            ChatEvent::Resync => break,
            // The paused PUBLISH may still be carried out when the pause
            // ends; the notice must come as well.
            event => assert_eq!(typer(&event), Some("usr_paused")),
        }
    }
}
