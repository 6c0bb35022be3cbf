use malten_shared::wire::MessageKind;
use malten_shared::StreamName;

use super::*;
use crate::error::ApiError;

#[tokio::test]
async fn once_shutdown_begins_nothing_new_is_accepted_and_reads_still_work() {
    let engine = Engine::for_tests();
    let name = StreamName::parse("before").unwrap();
    engine
        .post(&name, "kept".into(), MessageKind::Message)
        .await
        .unwrap();
    engine.begin_shutdown();

    let post = engine
        .post(&name, "late".into(), MessageKind::Message)
        .await;
    assert!(matches!(post, Err(EngineError::ShuttingDown)), "{post:?}");
    let subscribe = engine.subscribe(&name, None).await;
    assert!(matches!(subscribe, Err(EngineError::ShuttingDown)));
    let create = engine
        .create(NewStream {
            name: Some(StreamName::parse("after").unwrap()),
            ..NewStream::default()
        })
        .await;
    assert!(matches!(create, Err(EngineError::ShuttingDown)));

    let info = engine.describe(&name).await.unwrap().expect("still there");
    assert_eq!(info.messages, 1, "the refused post changed nothing");
    assert!(engine
        .describe(&StreamName::parse("after").unwrap())
        .await
        .unwrap()
        .is_none());

    let api = ApiError::from(EngineError::ShuttingDown);
    assert_eq!(api.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.code(), "shutting_down");
}

/// Every idle SSE connection holds one pending `next()` future inline, so
/// its size is memory per connection (docs/benchmarks.md). The Redis
/// backend's future is over a kilobyte; it must not set the size for both.
#[tokio::test]
async fn a_pending_delivery_costs_an_idle_connection_little_memory() {
    let engine = Engine::for_tests();
    let name: malten_shared::StreamName = "idle".parse().unwrap();
    let mut subscription = engine.subscribe(&name, None).await.unwrap();
    let pending = subscription.next();
    let size = std::mem::size_of_val(&pending);
    assert!(size <= 512, "the pending next() future is {size} bytes");
}
