//! A Redis Cluster of three masters: each stream's keys on one shard (hash
//! tag), streams spread over all three, delivered across nodes.

use malten_tests::redis_server::RedisCluster;

use std::time::Duration;

use crate::{id_and_created, post, post_ok, stored, Node, Sse, DEADLINE};

#[tokio::test]
async fn on_a_three_master_redis_cluster_streams_spread_over_shards_and_reach_every_node() {
    let cluster = RedisCluster::start().await.unwrap();
    let a = Node::start(&cluster.urls(), &["--redis-cluster"]).await;
    let b = Node::start(&cluster.urls(), &["--redis-cluster"]).await;
    let streams: Vec<String> = (0..30).map(|i| format!("shard{i}")).collect();
    let mut readers = Vec::new();
    for stream in &streams {
        let mut sse = Sse::open(&b, stream, None).await.unwrap();
        sse.next_of("presence").await;
        readers.push(sse);
    }
    let mut posted = Vec::new();
    for stream in &streams {
        let mut mine = Vec::new();
        for i in 0..3 {
            let node = if i % 2 == 0 { &a } else { &b };
            mine.push(id_and_created(
                &post_ok(node, stream, &format!("{stream} {i}")).await,
            ));
        }
        posted.push(mine);
    }
    for (reader, mine) in readers.iter_mut().zip(&posted) {
        assert_eq!(&reader.messages(3).await, mine);
    }
    // The streams really are spread: every master holds some.
    for server in &cluster.servers {
        let mut conn = server.connection().await.unwrap();
        let keys: usize = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
        assert!(
            keys > 0,
            "master on port {} holds none of the streams",
            server.port
        );
    }
    let paged = stored(&a, "shard5").await;
    assert_eq!(paged, posted[5]);
}

/// A master of a cluster with replicas is killed: its replica takes over,
/// the streams on that shard answer again (503 meanwhile, never a hang),
/// what was replicated before is still there, and a subscriber that
/// resumes with its cursor gets every message after it once, in order.
#[tokio::test]
async fn when_a_master_fails_its_replica_takes_over_and_the_stream_goes_on() {
    let mut cluster = RedisCluster::start_with(1).await.unwrap();
    let a = Node::start(&cluster.urls(), &["--redis-cluster"]).await;
    let b = Node::start(&cluster.urls(), &["--redis-cluster"]).await;
    let stream = "failover";
    let mut reader = Sse::open(&b, stream, None).await.unwrap();
    reader.next_of("presence").await;
    let before = id_and_created(&post_ok(&a, stream, "before").await);
    cluster.wait_replicated().await.unwrap();

    let master = cluster.master_of("malten:{failover}:meta").await.unwrap();
    cluster.servers[master].kill().await;

    // Posts answer 503 until the replica is promoted, then work again.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut after = None;
    for attempt in 0.. {
        let (status, body) = post(&a, stream, &format!("after {attempt}")).await;
        assert!(
            status == 201 || status == 503,
            "during failover a post answers 201 or 503, not {status}: {body}"
        );
        if status == 201 {
            after = Some(id_and_created(&body));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shard did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = after.unwrap();

    // The subscriber: every message once and in order, resuming with its
    // cursor whenever its node ends the subscription.
    let mut seen = Vec::new();
    let mut last = None::<String>;
    loop {
        match reader.next().await {
            Some(event) if event.event == "message" => {
                let message = id_and_created(&event.json());
                last = Some(message.1.clone());
                seen.push(message.clone());
                if message == after {
                    break;
                }
            }
            Some(event) => assert_ne!(event.event, "gap", "a gap: {}", event.data),
            None => reader = reopen(&b, stream, last.as_deref()).await,
        }
    }
    assert_eq!(seen.first(), Some(&before));
    let created: Vec<&String> = seen.iter().map(|(_, created)| created).collect();
    assert!(
        created.windows(2).all(|pair| pair[0] < pair[1]),
        "in order, once each: {seen:?}"
    );
    // The history survived the failover: it was on the replica.
    assert_eq!(stored(&a, "failover").await, seen);
}

/// Subscribes again after `last`, retrying while the node answers 503.
async fn reopen(node: &Node, stream: &str, last: Option<&str>) -> Sse {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match Sse::open(node, stream, last).await {
            Ok(sse) => return sse,
            Err(503) => assert!(
                tokio::time::Instant::now() < deadline,
                "the subscriber was not served again"
            ),
            Err(status) => panic!("resuming answered {status}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
