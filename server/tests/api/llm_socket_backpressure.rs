//! `/ws` backpressure: a client that stops reading is disconnected after
//! `--ws-write-timeout-secs`, so it cannot hold its slot (or a reply
//! waiting for it) forever.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::helpers::spawn_app_with;
use crate::ws_client::wait_until_a_connection_is_accepted;

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_frees_its_slot() {
    let app = spawn_app_with(|config| {
        config.max_connections_per_ip = 1;
        config.ws_max_frame_bytes = 1024 * 1024;
        config.ws_write_timeout_secs = 0.2;
    })
    .await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
        .await
        .expect("websocket upgrade");
    let (mut sink, unread) = socket.split();
    // Large pings whose pongs are never read: the kernel's buffers fill, and
    // the server's next write waits on a client that does not take it.
    let ping = json!({"msg": "ping", "cid": "p", "content": "x".repeat(512 * 1024)}).to_string();
    let flood = tokio::spawn(async move {
        for _ in 0..64 {
            if sink.send(Frame::Text(ping.clone().into())).await.is_err() {
                break;
            }
        }
        sink
    });
    // The slot in the per-address cap is freed once the server gives up.
    wait_until_a_connection_is_accepted(&app, "a client that stopped reading kept its slot").await;
    drop(unread);
    flood.abort();
}
