//! Shutdown with live chat connections: each gets `end` with
//! `shutting_down` and is closed at once, so the server stops well within
//! a long grace period instead of waiting it out.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::realtime::{next_text, room};
use super::support::{chat_test, ChatApp};
use crate::helpers::DEADLINE;

chat_test! {
    async fn live_sse_and_websocket_streams_end_when_the_server_shuts_down(backend) {
        let mut chat = ChatApp::spawn_with(backend, |config| {
            // Without the `end` the server would wait this long for them.
            config.shutdown_grace_secs = 30;
        })
        .await;
        let (world, channel, _, _) = room(&chat).await;
        let mut sse = chat.events(&world.token, &channel, None).await;
        let mut request = format!("ws://{}/v1/channels/{channel}/events", chat.app.addr)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", world.token).parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrade");

        let started = Instant::now();
        let shutdown = chat.app.shutdown();
        let ends = async {
            let end = sse.next_event().await;
            assert_eq!((end.event.as_str(), end.json()["code"].as_str()), ("end", Some("shutting_down")));
            assert!(sse.next_block().await.is_none(), "the SSE response ends after `end`");
            let end = next_text(&mut socket).await;
            assert_eq!((end["event"].as_str(), end["data"]["code"].as_str()), (Some("end"), Some("shutting_down")));
            loop {
                match tokio::time::timeout(DEADLINE, socket.next()).await.expect("the socket closes in time") {
                    None | Some(Ok(Frame::Close(_))) | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
        };
        let (result, ()) = tokio::join!(shutdown, ends);
        result.expect("run returns cleanly");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }
}
