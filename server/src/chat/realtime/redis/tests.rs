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
    let (engine, hub, _) = node_with_metrics(redis).await;
    (engine, hub)
}

/// The same, with the node's metrics (failed Redis calls are counted).
async fn node_with_metrics(redis: &RedisServer) -> (Engine, Arc<dyn Hub>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let engine = Engine::redis(
        &Settings::parse(&redis.url(), false),
        false,
        Store::for_tests().limits().clone(),
        Arc::clone(&metrics),
    )
    .await
    .expect("connects");
    let hub = engine.chat_hub().expect("a redis engine has a chat hub");
    (engine, hub, metrics)
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
    // A second subscriber where the node is subscribed already: there is
    // nothing to catch up on, so nobody is told to. (Subscriptions are
    // handled in order: once chn_3's is confirmed, this one was handled.)
    let mut second_on_b = b.subscribe("chn_1");
    let _third = subscribed(&b, "chn_3").await;

    a.publish("chn_1", typing("usr_first"));
    a.publish("chn_1", typing("usr_second"));
    for events in [&mut on_a, &mut on_b, &mut second_on_b] {
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

/// `PUBLISH` refused for a moment (an ACL takes the command away) while the
/// other node's subscription stays up: once publishing works again, the
/// publishing node tells it, once, that it may have missed something.
#[tokio::test]
async fn a_publish_that_failed_is_followed_by_one_resync_notice() {
    let redis = RedisServer::start().await.expect("redis-server");
    let (a_engine, a, a_metrics) = node_with_metrics(&redis).await;
    let (_b_engine, b) = node(&redis).await;
    let mut on_b = subscribed(&b, "chn_1").await;

    let mut admin = redis.connection().await.expect("a connection");
    let acl = |rule: &'static str| {
        let mut command = redis::cmd("ACL");
        command.arg("SETUSER").arg("default").arg(rule);
        command
    };
    let _: () = acl("-publish").query_async(&mut admin).await.unwrap();
    a.publish("chn_1", typing("usr_refused"));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while a_metrics.backend_errors.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publish never failed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _: () = acl("+publish").query_async(&mut admin).await.unwrap();
    assert!(
        matches!(next(&mut on_b).await, ChatEvent::Resync),
        "told to catch up once publishing works again"
    );
    // And only once: nothing more for longer than the longest retry pause.
    tokio::time::sleep(super::MAX_BACKOFF + Duration::from_millis(300)).await;
    assert!(on_b.try_recv().is_err(), "resync notices go on");
    drop(a_engine);
}
