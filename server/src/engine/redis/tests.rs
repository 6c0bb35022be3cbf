//! The Redis engine against a real `redis-server`, in process, where a test
//! needs to control what runs when (the multi-process suite is in
//! `tests/tests/cluster/`).

use std::sync::Arc;

use malten_shared::StreamName;
use malten_tests::redis_server::RedisServer;

use super::Settings;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::store::Store;

/// A node says it is listening before its background tasks first run; a
/// subscriber arriving in between is served, not told Redis is away.
#[tokio::test]
async fn a_subscriber_is_served_before_the_background_tasks_have_run() {
    let redis = RedisServer::start().await.expect("redis-server");
    let limits = Store::for_tests().limits().clone();
    let engine = Engine::redis(
        &Settings::parse(&redis.url(), false),
        false,
        limits,
        Arc::new(Metrics::new()),
    )
    .await
    .expect("connects");
    // Spawned but, on this single-threaded runtime, not yet run: the
    // test does not yield before subscribing.
    let tasks = engine.spawn_maintenance();
    let name: StreamName = "early".parse().unwrap();
    let subscribed = engine.subscribe(&name, None).await;
    assert!(subscribed.is_ok(), "{:?}", subscribed.err());
    tasks.abort();
}
