//! The Redis backend: streams live in Redis, so any number of nodes behind a
//! load balancer serve the same streams (`--redis-url`, docs/cluster.md).
//!
//! # The same promises as one node
//! - **One order per stream**: a post is one Lua script (`scripts.rs`) that
//!   assigns the cursor (`max(last + 1 ns, Redis's clock)`, the memory
//!   store's format, so clients see no difference), appends with the
//!   1024-message cap, refreshes the TTL and publishes, atomically.
//! - **Lossless resume on any node**: a subscription reads after its cursor
//!   from the node's cache or from Redis (`subscription.rs`); `gap` when
//!   messages after the cursor were dropped, or when the cursor is from
//!   before the stream was created (its creation cursor is the stream's
//!   epoch: after Redis restarted empty, old cursors get a `gap`).
//! - Encrypted streams refuse plaintext inside the script (the kind is read
//!   in the same atomic step); private streams are never in the listing's
//!   index.
//!
//! # Layout
//! - this file: [`RedisEngine`], connecting and subscribing.
//! - `write`: creating, posting, partials; the stream cap and indexes.
//! - `read`: pages, by id, recent context, describe, the public listing.
//! - `subscription`: a reader; `hub`: the registry of local streams and
//!   pub/sub fan-in; `local`: one stream's signal and cache; `tasks`: the
//!   pub/sub connection, presence writes and heartbeat in the background.
//! - `scripts`: the Lua; `keys`: key names; `connection`: timeouts, errors;
//!   `persistence`: the start-up check that Redis writes nothing to disk.

mod connection;
mod hub;
mod keys;
mod local;
mod persistence;
mod read;
mod scripts;
mod subscription;
mod tasks;
mod write;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use malten_shared::wire::Cursor;
use malten_shared::StreamName;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::EngineError;
use crate::metrics::{Metrics, Snapshot};
use crate::store::{unix_nanos, StoreError, StoreLimits};

pub use connection::Settings;
pub(crate) use connection::{Backend, RESPONSE_TIMEOUT};
pub use persistence::ConnectError;
pub use subscription::Subscription;
pub(crate) use tasks::open_pubsub;

use hub::Hub;
use keys::StreamKeys;
use scripts::ENSURE;
use tasks::Tasks;

/// Streams, messages and subscriptions held in Redis.
#[derive(Debug)]
pub struct RedisEngine {
    settings: Settings,
    backend: connection::Backend,
    hub: Arc<Hub>,
    limits: StoreLimits,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    /// The background work, until `spawn_maintenance` starts it.
    tasks: Mutex<Option<Tasks>>,
}

impl RedisEngine {
    /// Checks persistence, connects and subscribes; fails if Redis cannot
    /// be reached or keeps data on disk (unless `allow_persistent`).
    pub async fn connect(
        settings: &Settings,
        allow_persistent: bool,
        limits: StoreLimits,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, ConnectError> {
        persistence::check(settings, allow_persistent).await?;
        let conn = connection::Conn::open(settings).await?;
        let backend = connection::Backend::new(conn, Arc::clone(&metrics));
        let (hub, tasks) = Hub::connect(settings, backend.clone(), Arc::clone(&metrics)).await?;
        tracing::info!(cluster = settings.cluster, node = %hub.node, "streams are kept in redis");
        Ok(Arc::new(Self {
            settings: settings.clone(),
            backend,
            hub,
            limits,
            metrics,
            shutdown: watch::channel(false).0,
            tasks: Mutex::new(Some(tasks)),
        }))
    }

    /// Starts pub/sub, presence and heartbeat; runs until aborted.
    pub fn spawn_maintenance(&self) -> JoinHandle<()> {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        tokio::spawn(async move {
            match tasks {
                Some(tasks) => tasks.run().await,
                None => std::future::pending().await,
            }
        })
    }

    /// A hub that carries the chat API's live events between the nodes on
    /// this Redis (starts its tasks: call inside the runtime).
    pub fn chat_hub(&self) -> crate::chat::realtime::RedisHub {
        crate::chat::realtime::RedisHub::start(
            self.settings.clone(),
            self.backend.clone(),
            self.hub.node.clone(),
        )
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// What `/metrics` shows: streams in Redis (as of the last heartbeat)
    /// and this node's subscribers. Message counts and bytes are Redis's
    /// (`INFO memory`), not this node's.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            streams: self.hub.streams.load(Ordering::Relaxed),
            messages: 0,
            bytes: 0,
            subscribers: self.hub.local_subscribers(),
        }
    }

    /// Subscribes, creating the stream unlisted if needed. The node is
    /// registered for the stream's messages, and subscribed to its channel,
    /// before Redis is asked where the stream stands, so nothing published
    /// in between is missed.
    pub async fn subscribe(
        self: &Arc<Self>,
        name: &StreamName,
        after: Option<Cursor>,
    ) -> Result<Subscription, EngineError> {
        let generation = self.hub.generation()?;
        let local = self.hub.register(name);
        // From here on the subscription owns the registration: dropping it
        // (on any error below) unregisters.
        let mut subscription = Subscription::new(
            Arc::clone(self),
            Arc::clone(&local),
            Cursor::START,
            generation,
        );
        self.hub.subscribe_channel(name).await?;
        let last = self.ensure(name, after).await?;
        let observers = self.hub.update_presence(name).await?;
        local.seed(last, observers);
        if subscription.generation_changed() {
            return Err(EngineError::Unavailable(
                "lost the redis subscription while subscribing".into(),
            ));
        }
        subscription.start_at(after.unwrap_or(last));
        Ok(subscription)
    }

    /// Where the stream stands (its last cursor), creating it if needed; a
    /// cursor it cannot have issued is refused before anything is created.
    async fn ensure(
        &self,
        name: &StreamName,
        after: Option<Cursor>,
    ) -> Result<Cursor, EngineError> {
        let keys = StreamKeys::new(name);
        let ttl = self.limits.default_ttl.as_secs();
        let run = |create: bool| {
            let mut invocation = ENSURE.key(&keys.meta);
            invocation
                .key(&keys.log)
                .arg(ttl)
                .arg(if create { "1" } else { "0" });
            invocation
        };
        let mut found: Option<Vec<String>> = self.backend.script(&run(false)).await?;
        let newest_allowed = |last: Cursor| unix_nanos().max(last);
        if found.is_none() {
            if let Some(after) = after {
                if after > newest_allowed(Cursor::START) {
                    return Err(StoreError::InvalidCursor(after).into());
                }
            }
            self.check_capacity().await?;
            found = self.backend.script(&run(true)).await?;
            if found
                .as_ref()
                .and_then(|reply| reply.get(2))
                .map(String::as_str)
                == Some("1")
            {
                self.index(name, ttl, false).await?;
            }
        }
        let last = found
            .as_ref()
            .and_then(|reply| reply.first())
            .and_then(|raw| keys::parse_cursor(raw))
            .ok_or_else(|| unexpected("ensure script reply"))?;
        if let Some(after) = after {
            if after > newest_allowed(last) {
                return Err(StoreError::InvalidCursor(after).into());
            }
        }
        Ok(last)
    }
}

fn unexpected(what: &str) -> EngineError {
    EngineError::Unavailable(format!("unexpected {what} from redis").into())
}

#[cfg(test)]
mod tests;
