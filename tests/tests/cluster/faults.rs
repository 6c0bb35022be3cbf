//! Faults: a node killed under load, Redis stopped and restarted (empty),
//! a Redis that writes to disk.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use malten_tests::redis_server::RedisServer;
use tokio::time::Instant;

use crate::{
    eventually, get_json, id_and_created, post, post_ok, stored, Event, Node, Sse, DEADLINE,
};

/// Reads `sse` until it has `count` messages; when the node goes away it
/// reconnects to `fallback` with the last event id, as a browser does.
async fn read_all(
    mut sse: Sse,
    fallback: &Node,
    stream: &str,
    count: usize,
) -> Vec<(String, String)> {
    let mut got = Vec::new();
    let mut last_id: Option<String> = None;
    while got.len() < count {
        match sse.next().await {
            Some(Event { id, event, data }) => {
                assert_ne!(event, "gap", "no message may be lost: {data}");
                if let Some(id) = id {
                    last_id = Some(id);
                }
                if event == "message" {
                    got.push(id_and_created(&serde_json::from_str(&data).unwrap()));
                }
            }
            None => {
                sse = Sse::open(fallback, stream, last_id.as_deref())
                    .await
                    .expect("the other node accepts the resumed subscription");
            }
        }
    }
    got
}

#[tokio::test]
async fn killing_a_node_under_load_loses_no_accepted_message_and_its_clients_resume_elsewhere() {
    let redis = RedisServer::start().await.unwrap();
    let mut nodes = Node::three(&redis.url()).await;
    let mut subscribers = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            let mut sse = Sse::open(node, "load", None).await.unwrap();
            sse.next_of("presence").await;
            subscribers.push(sse);
        }
    }
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    let (progress_tx, mut progress) = tokio::sync::watch::channel(0usize);
    let poster = tokio::spawn(async move {
        let client = crate::client();
        let mut accepted = Vec::new();
        for i in 0..240 {
            let base = &bases[i % bases.len()];
            let sent = client
                .post(format!("{base}/messages"))
                .form(&[("stream", "load"), ("message", &format!("m{i}"))])
                .send()
                .await;
            if let Ok(response) = sent {
                if response.status() == 201 {
                    let message: serde_json::Value = response.json().await.unwrap();
                    accepted.push(id_and_created(&message));
                }
            }
            progress_tx.send_replace(i);
        }
        accepted
    });
    tokio::time::timeout(DEADLINE, progress.wait_for(|sent| *sent >= 80))
        .await
        .unwrap()
        .unwrap();
    nodes[1].kill9().await;
    let accepted = poster.await.unwrap();
    assert!(accepted.len() >= 160, "the surviving nodes kept accepting");

    let stored = stored(&nodes[0], "load").await;
    let stored_ids: HashSet<_> = stored.iter().map(|(id, _)| id.clone()).collect();
    for (id, _) in &accepted {
        assert!(stored_ids.contains(id), "an accepted message is stored");
    }
    let reads = subscribers
        .into_iter()
        .map(|sse| read_all(sse, &nodes[0], "load", stored.len()));
    for (i, got) in futures_util::future::join_all(reads)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(got, stored, "subscriber {i}: every message once, in order");
    }
}

#[tokio::test]
async fn without_redis_posts_answer_503_at_once_subscribers_are_told_and_service_returns_with_a_gap_for_old_cursors(
) {
    let mut redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let mut sse = Sse::open(&b, "s", None).await.unwrap();
    sse.next_of("presence").await;
    post_ok(&a, "s", "before").await;
    let cursor = sse.messages(1).await[0].1.clone();

    redis.kill().await;
    let started = Instant::now();
    let (status, body) = post(&a, "s", "during").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("backend_unavailable"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no hang: {:?}",
        started.elapsed()
    );
    let metrics = crate::client()
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metric(&metrics, "malten_backend_errors_total") >= 1.0,
        "the failed call is counted"
    );
    assert!(metric(&metrics, "malten_backend_latency_seconds_count") >= 1.0);
    let notice = sse.next_of("system").await.json();
    assert_eq!(notice["code"], "backend_unavailable");
    assert!(
        sse.next().await.is_none(),
        "the stream ends so the client reconnects"
    );
    assert_eq!(Sse::open(&b, "s", Some(&cursor)).await.err(), Some(503));

    redis.restart().await.unwrap();
    eventually("posts are accepted again", || async {
        post(&a, "s", "after").await.0 == 201
    })
    .await;
    let deadline = Instant::now() + DEADLINE;
    let mut resumed = loop {
        if let Ok(sse) = Sse::open(&b, "s", Some(&cursor)).await {
            break sse;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions are accepted again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let metrics = crate::client()
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metric(&metrics, "malten_backend_reconnects_total") >= 1.0,
        "the node re-subscribed and counted it"
    );
    let first = loop {
        let event = resumed.next().await.unwrap();
        if event.event != "presence" {
            break event;
        }
    };
    assert_eq!(
        first.event, "gap",
        "an old cursor on an emptied redis is a gap"
    );
    assert_eq!(first.json()["after"].as_str(), Some(cursor.as_str()));
    let after = resumed.next_of("message").await.json();
    assert_eq!(after["text"], "after");
}

/// A sample of `/metrics` text, 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_redis_that_writes_to_disk_is_refused_unless_allowed() {
    let redis = RedisServer::start_with(&["--save", "3600 1"])
        .await
        .unwrap();
    let output = tokio::time::timeout(
        DEADLINE,
        tokio::process::Command::new(crate::process::malten_binary())
            .args(["--addr", "127.0.0.1:0", "--redis-url", &redis.url()])
            .env_remove("MALTEN_ALLOW_PERSISTENT_REDIS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("malten exits at once")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keeps data on disk"), "{stderr}");
    assert!(stderr.contains("--allow-persistent-redis"), "{stderr}");

    let node = Node::start(&redis.url(), &["--allow-persistent-redis"]).await;
    post_ok(&node, "s", "allowed").await;
}

#[tokio::test]
async fn presence_counts_subscribers_on_every_node_and_forgets_a_killed_nodes() {
    let redis = RedisServer::start().await.unwrap();
    let mut nodes = Node::three(&redis.url()).await;
    let mut held = Vec::new();
    for node in [0, 1, 1] {
        let mut sse = Sse::open(&nodes[node], "room", None).await.unwrap();
        sse.next_of("presence").await;
        held.push(sse);
    }
    eventually("three observers", || async {
        get_json(&nodes[2], "/streams/room").await.1["observers"] == 3
    })
    .await;
    let first = &mut held[0];
    let announced = loop {
        let presence = first.next_of("presence").await.json();
        if presence["observers"] == 3 {
            break presence;
        }
    };
    assert_eq!(announced["stream"], "room");
    nodes[1].kill9().await;
    // A killed node cannot say goodbye: its count expires (15 s).
    eventually(
        "the killed node's two subscribers no longer count",
        || async { get_json(&nodes[2], "/streams/room").await.1["observers"] == 1 },
    )
    .await;
}

#[tokio::test]
async fn a_redis_that_forbids_config_is_accepted_with_a_warning() {
    // Managed services often disable CONFIG: the node cannot check, warns,
    // and starts.
    let redis = RedisServer::start_with(&["--rename-command", "CONFIG", ""])
        .await
        .unwrap();
    let node = Node::start(&redis.url(), &[]).await;
    post_ok(&node, "s", "started").await;
}
