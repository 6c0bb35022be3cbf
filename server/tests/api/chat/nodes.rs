//! Two nodes on one PostgreSQL database and one Redis serve one chat: what
//! is posted, typed or joined on either reaches subscribers on both, every
//! message once and in `seq` order (docs/cluster.md).

use malten_server::config::Config;
use malten_tests::redis_server::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::realtime::room;
use super::support::{Backend, ChatApp};
use crate::helpers::SseClient;

/// A chat node on `database` and `redis`.
async fn node(database: &str, redis: &RedisServer) -> ChatApp {
    let database = database.to_owned();
    let redis = redis.url();
    ChatApp::spawn_with(Backend::Sqlite, move |config: &mut Config| {
        config.database_url = database.parse().unwrap();
        config.redis_url = Some(redis.parse().unwrap());
    })
    .await
}

/// The `seq` and text of the next `count` messages.
async fn messages(events: &mut SseClient, count: usize) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = events.next_of("message").await;
        let data = event.json();
        assert_eq!(event.id, Some(data["seq"].to_string()));
        seen.push((
            data["seq"].as_i64().unwrap(),
            data["text"].as_str().unwrap().to_owned(),
        ));
    }
    seen
}

#[tokio::test]
async fn subscribers_on_either_node_get_every_message_once_in_order_and_live_events() {
    let redis = RedisServer::start().await.expect("redis-server");
    let database = super::pg::new_database().await;
    let a = node(&database, &redis).await;
    let b = node(&database, &redis).await;
    let (world, channel, ada_in, bob) = room(&a).await;
    let mut on_a = a.events(&world.token, &channel, None).await;
    let mut on_b = b.events(&world.token, &channel, None).await;

    // Posted on both nodes at once: the seqs interleave across nodes.
    let posts = (0..10).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let (token, channel, ada_in) = (&world.token, &channel, &ada_in);
        async move { node.post(token, channel, ada_in, &format!("m{i}")).await }
    });
    let posted = futures_util::future::join_all(posts).await;
    let mut expected: Vec<(i64, String)> = posted
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(messages(&mut on_a, 10).await, expected);
    assert_eq!(messages(&mut on_b, 10).await, expected);

    // Ephemeral events from one node reach the other's subscribers.
    let bob_in = a.join(&world.token, &channel, &bob).await;
    let join = on_b.next_of("join").await;
    assert_eq!(join.json()["id"], bob_in.as_str());
    a.ok(
        &world.token,
        Method::POST,
        &format!("/v1/channels/{channel}/typing"),
        Some(json!({"user_id": bob})),
        StatusCode::NO_CONTENT,
    )
    .await;
    let typing = on_b.next_of("typing").await;
    assert_eq!(typing.json()["user_id"], bob.as_str());
    // And the next message after all that is the next seq, once.
    let last = b.post(&world.token, &channel, &ada_in, "last").await;
    assert_eq!(
        messages(&mut on_a, 1).await,
        [(last["seq"].as_i64().unwrap(), "last".to_owned())]
    );
}
