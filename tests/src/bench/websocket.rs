//! A WebSocket subscriber of `GET /events`, on `tokio-tungstenite`.
//!
//! The server sends every event as one text frame,
//! `{"id": "<cursor>", "event": "<kind>", "data": {...}}` (docs/api.md). A
//! `message` frame is handed to the [`Tally`] whole: the payload is found
//! inside it as inside an SSE event's data. A `gap` frame counts as loss;
//! `presence` frames and pings carry nothing the benchmark needs (tungstenite
//! answers pings by itself on the next read).

use std::net::SocketAddr;

use anyhow::{bail, ensure, Context, Result};
use futures_util::StreamExt;
use malten_shared::wire::EventKind;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::fanout::FeedConn;
use super::payload::now_ns;
use super::stats::Tally;

/// The client's read buffer. tungstenite's default (128 KiB, zero-filled
/// on the first read) would cost the benchmark 1.3 GB for 10,000 idle
/// sockets; the server's frames are a few hundred bytes.
const READ_BUFFER: usize = 4096;

/// One open WebSocket on `GET /events`, past the upgrade.
pub struct WsConn {
    socket: WebSocketStream<TcpStream>,
}

impl WsConn {
    /// Upgrades `GET /events?stream=<stream>` to a WebSocket.
    pub async fn connect(addr: SocketAddr, stream_name: &str) -> Result<Self> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        let url = format!("ws://{addr}/events?stream={stream_name}");
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (socket, response) =
            tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config))
                .await
                .with_context(|| format!("the WebSocket upgrade of {url} failed"))?;
        ensure!(
            response.status() == 101,
            "GET /events answered {} to the upgrade",
            response.status()
        );
        Ok(Self { socket })
    }
}

/// One text frame as the server sent it.
fn dispatch_frame(text: &str, tally: &mut Tally, received_ns: u64) -> Result<()> {
    let frame: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("a frame that is not JSON: {text}"))?;
    let kind = frame
        .get("event")
        .and_then(|event| event.as_str())
        .and_then(EventKind::from_name)
        .with_context(|| format!("a frame without a known event: {text}"))?;
    match kind {
        EventKind::Message => tally.message(text.as_bytes(), received_ns),
        EventKind::Gap => tally.gap(),
        EventKind::Presence | EventKind::System | EventKind::Partial => {}
    }
    Ok(())
}

impl FeedConn for WsConn {
    async fn read_some(&mut self, tally: &mut Tally) -> Result<()> {
        let Some(frame) = self.socket.next().await else {
            bail!("the server closed the WebSocket");
        };
        let received_ns = now_ns();
        match frame.context("reading the WebSocket")? {
            Message::Text(text) => dispatch_frame(&text, tally, received_ns)?,
            Message::Close(close) => bail!("the server closed the WebSocket: {close:?}"),
            Message::Binary(_) => bail!("a binary frame; the server sends text only"),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::payload::encode;
    use super::*;

    #[test]
    fn frames_are_dispatched_by_event() {
        let payload = String::from_utf8(encode(0, 10)).unwrap();
        let mut tally = Tally::new(1);
        dispatch_frame(
            r#"{"id":"5","event":"presence","data":{"observers":3}}"#,
            &mut tally,
            20,
        )
        .unwrap();
        assert!(!tally.complete());
        let message = format!(r#"{{"id":"6","event":"message","data":{{"text":"{payload}"}}}}"#);
        dispatch_frame(&message, &mut tally, 20).unwrap();
        assert!(tally.complete());
        dispatch_frame(r#"{"id":"7","event":"gap","data":{}}"#, &mut tally, 20).unwrap();
        assert!(dispatch_frame("not json", &mut tally, 20).is_err());
        assert!(dispatch_frame(r#"{"event":"nonsense"}"#, &mut tally, 20).is_err());
        let summary = super::super::stats::summarize(vec![tally]);
        assert_eq!((summary.deliveries, summary.gaps), (1, 1));
    }
}
