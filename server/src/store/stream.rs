//! One stream: its ring of messages, its cursor clock, its observers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use malten_shared::crypto::check_envelope;
use malten_shared::crypto::EncryptionParams;
use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::sse;
use malten_shared::wire::{Body, Cursor, EventKind, Message, MessageKind, Partial, StreamInfo};
use malten_shared::{check_message_text, StreamName};
use tokio::sync::{broadcast, watch, Notify};
use tokio::time::Instant;

use super::direct::Sinks;
use super::pacing::Waiting;
use super::ring::{Positioned, Ring};

/// Partial events buffered per subscriber. A subscriber further behind than
/// this skips partials (they are previews; the stored reply still arrives).
const PARTIALS_BUFFER: usize = 256;

/// A partial event, stamped with the stream's newest cursor when it was
/// sent, so subscribers can deliver it after the messages that preceded it.
#[derive(Debug)]
pub struct PartialEvent {
    pub after: Cursor,
    pub partial: Partial,
}

/// Fixed per-message cost charged to the memory budget on top of the encoded
/// bytes: the ring slot, the `Arc` and bookkeeping.
const MESSAGE_OVERHEAD_BYTES: usize = 96;

/// A message as held in memory: encoded once, shared by every reader.
#[derive(Debug)]
pub struct Stored {
    pub message: Message,
    /// The complete SSE frame (`id:`, `event:`, `data:` lines). Subscribers
    /// write these bytes as they are, so fan-out to N readers costs N
    /// reference-count increments rather than N serializations.
    sse_frame: Bytes,
    /// Where the JSON of the message starts and ends inside `sse_frame`.
    json_range: (usize, usize),
    pub stored_at: Instant,
    /// In a pipe, how many subscriptions this message was delivered to: at
    /// two, both ends have it and it is dropped.
    pub(super) reads: std::sync::atomic::AtomicU8,
}

impl Stored {
    /// Encodes `message` once. Backends fed from the network build one per
    /// message received and share it among the node's subscribers.
    pub fn new(message: Message, stored_at: Instant) -> Self {
        let json = serde_json::to_string(&message).expect("a message always serializes");
        let mut frame = String::new();
        let at = sse::write_event(&mut frame, Some(message.created), EventKind::Message, &json)
            .expect("JSON is one line");
        Self {
            json_range: (at.start, at.end),
            sse_frame: Bytes::from(frame),
            message,
            stored_at,
            reads: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// The message as JSON, without copying.
    pub fn json(&self) -> Bytes {
        self.sse_frame.slice(self.json_range.0..self.json_range.1)
    }

    /// The ready-to-send SSE frame.
    pub fn sse_frame(&self) -> Bytes {
        self.sse_frame.clone()
    }

    /// The ready-to-send SSE frame, borrowed (for a vectored write).
    pub fn frame_bytes(&self) -> &[u8] {
        &self.sse_frame
    }

    /// Bytes charged against the server's memory budget.
    pub fn cost(&self) -> usize {
        self.sse_frame.len() + MESSAGE_OVERHEAD_BYTES
    }
}

impl Positioned for Arc<Stored> {
    fn cursor(&self) -> Cursor {
        self.message.created
    }
}

/// What subscribers watch: cheap to copy, coalescing (a reader that wakes
/// late sees only the newest value, which is all it needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub newest: Cursor,
    pub observers: usize,
}

/// The mutable part of a stream, behind its mutex. The lock is never held
/// across an `.await`.
#[derive(Debug)]
pub(super) struct State {
    pub ring: Ring<Arc<Stored>>,
    /// The newest cursor ever handed out; the next one is strictly greater.
    pub newest: Cursor,
    pub updated: Cursor,
    pub last_activity: Instant,
    pub observers: usize,
    /// Set, under this lock, when the sweeper removes the stream from the
    /// store, so a writer or subscriber holding a stale handle retries.
    pub removed: bool,
    /// A pipe whose two ends have been connected at once: it is removed
    /// when the last of them leaves.
    pub paired: bool,
    /// The posts and the parked subscriptions, to pace posts to delivery.
    pub waiting: Waiting,
    /// The sockets posters write to directly (`direct`).
    pub sinks: Sinks,
}

#[derive(Debug)]
pub struct Stream {
    pub name: StreamName,
    /// Unlisted when true.
    pub private: bool,
    pub ttl: Duration,
    /// Set for an end-to-end encrypted stream: its posts must be envelopes.
    /// The server keeps these public parameters for clients and never sees
    /// a key.
    pub encryption: Option<EncryptionParams>,
    /// A secure pipe: see [`crate::engine::NewStream::pipe`].
    pub pipe: bool,
    state: Mutex<State>,
    signal: watch::Sender<Signal>,
    /// The side channel of ephemeral `partial` events (LLM reply previews).
    /// Unlike messages they are not in the ring: a lagging receiver loses
    /// some, which is acceptable only because they are never the record.
    partials: broadcast::Sender<Arc<PartialEvent>>,
    /// How many partials were sent, counted under the lock before each is
    /// sent: a poster does not write to a sink lent before the newest one
    /// (`direct`), so no message overtakes a partial sent before it.
    partials_sent: AtomicU64,
    /// The observer count alone, for subscriptions whose sink is lent: they
    /// must hear of presence changes but not be woken by every post.
    presence: watch::Sender<usize>,
    /// Woken when a round of direct deliveries begins (`direct`).
    pub(super) round_started: Notify,
    /// Woken when the oldest parked subscriptions have all woken, so posters
    /// waiting for their hand-out look again (`pacing`).
    pub(super) handed_out: Notify,
}

impl Stream {
    pub(super) fn new(
        name: StreamName,
        private: bool,
        ttl: Duration,
        encryption: Option<EncryptionParams>,
    ) -> Self {
        let now_ns = unix_nanos();
        let (signal, _) = watch::channel(Signal {
            newest: now_ns,
            observers: 0,
        });
        Self {
            name,
            private,
            ttl,
            encryption,
            pipe: false,
            state: Mutex::new(State {
                ring: Ring::new(MAX_MESSAGES_PER_STREAM),
                newest: now_ns,
                updated: now_ns,
                last_activity: Instant::now(),
                observers: 0,
                removed: false,
                paired: false,
                waiting: Waiting::default(),
                sinks: Sinks::default(),
            }),
            signal,
            partials: broadcast::channel(PARTIALS_BUFFER).0,
            partials_sent: AtomicU64::new(0),
            presence: watch::channel(0).0,
            round_started: Notify::new(),
            handed_out: Notify::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the ring half-updated
        // (every mutation is a single push or pop), so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Builds the next message in this stream; the caller appends it.
    pub(super) fn next_message(&self, state: &mut State, body: Body, kind: MessageKind) -> Stored {
        let created = Cursor(unix_nanos().0.max(state.newest.0 + 1));
        state.newest = created;
        let message = Message {
            id: super::random_id(),
            stream: self.name.clone(),
            body,
            kind,
            created,
        };
        Stored::new(message, Instant::now())
    }

    /// Tells subscribers what changed. Call after releasing nothing: the
    /// watch channel has its own lock and never blocks on readers.
    pub(super) fn notify(&self, state: &State) {
        let signal = Signal {
            newest: state.newest,
            observers: state.observers,
        };
        let mut observers_changed = false;
        self.signal.send_if_modified(|current| {
            let changed = *current != signal;
            observers_changed = current.observers != signal.observers;
            *current = signal;
            changed
        });
        // Only when the count moved: a post alone leaves it be, and costs
        // no second channel's lock.
        if observers_changed {
            self.presence.send_replace(state.observers);
        }
    }

    pub(super) fn watch(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    pub(super) fn watch_presence(&self) -> watch::Receiver<usize> {
        self.presence.subscribe()
    }

    /// How many partials this stream has sent.
    pub(super) fn partials_sent(&self) -> u64 {
        self.partials_sent.load(Ordering::Acquire)
    }

    pub(super) fn subscribe_partials(&self) -> broadcast::Receiver<Arc<PartialEvent>> {
        self.partials.subscribe()
    }

    /// Sends a partial to the current subscribers; with none, it is dropped.
    /// The stamp is taken under the stream's lock, so no post can slip
    /// between reading it and sending.
    pub(super) fn publish_partial(&self, partial: Partial) {
        let state = self.lock();
        let event = PartialEvent {
            after: state.newest,
            partial,
        };
        self.partials_sent.fetch_add(1, Ordering::AcqRel);
        let _ = self.partials.send(Arc::new(event));
        drop(state);
    }

    pub fn info(&self) -> StreamInfo {
        let state = self.lock();
        StreamInfo {
            stream: self.name.clone(),
            private: self.private,
            ttl: self.ttl.as_secs(),
            updated: state.updated,
            messages: state.ring.len(),
            observers: state.observers,
            encrypted: self.encryption.is_some(),
            encryption: self.encryption.clone(),
            pipe: self.pipe,
        }
    }

    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// Checks a posted string against this stream's kind: an envelope's
    /// structure for an encrypted stream, the text rule for a plain one.
    pub(super) fn admit(&self, raw: String) -> Result<Body, super::StoreError> {
        if self.is_encrypted() {
            check_envelope(&raw)?;
            Ok(Body::Envelope(raw))
        } else {
            check_message_text(&raw)?;
            Ok(Body::Text(raw))
        }
    }
}

/// Wall-clock unix nanoseconds, the unit of `created` and of cursors.
pub fn unix_nanos() -> Cursor {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Cursor(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}
