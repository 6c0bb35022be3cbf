//! The Server-Sent Events transport.
//!
//! The body is written by hand rather than with `axum::response::Sse`
//! because message frames are encoded once, when stored, and shared by every
//! subscriber: a delivery is a reference-count increment, not a
//! serialization. The frames themselves are written by
//! `malten_shared::sse`, the one place that knows the format.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use malten_shared::sse;
use malten_shared::wire::{Cursor, EventKind};
use serde::Serialize;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::engine::{Delivery, Subscription};
use crate::limits::ConnectionPermit;

/// Asks browsers to reconnect after 2 s instead of their default 3 s.
static PREAMBLE: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(sse::retry(2000)));

struct Connection {
    subscription: Subscription,
    /// Ticks every half keep-alive period; a comment goes out on a tick only
    /// if nothing else did for half a period, so the line is never silent
    /// for a whole period. (Checking a timestamp on a tick costs less than
    /// resetting a timer after every frame.)
    keepalive: Interval,
    quiet_limit: Duration,
    last_sent: Instant,
    _permit: ConnectionPermit,
    started: bool,
}

pub fn response(
    subscription: Subscription,
    permit: ConnectionPermit,
    keepalive: Duration,
) -> Response {
    let half = keepalive / 2;
    let mut interval = tokio::time::interval_at(Instant::now() + half, half);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let connection = Connection {
        subscription,
        keepalive: interval,
        quiet_limit: half,
        last_sent: Instant::now(),
        _permit: permit,
        started: false,
    };
    let body = stream::unfold(connection, |mut connection| async move {
        if !connection.started {
            connection.started = true;
            return Some((Ok::<_, Infallible>(PREAMBLE.clone()), connection));
        }
        let chunk = loop {
            tokio::select! {
                delivery = connection.subscription.next() => {
                    let delivery = delivery?;
                    break encode(&delivery, connection.subscription.cursor());
                }
                _ = connection.keepalive.tick() => {
                    if connection.last_sent.elapsed() >= connection.quiet_limit {
                        break Bytes::from_static(sse::KEEPALIVE.as_bytes());
                    }
                }
            }
        };
        connection.last_sent = Instant::now();
        Some((Ok(chunk), connection))
    });
    event_stream_response(Body::from_stream(body))
}

/// A `text/event-stream` response around `body`, uncached and unbuffered.
pub fn event_stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell nginx-style proxies not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One delivery as SSE bytes. `cursor` is the subscriber's position after it.
fn encode(delivery: &Delivery, cursor: Cursor) -> Bytes {
    match delivery {
        Delivery::Messages(messages) if messages.len() == 1 => messages[0].sse_frame(),
        Delivery::Messages(messages) => {
            let mut out =
                BytesMut::with_capacity(messages.iter().map(|m| m.sse_frame().len()).sum());
            for message in messages {
                out.extend_from_slice(&message.sse_frame());
            }
            out.freeze()
        }
        Delivery::Presence(presence) => frame(cursor, EventKind::Presence, presence),
        Delivery::Gap(gap) => frame(cursor, EventKind::Gap, gap),
        Delivery::Partial(partial) => frame(cursor, EventKind::Partial, &partial.partial),
        Delivery::Shutdown(notice) => frame(cursor, EventKind::System, notice),
    }
}

fn frame(cursor: Cursor, kind: EventKind, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).expect("event data always serializes");
    Bytes::from(sse::event(Some(cursor), kind, &json))
}
