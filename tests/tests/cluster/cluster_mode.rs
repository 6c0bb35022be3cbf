//! A Redis Cluster of three masters: each stream's keys on one shard (hash
//! tag), streams spread over all three, delivered across nodes.

use malten_tests::redis_server::RedisCluster;

use crate::{get_json, id_and_created, post_ok, Node, Sse};

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
    let (_, page) = get_json(&a, "/messages?stream=shard5&direction=1").await;
    let paged: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(id_and_created)
        .collect();
    assert_eq!(paged, posted[5]);
}
