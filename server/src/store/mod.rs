//! The only place messages live: an in-memory map of bounded streams.
//!
//! Data flows one way: a handler validates input (with the rules from
//! `malten-shared`), calls the store, and the store appends to a stream's
//! ring and wakes that stream's subscribers. Nothing here touches the disk.
//!
//! Bounds enforced here: the number of streams, the total bytes of retained
//! messages (a post that would exceed the budget is refused, so memory never
//! grows past it), 1024 messages per stream and the per-stream TTL.
//!
//! This is the first backend behind [`crate::engine::Engine`]; nothing
//! outside `engine/` names it (tests aside).
//!
//! # Layout
//! - this file: the map of streams, creating, posting, subscribing.
//! - `read`: pages, by id, recent context, the public listing.
//! - `budget`: TTL range, stream count, the memory budget.
//! - `stream`: one stream, its lock, its signal and partials.
//! - [`ring`](Ring): the bounded ring of messages.
//! - `subscription`: a reader, and subscribing/unsubscribing.
//! - `pacing`: answering a post once waiting subscribers have taken it.
//! - `direct`: posters writing to waiting subscribers' sockets themselves;
//!   `walk`: the rounds in which they do.
//! - `sweep`: the expiry task; `error`: [`StoreError`]; `ids`: random ids.

mod budget;
mod direct;
mod error;
mod ids;
mod pacing;
mod read;
mod ring;
mod stream;
mod subscription;
mod sweep;
mod walk;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use malten_shared::crypto::EncryptionParams;
use malten_shared::wire::{Body, Message, MessageKind, Partial, StreamInfo};
use malten_shared::{check_message_text, StreamName};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::{Metrics, Snapshot};

pub use budget::{Gauges, STREAM_OVERHEAD_BYTES};
pub use direct::{DirectSink, DirectWriter, Unfinished, Written};
pub use error::StoreError;
pub use ids::{random_id, random_stream_name};
pub use pacing::HandOut;
pub use ring::{After, Positioned, Ring};
pub use stream::{unix_nanos, PartialEvent, Stored, Stream};
pub use subscription::Subscription;
pub use sweep::spawn_sweeper;

/// The store's bounds, taken from the configuration.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    pub default_ttl: Duration,
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    pub max_streams: usize,
    pub max_memory_bytes: usize,
    /// Longest a post waits for its hand-out before it is answered anyway
    /// (`pacing`); zero answers at once.
    pub pace_max_wait: Duration,
    /// How many posts a stream's publishers may be ahead of its waiting
    /// subscribers (`pacing`); at least 1.
    pub pace_window: u64,
}

/// A stored post: the message, and its hand-out to wait for.
#[derive(Debug)]
pub struct Posted {
    pub message: Message,
    pub hand_out: HandOut,
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
                pace_max_wait: Duration::from_millis(250),
                pace_window: 1,
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

    /// What the `/metrics` gauges show.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            streams: self.stream_count(),
            messages: self.gauges.messages.load(Ordering::Relaxed),
            bytes: self.gauges.bytes.load(Ordering::Relaxed),
            subscribers: self.gauges.subscribers.load(Ordering::Relaxed),
        }
    }

    /// Explicitly creates a stream. A missing name gets a random 128-bit id;
    /// `encryption` makes it an end-to-end encrypted stream.
    pub fn create(
        &self,
        name: Option<StreamName>,
        private: bool,
        ttl_secs: Option<u64>,
        encryption: Option<EncryptionParams>,
        pipe: bool,
    ) -> Result<StreamInfo, StoreError> {
        let ttl = self.limits.ttl(ttl_secs)?;
        if let Some(params) = &encryption {
            params.validate()?;
        }
        let name = name.unwrap_or_else(random_stream_name);
        let mut map = self.write_map();
        if map.contains_key(&name) {
            return Err(StoreError::StreamExists(name));
        }
        self.check_stream_capacity(&map)?;
        self.reserve_stream()?;
        let mut stream = Stream::new(name.clone(), private, ttl, encryption);
        stream.pipe = pipe;
        let stream = Arc::new(stream);
        map.insert(name, Arc::clone(&stream));
        drop(map);
        Ok(stream.info())
    }

    pub fn get(&self, name: &StreamName) -> Option<Arc<Stream>> {
        self.read_map().get(name).cloned()
    }

    /// The stream, created unlisted with the default TTL if it does not exist
    /// (a subscription to a new name creates it, counted in `--max-streams`
    /// and the memory budget like any other stream).
    pub(super) fn get_or_create(&self, name: &StreamName) -> Result<Arc<Stream>, StoreError> {
        if let Some(stream) = self.get(name) {
            return Ok(stream);
        }
        let mut map = self.write_map();
        if let Some(stream) = map.get(name) {
            return Ok(Arc::clone(stream));
        }
        self.check_stream_capacity(&map)?;
        self.reserve_stream()?;
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
    /// exist is created, plain and unlisted, but only once the message is
    /// stored in it: a refused post (too long, memory full, too many
    /// streams) leaves no stream behind.
    pub fn post(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Posted, StoreError> {
        let mut raw = raw;
        loop {
            let Some(stream) = self.get(name) else {
                match self.post_creating(name, raw, kind)? {
                    Ok(posted) => return Ok(posted),
                    // Someone else created it meanwhile: post to theirs.
                    Err(again) => {
                        raw = again;
                        continue;
                    }
                }
            };
            let body = stream.admit(raw)?;
            let mut state = stream.lock();
            if state.removed {
                // The sweeper removed this stream between lookup and lock.
                raw = body.into_string();
                continue;
            }
            return self.append(&stream, &mut state, body, kind);
        }
    }

    /// Creates `name` with `raw` as its first message, both or neither.
    /// `Ok(Err(raw))` hands the text back when the name was taken meanwhile.
    fn post_creating(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Result<Posted, String>, StoreError> {
        check_message_text(&raw)?;
        let mut map = self.write_map();
        if map.contains_key(name) {
            return Ok(Err(raw));
        }
        self.check_stream_capacity(&map)?;
        let stream = Arc::new(Stream::new(
            name.clone(),
            true,
            self.limits.default_ttl,
            None,
        ));
        let body = stream.admit(raw)?;
        self.reserve_stream()?;
        // Map, then stream: the opposite of the sweeper's order, which is
        // safe only because no one else can reach this stream yet.
        let mut state = stream.lock();
        let appended = self.append(&stream, &mut state, body, kind);
        drop(state);
        let posted = appended.inspect_err(|_| self.release_stream())?;
        map.insert(name.clone(), stream);
        Ok(Ok(posted))
    }

    /// Stores `body` as the stream's next message, within the memory budget.
    fn append(
        &self,
        stream: &Arc<Stream>,
        state: &mut stream::State,
        body: Body,
        kind: MessageKind,
    ) -> Result<Posted, StoreError> {
        let previous_newest = state.newest;
        let stored = Arc::new(stream.next_message(state, body, kind));
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
        let direct = (!state.sinks.is_empty())
            .then(|| walk::DirectHandOut::new(message.created, Arc::clone(&self.metrics)));
        if state.ring.push(stored).is_some() {
            self.metrics.drops.inc();
        } else {
            self.gauges.messages.fetch_add(1, Ordering::Relaxed);
        }
        state.updated = message.created;
        state.last_activity = Instant::now();
        let post = state.waiting.posted();
        stream.notify(state);
        self.metrics.posts.inc();
        Ok(Posted {
            message,
            hand_out: HandOut::new(
                Arc::clone(stream),
                post.saturating_sub(self.limits.pace_window.max(1) - 1),
                direct,
            ),
        })
    }

    /// Writes a post to the sockets lent by waiting subscribers (`direct`),
    /// then waits for its hand-out to the other subscribers that were
    /// waiting for news (`pacing`), at most `--pace-max-wait-ms`; a post
    /// answered without it is counted in `malten_pace_timeouts`.
    pub async fn hand_out(&self, mut hand_out: HandOut) {
        if self.limits.pace_max_wait.is_zero() {
            // Not paced: answered at once, the writing (if any sink is
            // attached) done aside.
            if hand_out.writes_directly() {
                tokio::spawn(async move { hand_out.deliver().await });
            }
            return;
        }
        hand_out.deliver().await;
        if !hand_out.wait(self.limits.pace_max_wait).await {
            self.metrics.pace_timeouts.inc();
        }
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

    /// Whether [`Store::begin_shutdown`] has been called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
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

#[cfg(test)]
mod tests;
