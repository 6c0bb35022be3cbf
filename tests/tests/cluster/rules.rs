//! The same rules as one node, held in Redis: encrypted streams refuse
//! plaintext, bad cursors are refused, LLM-free `/commands` paths aside.

use malten_shared::crypto::{
    derive_key, seal, EncryptionParams, KdfParams, Plaintext, PlaintextKind, MIN_ITERATIONS,
};
use malten_tests::redis_server::RedisServer;

use crate::{create, get_json, post, Node, Sse};

#[tokio::test]
async fn an_encrypted_stream_refuses_plaintext_on_every_node_and_relays_envelopes() {
    let redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &[]).await;
    let b = Node::start(&redis.url(), &[]).await;
    let kdf = KdfParams::new([7; 16], MIN_ITERATIONS).unwrap();
    let key = derive_key("correct horse", &kdf).unwrap();
    let params = EncryptionParams::new(&kdf, &key).unwrap();
    let iterations = params.iterations.to_string();
    let (status, info) = create(
        &a,
        &[
            ("stream", "vault"),
            ("private", "true"),
            ("encrypted", "true"),
            ("salt", &params.salt),
            ("iterations", &iterations),
            ("check", &params.check),
        ],
    )
    .await;
    assert_eq!(status, 201, "{info}");
    let (_, described) = get_json(&b, "/streams/vault").await;
    assert_eq!(described["encrypted"], true);
    assert_eq!(described["encryption"]["salt"], params.salt.as_str());
    let (_, listed) = get_json(&b, "/streams").await;
    assert_eq!(listed, serde_json::json!([]), "private: never listed");

    let mut reader = Sse::open(&a, "vault", None).await.unwrap();
    reader.next_of("presence").await;
    let (status, refused) = post(&b, "vault", "plain words").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("not_an_envelope"))
    );
    let sealed = seal(
        &key,
        "vault",
        &Plaintext::new("secret", PlaintextKind::Message, 1_700_000_000_000),
    )
    .unwrap();
    let (status, stored) = post(&b, "vault", &sealed).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["envelope"], sealed.as_str());
    assert!(stored.get("text").is_none());
    let relayed = reader.next_of("message").await.json();
    assert_eq!(relayed, stored, "the envelope, as stored, and nothing else");
    let (_, page) = get_json(&a, "/messages?stream=vault").await;
    assert_eq!(
        page.as_array().unwrap().len(),
        1,
        "the plaintext left nothing"
    );
}

#[tokio::test]
async fn cursors_from_the_future_are_refused_and_refused_posts_create_nothing() {
    let redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &[]).await;
    assert_eq!(
        Sse::open(&a, "fresh", Some("99999999999999999999"))
            .await
            .err(),
        Some(400)
    );
    let (status, _) = get_json(&a, "/streams/fresh").await;
    assert_eq!(status, 404, "a refused subscription creates nothing");
    let (status, refused) = post(&a, "fresh", &"x".repeat(1025)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (413, Some("message_too_long"))
    );
    let (status, _) = get_json(&a, "/streams/fresh").await;
    assert_eq!(status, 404, "a refused post creates nothing");
}

#[tokio::test]
async fn the_stream_cap_counts_the_streams_of_every_node() {
    let redis = RedisServer::start().await.unwrap();
    let a = Node::start(&redis.url(), &["--max-streams", "3"]).await;
    let b = Node::start(&redis.url(), &["--max-streams", "3"]).await;
    assert_eq!(create(&a, &[("stream", "one")]).await.0, 201);
    crate::post_ok(&b, "two", "made by a post").await;
    let mut watcher = Sse::open(&a, "three", None).await.unwrap();
    watcher.next_of("presence").await;
    let (status, refused) = create(&b, &[("stream", "four")]).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("too_many_streams"))
    );
    let (status, refused) = post(&a, "four", "hello").await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("too_many_streams"))
    );
    assert_eq!(Sse::open(&b, "four", None).await.err(), Some(503));
    let (status, _) = get_json(&a, "/streams/four").await;
    assert_eq!(status, 404, "refused everywhere, created nowhere");
    crate::post_ok(&a, "two", "existing streams still take posts").await;
}

#[tokio::test]
async fn a_pipe_is_refused_clearly_and_creates_nothing() {
    let redis = RedisServer::start().await.unwrap();
    let node = Node::start(&redis.url(), &[]).await;
    let kdf = KdfParams::new([9; 16], MIN_ITERATIONS).unwrap();
    let key = derive_key("pipe pass", &kdf).unwrap();
    let params = EncryptionParams::new(&kdf, &key).unwrap();
    let iterations = params.iterations.to_string();
    let (status, body) = create(
        &node,
        &[
            ("stream", "tube"),
            ("private", "true"),
            ("encrypted", "true"),
            ("pipe", "true"),
            ("salt", &params.salt),
            ("iterations", &iterations),
            ("check", &params.check),
        ],
    )
    .await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["code"], "pipes_unsupported");
    let (status, _) = get_json(&node, "/streams/tube").await;
    assert_eq!(status, 404, "nothing was created");
}
