use std::time::{Duration, Instant};

use crate::helpers::spawn_app;

#[tokio::test]
async fn shutdown_tells_subscribers_and_returns_within_five_seconds() {
    let mut app = spawn_app().await;
    let mut sse = app.sse("stream=bye", None).await;
    sse.next_of("presence").await;
    let started = Instant::now();
    let shutdown = app.shutdown();
    let notice = async {
        let event = sse.next_of("system").await;
        assert_eq!(event.json()["code"], "shutdown");
        // Then the server ends the stream.
        assert!(sse.next_block().await.is_none());
    };
    let (result, ()) = tokio::join!(shutdown, notice);
    result.expect("run returns cleanly");
    assert!(started.elapsed() < Duration::from_secs(5));
}
