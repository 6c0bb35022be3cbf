//! LLM commands on one node reach subscribers on every node: the prompt and
//! the reply as messages, the previews as partials, in the order they
//! happened.

use malten_tests::llm_stub::LlmStub;
use malten_tests::redis_server::RedisServer;

use crate::{client, Node, Sse};

#[tokio::test]
async fn a_command_on_one_node_reaches_subscribers_on_another_with_its_partials_in_order() {
    let redis = RedisServer::start().await.unwrap();
    let stub = LlmStub::replying(&["The answer", " is 4."]).await;
    let a = Node::start(
        &redis.url(),
        &["--llm-base-url", &stub.base_url, "--llm-api-key", "sk-test"],
    )
    .await;
    let b = Node::start(&redis.url(), &[]).await;
    let mut on_b = Sse::open(&b, "calc", None).await.unwrap();
    on_b.next_of("presence").await;

    let response = client()
        .post(a.url("/commands"))
        .form(&[("stream", "calc"), ("prompt", "what is 2+2?")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await.unwrap();

    let mut seen = Vec::new();
    loop {
        let event = on_b.next().await.expect("the stream stays open");
        let data = event.json();
        match event.event.as_str() {
            "message" => seen.push(format!("message:{}", data["type"].as_str().unwrap())),
            "partial" if data["done"] == true => break,
            "partial" => seen.push(format!("partial:{}", data["delta"].as_str().unwrap())),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            "message:command",
            "partial:The answer",
            "partial: is 4.",
            "message:reply"
        ]
    );
}
