//! Any node answers any request, with one order per stream.

use malten_tests::redis_server::RedisServer;

use crate::{create, get_json, id_and_created, post_ok, stored, Node, Sse};

#[tokio::test]
async fn a_stream_created_on_one_node_is_listed_written_and_delivered_on_every_node_in_one_order() {
    let redis = RedisServer::start().await.unwrap();
    let nodes = Node::three(&redis.url()).await;
    let (status, _) = create(&nodes[0], &[("stream", "shared"), ("private", "false")]).await;
    assert_eq!(status, 201);
    let (status, _) = create(&nodes[0], &[("stream", "hidden"), ("private", "true")]).await;
    assert_eq!(status, 201);
    let (status, again) = create(&nodes[1], &[("stream", "shared")]).await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("stream_exists"))
    );

    let (_, listed) = get_json(&nodes[2], "/streams").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|info| info["stream"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shared"], "public listed everywhere, private never");
    let (status, hidden) = get_json(&nodes[2], "/streams/hidden").await;
    assert_eq!((status, hidden["private"].as_bool()), (200, Some(true)));

    // A subscriber on every node; each announces itself to all.
    let mut subscribers = Vec::new();
    for node in &nodes {
        let mut sse = Sse::open(node, "shared", None).await.unwrap();
        sse.next_of("presence").await;
        subscribers.push(sse);
    }
    crate::eventually("three observers counted on any node", || async {
        get_json(&nodes[1], "/streams/shared").await.1["observers"] == 3
    })
    .await;

    // Posts spread over the nodes, some of them concurrent.
    let mut posted = Vec::new();
    for round in 0..10 {
        let texts: Vec<String> = (0..nodes.len()).map(|i| format!("r{round} n{i}")).collect();
        let posts = nodes
            .iter()
            .zip(&texts)
            .map(|(node, text)| post_ok(node, "shared", text));
        for message in futures_util::future::join_all(posts).await {
            posted.push(id_and_created(&message));
        }
    }
    // Cursors are 19-digit strings: their text order is their order.
    posted.sort_by(|a, b| a.1.cmp(&b.1));

    let mut seen = Vec::new();
    for sse in &mut subscribers {
        seen.push(sse.messages(posted.len()).await);
    }
    for (i, got) in seen.iter().enumerate() {
        assert_eq!(got, &posted, "subscriber on node {i}: same ids, same order");
    }
    let paged = stored(&nodes[2], "shared").await;
    assert_eq!(paged, posted, "a page on any node has the same order");
    let (_, by_id) = get_json(
        &nodes[1],
        &format!("/messages?stream=shared&id={}", posted[7].0),
    )
    .await;
    assert_eq!(id_and_created(&by_id[0]), posted[7]);
}

#[tokio::test]
async fn last_event_id_from_one_node_resumes_on_another_without_duplicate_or_hole() {
    let redis = RedisServer::start().await.unwrap();
    let nodes = Node::three(&redis.url()).await;
    let mut on_a = Sse::open(&nodes[0], "resume", None).await.unwrap();
    on_a.next_of("presence").await;
    for i in 0..5 {
        post_ok(&nodes[i % 3], "resume", &format!("before {i}")).await;
    }
    let first = on_a.messages(5).await;
    let last_seen = first[2].1.clone();
    drop(on_a);
    for i in 0..3 {
        post_ok(&nodes[2], "resume", &format!("while away {i}")).await;
    }
    let mut on_b = Sse::open(&nodes[1], "resume", Some(&last_seen))
        .await
        .unwrap();
    let resumed = on_b.messages(5).await;
    assert_eq!(
        &resumed[..2],
        &first[3..],
        "continues right after the cursor"
    );
    let mut all: Vec<_> = first[..3].to_vec();
    all.extend(resumed);
    assert_eq!(
        all,
        stored(&nodes[2], "resume").await,
        "every message exactly once, in order"
    );
}

#[tokio::test]
async fn a_reader_resuming_from_before_the_1024_retained_messages_gets_a_gap_then_the_rest() {
    let redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let first = post_ok(&a, "long", "first").await;
    let cursor = first["created"].as_str().unwrap().to_owned();
    let mut last = None;
    for i in 0..1030 {
        last = Some(post_ok(&a, "long", &format!("m{i}")).await);
    }
    let (_, info) = get_json(&b, "/streams/long").await;
    assert_eq!(info["messages"], 1024, "the cap holds in redis");
    let mut reader = Sse::open(&b, "long", Some(&cursor)).await.unwrap();
    let gap = reader.next_of("gap").await.json();
    assert_eq!(gap["after"].as_str(), Some(cursor.as_str()));
    let available_from = gap["available_from"].as_str().unwrap().to_owned();
    let messages = reader.messages(1024).await;
    assert_eq!(messages[0].1, available_from);
    assert_eq!(
        messages.last(),
        Some(&id_and_created(last.as_ref().unwrap()))
    );
}

#[tokio::test]
async fn a_node_is_subscribed_to_a_streams_channel_only_while_it_has_subscribers_there() {
    let redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let conn = redis.connection().await.unwrap();
    let channel = "malten:{watch}:ch";
    let numsub = move || {
        let mut conn = conn.clone();
        async move {
            let (_, count): (String, usize) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query_async(&mut conn)
                .await
                .unwrap();
            count
        }
    };
    assert_eq!(numsub().await, 0);
    let mut first = Sse::open(&b, "watch", None).await.unwrap();
    first.next_of("presence").await;
    let mut second = Sse::open(&b, "watch", None).await.unwrap();
    second.next_of("presence").await;
    assert_eq!(
        numsub().await,
        1,
        "one subscription per node, not per reader"
    );
    drop((first, second));
    crate::eventually("unsubscribed once nobody reads", || async {
        numsub().await == 0
    })
    .await;
    let mut again = Sse::open(&b, "watch", None).await.unwrap();
    again.next_of("presence").await;
    let posted = post_ok(&a, "watch", "back").await;
    assert_eq!(again.messages(1).await, [id_and_created(&posted)]);
}
