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
//! - this file: [`RedisEngine`], connecting, creating and posting.
//! - `read`: pages, by id, recent context, describe, the public listing.
//! - `subscription`: a reader; `hub`: pub/sub fan-in, presence, heartbeat.
//! - `scripts`: the Lua; `keys`: key names; `connection`: timeouts, errors;
//!   `persistence`: the start-up check that Redis writes nothing to disk.

mod connection;
mod hub;
mod keys;
mod persistence;
mod read;
mod scripts;
mod subscription;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use malten_shared::crypto::check_envelope;
use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::wire::{Body, Cursor, Message, MessageKind, Partial, StreamInfo};
use malten_shared::{check_message_text, StreamName};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{EngineError, NewStream};
use crate::metrics::{Metrics, Snapshot};
use crate::store::{random_id, random_stream_name, unix_nanos, StoreError, StoreLimits};

pub use connection::Settings;
pub use persistence::ConnectError;
pub use subscription::Subscription;

use hub::{Hub, Tasks};
use keys::{StreamKeys, ALL_STREAMS, PUBLIC_STREAMS};
use scripts::{CREATE, ENSURE, PARTIAL, POST};

/// Streams, messages and subscriptions held in Redis.
#[derive(Debug)]
pub struct RedisEngine {
    backend: connection::Backend,
    hub: Arc<Hub>,
    limits: StoreLimits,
    metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    /// The background work, until `spawn_maintenance` starts it.
    tasks: Mutex<Option<Tasks>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tasks")
    }
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

    /// Refuses a new stream when `--max-streams` are in Redis. Nodes check
    /// and create in two steps, so concurrent creations on several nodes
    /// can pass the cap by at most their number (docs/cluster.md).
    async fn check_capacity(&self) -> Result<(), EngineError> {
        let now_ms = unix_nanos().0 / 1_000_000;
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(ALL_STREAMS)
            .arg("-inf")
            .arg(now_ms)
            .ignore()
            .cmd("ZCARD")
            .arg(ALL_STREAMS);
        let (count,): (usize,) = self.backend.pipe(&pipe).await?;
        if count >= self.limits.max_streams {
            return Err(StoreError::TooManyStreams(self.limits.max_streams).into());
        }
        Ok(())
    }

    /// Records a stream in the global indexes after a create or post.
    async fn index(
        &self,
        name: &StreamName,
        ttl_secs: u64,
        public: bool,
    ) -> Result<(), EngineError> {
        let now_ms = unix_nanos().0 / 1_000_000;
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(ALL_STREAMS)
            .arg("GT")
            .arg(now_ms + ttl_secs * 1000)
            .arg(name.as_str())
            .ignore();
        if public {
            pipe.cmd("ZADD")
                .arg(PUBLIC_STREAMS)
                .arg(now_ms)
                .arg(name.as_str())
                .ignore();
        }
        self.backend.pipe::<()>(&pipe).await
    }

    pub async fn create(&self, new: NewStream) -> Result<StreamInfo, EngineError> {
        if new.pipe {
            return Err(EngineError::PipesUnsupported);
        }
        let ttl = self.ttl(new.ttl_secs)?;
        if let Some(params) = &new.encryption {
            params.validate().map_err(StoreError::from)?;
        }
        let name = new.name.unwrap_or_else(random_stream_name);
        self.check_capacity().await?;
        let keys = StreamKeys::new(&name);
        let encryption = match &new.encryption {
            Some(params) => serde_json::to_string(params).expect("parameters serialize"),
            None => String::new(),
        };
        let born: Option<String> = self
            .backend
            .script(
                CREATE
                    .key(&keys.meta)
                    .key(&keys.log)
                    .arg(if new.private { "1" } else { "0" })
                    .arg(ttl.as_secs())
                    .arg(encryption),
            )
            .await?;
        let born = born
            .and_then(|raw| keys::parse_cursor(&raw))
            .ok_or_else(|| StoreError::StreamExists(name.clone()))?;
        self.index(&name, ttl.as_secs(), !new.private).await?;
        Ok(StreamInfo {
            stream: name,
            private: new.private,
            ttl: ttl.as_secs(),
            updated: born,
            messages: 0,
            observers: 0,
            encrypted: new.encryption.is_some(),
            encryption: new.encryption,
            pipe: false,
        })
    }

    /// Appends a message in one script; a new name is created (unlisted)
    /// only once the stream cap allows it and the text is a valid message.
    pub async fn post(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Message, EngineError> {
        let as_text = check_message_text(&raw);
        let as_envelope = check_envelope(&raw);
        let id = random_id();
        let head = |body: Body| json_head(&id, name, body, kind);
        let text_head = match as_text {
            Ok(()) => head(Body::Text(raw.clone())),
            Err(_) => String::new(),
        };
        let envelope_head = match as_envelope {
            Ok(()) => head(Body::Envelope(raw.clone())),
            Err(_) => String::new(),
        };
        let keys = StreamKeys::new(name);
        let mut create = false;
        loop {
            let reply: Vec<String> = self
                .backend
                .script(
                    POST.key(&keys.meta)
                        .key(&keys.log)
                        .arg(&text_head)
                        .arg(&envelope_head)
                        .arg(self.limits.default_ttl.as_secs())
                        .arg(if create { "1" } else { "0" })
                        .arg(MAX_MESSAGES_PER_STREAM)
                        .arg(&keys.channel),
                )
                .await?;
            match reply.first().map(String::as_str) {
                Some("ok") => {
                    let posted =
                        parse_posted(&reply).ok_or_else(|| unexpected("post script reply"))?;
                    self.metrics.posts.inc();
                    self.metrics.drops.inc_by(posted.dropped);
                    self.index(name, posted.ttl, !posted.private).await?;
                    let body = if posted.encrypted {
                        Body::Envelope(raw)
                    } else {
                        Body::Text(raw)
                    };
                    let created = posted.created;
                    return Ok(Message {
                        id,
                        stream: name.clone(),
                        body,
                        kind,
                        created,
                    });
                }
                Some("absent") => {
                    // A post to a new name creates a plain stream: the text
                    // rule applies, and the stream cap.
                    as_text.clone().map_err(StoreError::from)?;
                    self.check_capacity().await?;
                    create = true;
                }
                Some("text") => return Err(StoreError::from(as_text.unwrap_err()).into()),
                Some("envelope") => return Err(StoreError::from(as_envelope.unwrap_err()).into()),
                _ => return Err(unexpected("post script reply")),
            }
        }
    }

    /// Sends a preview to every node's subscribers of an existing stream.
    pub async fn publish_partial(&self, partial: Partial) -> Result<(), EngineError> {
        let keys = StreamKeys::new(&partial.stream);
        let json = serde_json::to_string(&partial).expect("a partial serializes");
        let _: i64 = self
            .backend
            .script(PARTIAL.key(&keys.meta).arg(&keys.channel).arg(json))
            .await?;
        Ok(())
    }

    pub async fn stream_is_encrypted(&self, name: &StreamName) -> Result<bool, EngineError> {
        let keys = StreamKeys::new(name);
        self.backend
            .cmd(redis::cmd("HEXISTS").arg(&keys.meta).arg("enc"))
            .await
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

/// The message's JSON up to the value of `created` (the script appends the
/// cursor and `"}`).
fn json_head(id: &str, name: &StreamName, body: Body, kind: MessageKind) -> String {
    let message = Message {
        id: id.to_owned(),
        stream: name.clone(),
        body,
        kind,
        created: Cursor::START,
    };
    let mut json = serde_json::to_string(&message).expect("a message serializes");
    // `created` is the last member: `…,"created":"0"}`.
    let tail = "0\"}";
    debug_assert!(json.ends_with(&format!("\"created\":\"{tail}")));
    json.truncate(json.len() - tail.len());
    json
}

/// What the post script says about a stored message.
struct Posted {
    created: Cursor,
    private: bool,
    ttl: u64,
    dropped: u64,
    encrypted: bool,
}

fn parse_posted(reply: &[String]) -> Option<Posted> {
    Some(Posted {
        created: keys::parse_cursor(reply.get(1)?)?,
        private: reply.get(2)? == "1",
        ttl: reply.get(3)?.parse().ok()?,
        dropped: reply.get(4)?.parse().ok()?,
        encrypted: reply.get(5)? == "1",
    })
}

fn unexpected(what: &str) -> EngineError {
    EngineError::Unavailable(format!("unexpected {what} from redis").into())
}
