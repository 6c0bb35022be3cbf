//! The engine seam: the one interface the HTTP layer and `llm/` use to
//! create, read, post to and subscribe to streams, whatever holds them.
//!
//! # Why an enum over backends, not a trait
//! [`Engine`] is an enum with one variant per backend:
//! [`Engine::Memory`], the in-memory [`Store`], and [`Engine::Redis`]
//! (`redis/`), which lets several nodes share streams. Each method is a `match` that calls the backend, so:
//! - the hot path (post, and every subscriber's [`Subscription::next`]) has
//!   no `Box<dyn Future>` and no vtable; a `dyn` trait with native
//!   `async fn` would need boxing to be object-safe, a generic
//!   `AppState<E: Engine>` would spread a type parameter through every
//!   handler and router for a choice made once, at start-up;
//! - the set of backends is closed and known to this crate, which is what an
//!   enum says. Adding one is: a variant here and in
//!   [`subscription`](Subscription), and one arm per method.
//!
//! # Contract
//! Every operation is `async` and returns [`EngineError`], even though the
//! memory backend never waits and never fails with
//! [`EngineError::Unavailable`]: a network backend awaits and can fail, and
//! `http/` is already written for it. Messages come back encoded once
//! ([`Stored`], `Bytes` of JSON) so fan-out stays a reference-count
//! increment. Subscriptions deliver [`Delivery`] values: messages in order,
//! a gap when messages were dropped before the reader got them, presence,
//! partials and the shutdown notice.
//!
//! # Dependencies
//! `delivery.rs` is the vocabulary shared by backends and transports
//! ([`Delivery`], [`Page`], and the [`Stored`] message, defined beside the
//! memory stream that builds it); backends (`store/`) use it and never this
//! file; this file dispatches to the backends. Counters are bumped by the
//! backends into [`Metrics`]; nothing here knows HTTP.

mod delivery;
mod error;
pub mod redis;
mod subscription;

use std::sync::Arc;

use bytes::Bytes;
use malten_shared::crypto::EncryptionParams;
use malten_shared::wire::{Cursor, Message, MessageKind, Partial, StreamInfo};
use malten_shared::StreamName;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::{Metrics, Snapshot};
use crate::store::{Store, StoreLimits};

pub use delivery::{Delivery, Page, PartialEvent, Stored, SHUTDOWN_NOTICE};
pub use error::EngineError;
pub use subscription::Subscription;

/// Where streams live. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Everything in this process's memory (the default).
    Memory(Arc<Store>),
    /// Streams in Redis, shared by every node that uses the same Redis
    /// (`--redis-url`).
    Redis(Arc<redis::RedisEngine>),
}

/// A stream to create explicitly (`POST /streams`, `GET /new`).
#[derive(Debug, Clone, Default)]
pub struct NewStream {
    /// `None` gets a random 128-bit id.
    pub name: Option<StreamName>,
    /// Unlisted when true.
    pub private: bool,
    /// `None` is the configured default.
    pub ttl_secs: Option<u64>,
    /// Set for an end-to-end encrypted stream.
    pub encryption: Option<EncryptionParams>,
    /// A secure pipe: at most two live subscribers (a third is refused with
    /// `pipe_full`), messages kept only until both have read them, gone
    /// when both have left.
    pub pipe: bool,
}

impl Engine {
    /// The in-memory backend.
    pub fn memory(limits: StoreLimits, metrics: Arc<Metrics>) -> Self {
        Self::Memory(Arc::new(Store::new(limits, metrics)))
    }

    /// The Redis backend: checks that Redis keeps nothing on disk (unless
    /// `allow_persistent`), connects and subscribes.
    pub async fn redis(
        settings: &redis::Settings,
        allow_persistent: bool,
        limits: StoreLimits,
        metrics: Arc<Metrics>,
    ) -> Result<Self, redis::ConnectError> {
        Ok(Self::Redis(
            redis::RedisEngine::connect(settings, allow_persistent, limits, metrics).await?,
        ))
    }

    /// An in-memory engine with the product's defaults, for tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        Self::Memory(Store::for_tests())
    }

    /// Creates a stream; refuses a name that exists.
    pub async fn create(&self, new: NewStream) -> Result<StreamInfo, EngineError> {
        self.refuse_when_stopping()?;
        match self {
            Self::Memory(store) => Ok(store.create(
                new.name,
                new.private,
                new.ttl_secs,
                new.encryption,
                new.pipe,
            )?),
            Self::Redis(redis) => redis.create(new).await,
        }
    }

    /// One stream's description, listed or not; `None` if it does not exist.
    pub async fn describe(&self, name: &StreamName) -> Result<Option<StreamInfo>, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.get(name).map(|stream| stream.info())),
            Self::Redis(redis) => redis.describe(name).await,
        }
    }

    /// The public streams, most recently active first.
    pub async fn list_public(&self) -> Result<Vec<StreamInfo>, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.list_public()),
            Self::Redis(redis) => redis.list_public().await,
        }
    }

    /// Appends a message (creating the stream, unlisted, if needed) and
    /// delivers it to the stream's subscribers. In memory, the answer waits
    /// until the subscribers that were waiting for news have taken it, for
    /// at most `--pace-max-wait-ms` (`store/pacing.rs` says why).
    pub async fn post(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Message, EngineError> {
        self.refuse_when_stopping()?;
        match self {
            Self::Memory(store) => {
                let posted = store.post(name, raw, kind)?;
                store.hand_out(posted.hand_out).await;
                Ok(posted.message)
            }
            Self::Redis(redis) => redis.post(name, raw, kind).await,
        }
    }

    /// A page of messages as a JSON array; an unknown stream is `[]`.
    pub async fn page(
        &self,
        name: &StreamName,
        page: Page,
        limit: usize,
    ) -> Result<Bytes, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.page(name, page, limit)?),
            Self::Redis(redis) => redis.page(name, page, limit).await,
        }
    }

    /// One message by id, as a one-element JSON array.
    pub async fn by_id(&self, name: &StreamName, id: &str) -> Result<Bytes, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.by_id(name, id)?),
            Self::Redis(redis) => redis.by_id(name, id).await,
        }
    }

    /// The newest plain-text messages, oldest first, within `max_chars`
    /// characters: the context the LLM gets.
    pub async fn recent(
        &self,
        name: &StreamName,
        max_chars: usize,
    ) -> Result<Vec<Message>, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.recent(name, max_chars)),
            Self::Redis(redis) => redis.recent(name, max_chars).await,
        }
    }

    /// Subscribes, creating the stream unlisted if needed. `after` resumes
    /// from a cursor (with a gap if messages after it were dropped); `None`
    /// starts with the next new message.
    pub async fn subscribe(
        &self,
        name: &StreamName,
        after: Option<Cursor>,
    ) -> Result<Subscription, EngineError> {
        self.refuse_when_stopping()?;
        match self {
            Self::Memory(store) => Ok(Subscription::memory(store.subscribe(name, after)?)),
            Self::Redis(redis) => Ok(Subscription::redis(redis.subscribe(name, after).await?)),
        }
    }

    /// Sends an ephemeral `partial` event to the current subscribers of an
    /// existing stream. Nothing is stored.
    pub async fn publish_partial(&self, partial: Partial) -> Result<(), EngineError> {
        match self {
            Self::Memory(store) => {
                store.publish_partial(partial);
                Ok(())
            }
            Self::Redis(redis) => redis.publish_partial(partial).await,
        }
    }

    /// How many subscribers a stream has; `None` if it does not exist.
    pub async fn observers(&self, name: &StreamName) -> Result<Option<usize>, EngineError> {
        Ok(self.describe(name).await?.map(|info| info.observers))
    }

    /// Whether the stream is end-to-end encrypted, in which case the server
    /// must not store or broadcast plaintext derived from it.
    pub async fn stream_is_encrypted(&self, name: &StreamName) -> Result<bool, EngineError> {
        match self {
            Self::Memory(store) => Ok(store.stream_is_encrypted(name)),
            Self::Redis(redis) => redis.stream_is_encrypted(name).await,
        }
    }

    /// What this node holds, for the `/metrics` gauges.
    pub fn snapshot(&self) -> Snapshot {
        match self {
            Self::Memory(store) => store.snapshot(),
            Self::Redis(redis) => redis.snapshot(),
        }
    }

    /// Starts the backend's background work (expiry for the memory store);
    /// runs until the returned task is aborted.
    pub fn spawn_maintenance(&self) -> JoinHandle<()> {
        match self {
            Self::Memory(store) => crate::store::spawn_sweeper(Arc::clone(store)),
            Self::Redis(redis) => redis.spawn_maintenance(),
        }
    }

    /// The hub for the chat API's live events when this backend is shared
    /// between nodes (`None`: events stay in this process).
    pub fn chat_hub(&self) -> Option<Arc<dyn crate::chat::realtime::Hub>> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(redis) => Some(Arc::new(redis.chat_hub())),
        }
    }

    /// Tells every subscription the server is going away.
    pub fn begin_shutdown(&self) {
        match self {
            Self::Memory(store) => store.begin_shutdown(),
            Self::Redis(redis) => redis.begin_shutdown(),
        }
    }

    /// Once shutdown has begun, the memory backend refuses new streams,
    /// posts and subscriptions with [`EngineError::ShuttingDown`] (503
    /// `shutting_down`): a post accepted now would be lost with the process,
    /// and a subscriber would be told to go at once. The Redis backend keeps
    /// accepting until the node stops: what it accepts outlives the node.
    fn refuse_when_stopping(&self) -> Result<(), EngineError> {
        let stopping = match self {
            Self::Memory(store) => store.is_shutting_down(),
            Self::Redis(_) => false,
        };
        if stopping {
            Err(EngineError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Turns `true` when [`Engine::begin_shutdown`] is called: long-lived
    /// connections (subscriptions, `/ws` sessions) use it to say goodbye.
    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        match self {
            Self::Memory(store) => store.watch_shutdown(),
            Self::Redis(redis) => redis.watch_shutdown(),
        }
    }
}

#[cfg(test)]
mod tests;
