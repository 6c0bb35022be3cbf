//! The only place messages live: an in-memory map of bounded streams.
//!
//! Data flows one way: a handler validates input (with the rules from
//! `malten-shared`), calls the store, and the store appends to a stream's
//! ring and wakes that stream's subscribers. Nothing here touches the disk.
//!
//! Bounds enforced here: the number of streams, the total bytes of retained
//! messages (a post that would exceed the budget is refused, so memory never
//! grows past it), 1024 messages per stream and the per-stream TTL.

mod ring;
mod stream;
mod subscription;
mod sweep;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use bytes::Bytes;
use malten_shared::crypto::{EncryptionParams, EnvelopeError, ParamsError};
use malten_shared::limits::GENERATED_ID_BYTES;
use malten_shared::wire::{Cursor, Message, MessageKind, Partial, StreamInfo};
use malten_shared::{check_message_text, MessageTextError, StreamName};
use rand::RngCore;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::Metrics;

pub use ring::{After, Positioned, Ring};
pub use stream::{unix_nanos, PartialEvent, Stored, Stream};
pub use subscription::{Delivery, Subscription};
pub use sweep::spawn_sweeper;

/// The store's bounds, taken from the configuration.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    pub default_ttl: Duration,
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    pub max_streams: usize,
    pub max_memory_bytes: usize,
}

/// Why the store refused an operation. A refused operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("stream {0} already exists")]
    StreamExists(StreamName),
    #[error("ttl must be between {min} and {max} seconds")]
    TtlOutOfRange { min: u64, max: u64 },
    #[error("the server holds its maximum of {0} streams; try again later")]
    TooManyStreams(usize),
    #[error("the server's message memory is full; try again later")]
    MemoryFull,
    #[error(transparent)]
    InvalidText(#[from] MessageTextError),
    #[error("no message with that id in this stream")]
    MessageNotFound,
    #[error(
        "this stream is end-to-end encrypted and accepts only envelopes (docs/crypto.md): {0}"
    )]
    NotAnEnvelope(#[from] EnvelopeError),
    #[error("invalid encryption parameters: {0}")]
    InvalidEncryption(#[from] ParamsError),
}

impl StoreError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::StreamExists(_) => StatusCode::CONFLICT,
            Self::TtlOutOfRange { .. }
            | Self::InvalidText(MessageTextError::Blank)
            | Self::NotAnEnvelope(_)
            | Self::InvalidEncryption(_) => StatusCode::BAD_REQUEST,
            Self::InvalidText(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyStreams(_) | Self::MemoryFull => StatusCode::SERVICE_UNAVAILABLE,
            Self::MessageNotFound => StatusCode::NOT_FOUND,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::StreamExists(_) => "stream_exists",
            Self::TtlOutOfRange { .. } => "invalid_ttl",
            Self::TooManyStreams(_) => "too_many_streams",
            Self::MemoryFull => "memory_full",
            Self::InvalidText(MessageTextError::Blank) => "empty_message",
            Self::InvalidText(_) => "message_too_long",
            Self::MessageNotFound => "message_not_found",
            Self::NotAnEnvelope(_) => "not_an_envelope",
            Self::InvalidEncryption(_) => "invalid_encryption",
        }
    }
}

/// Which way `GET /messages` pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Messages with `created > after`, oldest first.
    Forward { after: Cursor },
    /// Messages with `created < before`, newest first; `None` is "from the newest".
    Backward { before: Option<Cursor> },
}

/// Counts the store keeps current for `/metrics` and capacity checks.
#[derive(Debug, Default)]
pub struct Gauges {
    pub messages: AtomicUsize,
    pub bytes: AtomicUsize,
    pub subscribers: AtomicUsize,
}

#[derive(Debug)]
pub struct Store {
    streams: RwLock<HashMap<StreamName, Arc<Stream>>>,
    limits: StoreLimits,
    gauges: Gauges,
    metrics: Arc<Metrics>,
    /// Flipped once on shutdown; every subscription watches it.
    shutdown: watch::Sender<bool>,
}

impl Store {
    pub fn new(limits: StoreLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            streams: RwLock::default(),
            limits,
            gauges: Gauges::default(),
            metrics,
            shutdown: watch::channel(false).0,
        }
    }

    /// A store with the product's defaults and generous bounds, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::new(
            StoreLimits {
                default_ttl: Duration::from_secs(1024),
                min_ttl: Duration::from_secs(10),
                max_ttl: Duration::from_secs(86_400),
                max_streams: 100,
                max_memory_bytes: 64 * 1024 * 1024,
            },
            Arc::new(Metrics::new()),
        ))
    }

    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    pub fn gauges(&self) -> &Gauges {
        &self.gauges
    }

    pub fn stream_count(&self) -> usize {
        self.read_map().len()
    }

    /// Explicitly creates a stream. A missing name gets a random 128-bit id;
    /// `encryption` makes it an end-to-end encrypted stream.
    pub fn create(
        &self,
        name: Option<StreamName>,
        private: bool,
        ttl_secs: Option<u64>,
        encryption: Option<EncryptionParams>,
    ) -> Result<StreamInfo, StoreError> {
        let ttl = self.ttl(ttl_secs)?;
        if let Some(params) = &encryption {
            params.validate()?;
        }
        let name = name.unwrap_or_else(random_stream_name);
        let mut map = self.write_map();
        if map.contains_key(&name) {
            return Err(StoreError::StreamExists(name));
        }
        self.check_stream_capacity(&map)?;
        let stream = Arc::new(Stream::new(name.clone(), private, ttl, encryption));
        map.insert(name, Arc::clone(&stream));
        drop(map);
        Ok(stream.info())
    }

    fn ttl(&self, ttl_secs: Option<u64>) -> Result<Duration, StoreError> {
        let Some(secs) = ttl_secs else {
            return Ok(self.limits.default_ttl);
        };
        let ttl = Duration::from_secs(secs);
        if ttl < self.limits.min_ttl || ttl > self.limits.max_ttl {
            return Err(StoreError::TtlOutOfRange {
                min: self.limits.min_ttl.as_secs(),
                max: self.limits.max_ttl.as_secs(),
            });
        }
        Ok(ttl)
    }

    fn check_stream_capacity(
        &self,
        map: &HashMap<StreamName, Arc<Stream>>,
    ) -> Result<(), StoreError> {
        if map.len() >= self.limits.max_streams {
            return Err(StoreError::TooManyStreams(self.limits.max_streams));
        }
        Ok(())
    }

    pub fn get(&self, name: &StreamName) -> Option<Arc<Stream>> {
        self.read_map().get(name).cloned()
    }

    /// The stream, created unlisted with the default TTL if it does not exist:
    /// the first post or subscription creates a stream implicitly.
    fn get_or_create(&self, name: &StreamName) -> Result<Arc<Stream>, StoreError> {
        if let Some(stream) = self.get(name) {
            return Ok(stream);
        }
        let mut map = self.write_map();
        if let Some(stream) = map.get(name) {
            return Ok(Arc::clone(stream));
        }
        self.check_stream_capacity(&map)?;
        let stream = Arc::new(Stream::new(
            name.clone(),
            true,
            self.limits.default_ttl,
            None,
        ));
        map.insert(name.clone(), Arc::clone(&stream));
        Ok(stream)
    }

    /// Appends a message and wakes the stream's subscribers.
    ///
    /// `raw` must be a text within the text rule for a plain stream, and a
    /// well-formed envelope for an encrypted one. A stream that does not
    /// exist is created, plain and unlisted, but only once the text passed.
    pub fn post(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Message, StoreError> {
        let mut raw = raw;
        loop {
            let stream = match self.get(name) {
                Some(stream) => stream,
                None => {
                    check_message_text(&raw)?;
                    self.get_or_create(name)?
                }
            };
            let body = stream.admit(raw)?;
            let mut state = stream.lock();
            if state.removed {
                // The sweeper removed this stream between lookup and lock.
                raw = body.into_string();
                continue;
            }
            let previous_newest = state.newest;
            let stored = Arc::new(stream.next_message(&mut state, body, kind));
            let evicted_cost = if state.ring.is_full() {
                state.ring.oldest().map_or(0, |oldest| oldest.cost())
            } else {
                0
            };
            if let Err(err) = self.reserve_bytes(stored.cost(), evicted_cost) {
                // Take back the cursor we handed out: nothing observable changed.
                state.newest = previous_newest;
                return Err(err);
            }
            let message = stored.message.clone();
            if state.ring.push(stored).is_some() {
                self.metrics.drops.inc();
            } else {
                self.gauges.messages.fetch_add(1, Ordering::Relaxed);
            }
            state.updated = message.created;
            state.last_activity = Instant::now();
            stream.notify(&state);
            self.metrics.posts.inc();
            return Ok(message);
        }
    }

    /// Charges `cost` bytes to the budget, crediting `freed` bytes that the
    /// same operation releases; refuses rather than exceed the budget.
    fn reserve_bytes(&self, cost: usize, freed: usize) -> Result<(), StoreError> {
        let budget = self.limits.max_memory_bytes;
        self.gauges
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = (used + cost).saturating_sub(freed);
                (next <= budget).then_some(next)
            })
            .map(drop)
            .map_err(|_| StoreError::MemoryFull)
    }

    /// Releases the memory of messages that left a ring.
    fn release(&self, dropped: &[Arc<Stored>]) {
        if dropped.is_empty() {
            return;
        }
        let bytes: usize = dropped.iter().map(|stored| stored.cost()).sum();
        self.gauges.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.gauges
            .messages
            .fetch_sub(dropped.len(), Ordering::Relaxed);
        self.metrics.drops.inc_by(dropped.len() as u64);
    }

    /// A page of messages as a JSON array. An unknown stream is an empty page.
    pub fn page(&self, name: &StreamName, page: Page, limit: usize) -> Bytes {
        let Some(stream) = self.get(name) else {
            return Bytes::from_static(b"[]");
        };
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let items = match page {
            Page::Forward { after } => state.ring.after(after, limit).items,
            Page::Backward { before } => state.ring.before(before, limit),
        };
        json_array(items.into_iter().map(|stored| stored.json()))
    }

    /// One message by id, as a one-element JSON array.
    pub fn by_id(&self, name: &StreamName, id: &str) -> Result<Bytes, StoreError> {
        let stream = self.get(name).ok_or(StoreError::MessageNotFound)?;
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let found = state.ring.iter().find(|stored| stored.message.id == id);
        found
            .map(|stored| json_array([stored.json()]))
            .ok_or(StoreError::MessageNotFound)
    }

    /// The newest messages of a stream, oldest first, as many as fit in
    /// `max_chars` characters of text (a message that does not fit ends the
    /// selection, so the result is always a contiguous recent run).
    pub fn recent(&self, name: &StreamName, max_chars: usize) -> Vec<Message> {
        let Some(stream) = self.get(name) else {
            return Vec::new();
        };
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let mut budget = max_chars;
        let mut newest_first = Vec::new();
        for stored in state.ring.iter().rev() {
            // Envelopes are not text the server could give anyone.
            let Some(text) = stored.message.body.text() else {
                break;
            };
            let chars = text.chars().count();
            if chars > budget {
                break;
            }
            budget -= chars;
            newest_first.push(stored.message.clone());
        }
        drop(state);
        newest_first.reverse();
        newest_first
    }

    /// Sends an ephemeral `partial` event to the subscribers of an existing
    /// stream. Nothing is stored; without subscribers it goes nowhere.
    pub fn publish_partial(&self, partial: Partial) {
        if let Some(stream) = self.get(&partial.stream) {
            stream.publish_partial(partial);
        }
    }

    /// Whether the stream is end-to-end encrypted, in which case the server
    /// must not store or broadcast plaintext derived from it (see
    /// `llm::command`).
    pub fn stream_is_encrypted(&self, name: &StreamName) -> bool {
        self.get(name).is_some_and(|stream| stream.is_encrypted())
    }

    /// The public streams, most recently active first.
    pub fn list_public(&self) -> Vec<StreamInfo> {
        let streams: Vec<Arc<Stream>> = self
            .read_map()
            .values()
            .filter(|stream| !stream.private)
            .cloned()
            .collect();
        let mut infos: Vec<StreamInfo> = streams.iter().map(|stream| stream.info()).collect();
        infos.sort_by(|a, b| {
            b.updated
                .cmp(&a.updated)
                .then_with(|| a.stream.cmp(&b.stream))
        });
        infos
    }

    /// Subscribes to a stream, creating it unlisted if needed. `after` resumes
    /// from a cursor; `None` starts with the next new message.
    pub fn subscribe(
        self: &Arc<Self>,
        name: &StreamName,
        after: Option<Cursor>,
    ) -> Result<Subscription, StoreError> {
        loop {
            let stream = self.get_or_create(name)?;
            let mut state = stream.lock();
            if state.removed {
                continue;
            }
            state.observers += 1;
            let cursor = after.unwrap_or(state.newest);
            stream.notify(&state);
            drop(state);
            self.gauges.subscribers.fetch_add(1, Ordering::Relaxed);
            return Ok(Subscription::new(Arc::clone(self), stream, cursor));
        }
    }

    pub(crate) fn unsubscribed(&self, stream: &Stream) {
        let mut state = stream.lock();
        state.observers -= 1;
        stream.notify(&state);
        drop(state);
        self.gauges.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Drops messages older than the stream's TTL.
    fn expire_old(&self, stream: &Stream, state: &mut stream::State) {
        let now = Instant::now();
        let dropped = state
            .ring
            .drop_while(|stored| stored.stored_at + stream.ttl <= now);
        self.release(&dropped);
    }

    /// Tells every subscriber the server is going away.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that turns `true` when [`Store::begin_shutdown`] is called:
    /// every long-lived connection (subscriptions, `/ws` sessions) uses it to
    /// say goodbye before the server stops.
    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<StreamName, Arc<Stream>>> {
        self.streams
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<StreamName, Arc<Stream>>> {
        self.streams
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A fresh random id: 128 bits, base64url without padding (22 characters).
pub fn random_id() -> String {
    let mut bytes = [0u8; GENERATED_ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A random, unguessable stream name; base64url is within the name alphabet.
pub fn random_stream_name() -> StreamName {
    StreamName::parse(&random_id()).expect("base64url is a valid stream name")
}

fn json_array(items: impl IntoIterator<Item = Bytes>) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item);
    }
    out.push(b']');
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
