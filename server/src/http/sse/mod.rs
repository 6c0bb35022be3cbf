//! The Server-Sent Events transport.
//!
//! The body is written by hand rather than with `axum::response::Sse`
//! because message frames are encoded once, when stored, and shared by every
//! subscriber: a delivery is a reference-count increment, not a
//! serialization. The frames themselves are written by
//! `malten_shared::sse`, the one place that knows the format.
//!
//! # Two ways out
//! A subscriber's events leave by one of two paths, with the same bytes:
//! - **Straight to the socket** ([`socket`]): when `GET /events` is the
//!   first request of a connection, the accept loop (`serve/takeover.rs`)
//!   read its head itself, and once the route has answered it takes the
//!   [`Connection`] out of the response's [`Takeover`] and writes the
//!   frames to the socket with vectored writes. hyper is then no longer
//!   involved: no read and write buffers (8 KiB each) per idle
//!   subscriber, no per-frame body polling through hyper's dispatcher
//!   (issue 17).
//! - **Through hyper**, as the response body: for a subscription on a
//!   connection hyper already serves (a browser reusing a keep-alive
//!   connection, an HTTP/1.0 client, a head split over several packets).
//!
//! Whichever path claims the [`Connection`] first gets it; the other finds
//! the slot empty.

pub(crate) mod socket;

use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};
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

use crate::engine::{Delivery, Stored, Subscription};
use crate::limits::ConnectionPermit;
use crate::store::DirectSink;

/// Asks browsers to reconnect after 2 s instead of their default 3 s.
static PREAMBLE: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(sse::retry(2000)));

/// One subscriber's live state, whichever path writes it.
pub(crate) struct Connection {
    subscription: Subscription,
    /// Ticks every half keep-alive period; a comment goes out on a tick only
    /// if nothing else did for half a period, so the line is never silent
    /// for a whole period. (Checking a timestamp on a tick costs less than
    /// resetting a timer after every frame.)
    keepalive: Interval,
    quiet_limit: Duration,
    last_sent: Instant,
    /// The socket lent to posters while waiting, on the socket path.
    direct: Option<Arc<DirectSink>>,
    _permit: ConnectionPermit,
}

/// The next thing to write: one frame, or several messages' frames, which
/// the socket path writes from the shared buffers without copying them.
pub(crate) enum Chunk {
    One(Bytes),
    Messages(Vec<Arc<Stored>>),
}

impl Chunk {
    /// The frames, borrowed from the buffers they live in.
    fn frames(&self) -> impl Iterator<Item = &[u8]> {
        let (one, messages) = match self {
            Chunk::One(bytes) => (Some(&bytes[..]), &[][..]),
            Chunk::Messages(messages) => (None, &messages[..]),
        };
        one.into_iter()
            .chain(messages.iter().map(|message| message.frame_bytes()))
    }

    /// The chunk as one buffer (copied when it is several messages), for
    /// hyper's body.
    fn into_bytes(self) -> Bytes {
        match self {
            Chunk::One(bytes) => bytes,
            Chunk::Messages(messages) if messages.len() == 1 => messages[0].sse_frame(),
            Chunk::Messages(_) => {
                let mut out = BytesMut::with_capacity(self.frames().map(<[u8]>::len).sum());
                for frame in self.frames() {
                    out.extend_from_slice(frame);
                }
                out.freeze()
            }
        }
    }
}

impl Connection {
    /// Lets posters write straight to `sink` while the subscription waits
    /// (`store/direct.rs`); the caller then writes only what
    /// [`Connection::next_chunk`] returns, skipping
    /// [`DirectSink::take_resume_at`] bytes of it.
    pub(crate) fn attach(&mut self, sink: Arc<DirectSink>) {
        if self.subscription.attach(Arc::clone(&sink)) {
            self.direct = Some(sink);
        }
    }

    /// Waits for the next delivery or keep-alive; `None` once the
    /// subscription has ended (after the shutdown notice). With a sink
    /// attached, it is withdrawn from posters before this returns.
    pub(crate) async fn next_chunk(&mut self) -> Option<Chunk> {
        let chunk = loop {
            tokio::select! {
                delivery = self.subscription.next() => {
                    break encode(delivery?, self.subscription.cursor());
                }
                _ = self.keepalive.tick() => {
                    // The subscription may have been waiting with its sink
                    // lent: take it back before writing, and finish what a
                    // poster left half-written first.
                    if let Some(messages) = self.subscription.withdraw() {
                        break Chunk::Messages(messages);
                    }
                    if self
                        .direct
                        .as_ref()
                        .is_some_and(|sink| sink.wrote_since_last_asked())
                    {
                        self.last_sent = Instant::now();
                    }
                    if self.last_sent.elapsed() >= self.quiet_limit {
                        break Chunk::One(Bytes::from_static(sse::KEEPALIVE.as_bytes()));
                    }
                }
            }
        };
        self.last_sent = Instant::now();
        Some(chunk)
    }
}

/// The slot through which the accept loop may take a subscriber's
/// [`Connection`] out of its response (see the module doc). It rides in the
/// response's extensions, which is why it is `Clone`.
#[derive(Clone)]
pub(crate) struct Takeover(Arc<Mutex<Option<Connection>>>);

impl Takeover {
    /// The connection, unless the other path has it already.
    pub(crate) fn claim(&self) -> Option<Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// hyper's body: unclaimed until first polled, then the connection itself.
// Unboxed on purpose: the body is one value per connection that is
// `Unclaimed` only until its first poll, so the smaller variant saves
// nothing, and boxing would cost an allocation per subscriber.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Unclaimed(Takeover),
    Streaming(Connection),
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
        direct: None,
        _permit: permit,
    };
    let takeover = Takeover(Arc::new(Mutex::new(Some(connection))));
    let body = stream::unfold(Stage::Unclaimed(takeover.clone()), |stage| async move {
        let mut connection = match stage {
            Stage::Unclaimed(takeover) => {
                let connection = takeover.claim()?;
                return Some((
                    Ok::<_, Infallible>(PREAMBLE.clone()),
                    Stage::Streaming(connection),
                ));
            }
            Stage::Streaming(connection) => connection,
        };
        let chunk = connection.next_chunk().await?.into_bytes();
        Some((Ok(chunk), Stage::Streaming(connection)))
    });
    let mut response = event_stream_response(Body::from_stream(body));
    response.extensions_mut().insert(takeover);
    response
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
fn encode(delivery: Delivery, cursor: Cursor) -> Chunk {
    match delivery {
        Delivery::Messages(messages) => Chunk::Messages(messages),
        Delivery::Presence(presence) => frame(cursor, EventKind::Presence, &presence),
        Delivery::Gap(gap) => frame(cursor, EventKind::Gap, &gap),
        Delivery::Partial(partial) => frame(cursor, EventKind::Partial, &partial.partial),
        Delivery::Shutdown(notice) => frame(cursor, EventKind::System, &notice),
    }
}

fn frame(cursor: Cursor, kind: EventKind, data: &impl Serialize) -> Chunk {
    let json = serde_json::to_string(data).expect("event data always serializes");
    Chunk::One(Bytes::from(sse::event(Some(cursor), kind, &json)))
}
