//! The WebSocket transport of `/events`: the same events as SSE, one JSON
//! text frame each (`{"id","event","data"}`), with the same replay rules.
//!
//! The socket is read only to notice the client leaving; anything a client
//! sends is ignored (posting stays on `POST /messages`, so there is one write
//! path with one set of limits).

use std::time::Duration;

use axum::extract::ws::{Message as Frame, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use malten_shared::wire::{Cursor, EventKind};
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};

use crate::engine::{Delivery, Subscription};
use crate::limits::ConnectionPermit;

/// tungstenite's read buffer per socket, instead of its default of 128 KiB.
///
/// The buffer is allocated with every socket and zero-filled up to its
/// capacity on the first read, which happens at once (the socket is read
/// to notice the client leaving), so the default made every idle WebSocket
/// cost 135 KiB of resident memory (`malten-bench --only-idle`,
/// docs/benchmarks.md). What a client sends is ignored; 256 bytes hold any
/// control frame (a close or pong: at most 125 bytes of payload and a
/// 14-byte header) in one read. A longer frame, up to the 4,096-byte
/// message limit, still arrives whole: tungstenite reserves its full
/// length once the header is read, and reads it 256 bytes at a time.
pub const READ_BUFFER_BYTES: usize = 256;

pub async fn serve(
    socket: WebSocket,
    mut subscription: Subscription,
    _permit: ConnectionPermit,
    keepalive: Duration,
) {
    let (mut sender, mut receiver) = socket.split();
    let mut ping = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            delivery = subscription.next() => {
                let Some(delivery) = delivery else { break };
                let shutting_down = matches!(delivery, Delivery::Shutdown(_));
                for frame in frames(&delivery, subscription.cursor()) {
                    if sender.send(Frame::Text(frame)).await.is_err() {
                        return;
                    }
                }
                if shutting_down {
                    let _ = sender.send(Frame::Close(None)).await;
                    return;
                }
            }
            incoming = receiver.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if sender.send(Frame::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One delivery as WebSocket text frames, one per event.
fn frames(delivery: &Delivery, cursor: Cursor) -> Vec<Utf8Bytes> {
    match delivery {
        Delivery::Messages(messages) => messages
            .iter()
            .map(|stored| {
                let data = std::str::from_utf8(&stored.json())
                    .expect("stored JSON is UTF-8")
                    .to_owned();
                envelope(stored.message.created, EventKind::Message, &RawJson(data))
            })
            .collect(),
        Delivery::Presence(presence) => vec![envelope(cursor, EventKind::Presence, presence)],
        Delivery::Gap(gap) => vec![envelope(cursor, EventKind::Gap, gap)],
        Delivery::Partial(partial) => vec![envelope(cursor, EventKind::Partial, &partial.partial)],
        Delivery::Shutdown(notice) => vec![envelope(cursor, EventKind::System, notice)],
    }
}

/// Already-serialized JSON, embedded as-is.
struct RawJson(String);

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

fn envelope(id: Cursor, kind: EventKind, data: &impl Serialize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Envelope<'a, T: Serialize> {
        id: Cursor,
        event: EventKind,
        data: &'a T,
    }
    let json = serde_json::to_string(&Envelope {
        id,
        event: kind,
        data,
    })
    .expect("events serialize");
    Utf8Bytes::from(json)
}
