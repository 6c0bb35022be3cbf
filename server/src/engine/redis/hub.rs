//! The node's registry of streams with local subscribers ([`Hub`]), and its
//! side of Redis pub/sub: which stream channels the one subscription
//! connection is subscribed to, and the in-process fan-out of what arrives
//! on them. The connection itself, presence writes and the heartbeat run in
//! `tasks.rs`; each stream's cache is `local.rs`.
//!
//! A stream's channel is subscribed (and the subscription acknowledged by
//! Redis) before the subscriber asks Redis where the stream stands, so no
//! message falls between the two; it is unsubscribed when the node's last
//! subscriber of the stream leaves. Both go through one lock that also
//! guards the set of subscribed channels, so a leave and a join racing on
//! the same stream always end subscribed exactly when someone is there.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use malten_shared::wire::Partial;
use malten_shared::StreamName;
use redis::aio::PubSubSink;
use redis::RedisError;
use tokio::sync::{mpsc, oneshot, watch};

use super::connection::{Backend, Settings, RESPONSE_TIMEOUT};
use super::keys::{self, StreamKeys};
use super::local::Local;
use super::tasks::{open_pubsub, Tasks};
use crate::engine::{EngineError, PartialEvent};
use crate::metrics::Metrics;

/// A request to write this node's subscriber count of one stream to Redis.
pub(super) struct PresenceUpdate {
    pub(super) name: StreamName,
    pub(super) reply: Option<oneshot::Sender<Result<usize, EngineError>>>,
}

/// The node's pub/sub fan-in and presence.
#[derive(Debug)]
pub struct Hub {
    locals: Mutex<HashMap<StreamName, Arc<Local>>>,
    /// Bumped each time the subscription connection is lost: every
    /// subscription from before ends.
    generation: watch::Sender<u64>,
    pub(super) up: AtomicBool,
    pub(super) presence: mpsc::UnboundedSender<PresenceUpdate>,
    /// The subscription connection's command side and what it is
    /// subscribed to; `None` while disconnected.
    pub(super) channels: tokio::sync::Mutex<Channels>,
    /// Streams in Redis at the last heartbeat, for `/metrics`.
    pub streams: AtomicUsize,
    /// This node's id in presence hashes.
    pub node: String,
}

#[derive(Default)]
pub(super) struct Channels {
    pub(super) sink: Option<PubSubSink>,
    pub(super) subscribed: HashSet<StreamName>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("connected", &self.sink.is_some())
            .field("subscribed", &self.subscribed.len())
            .finish()
    }
}

impl Hub {
    /// Subscribes to every stream channel now (so start-up fails if Redis
    /// pub/sub is unreachable); the returned tasks keep it going.
    pub async fn connect(
        settings: &Settings,
        backend: Backend,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Self>, Tasks), RedisError> {
        let pubsub = open_pubsub(settings).await?;
        // The sink goes in now, not when the tasks first run: the node
        // says it is listening before then, and a subscriber arriving at
        // once must not be told Redis is unreachable.
        let channels = Channels {
            sink: Some(pubsub.0.clone()),
            subscribed: HashSet::new(),
        };
        let (presence_tx, presence_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
            locals: Mutex::default(),
            generation: watch::channel(0).0,
            up: AtomicBool::new(true),
            presence: presence_tx,
            channels: tokio::sync::Mutex::new(channels),
            streams: AtomicUsize::new(0),
            node: crate::store::random_id(),
        });
        let tasks = Tasks {
            hub: Arc::clone(&hub),
            backend,
            settings: settings.clone(),
            pubsub,
            presence: presence_rx,
            metrics,
        };
        Ok((hub, tasks))
    }

    pub(super) fn map(&self) -> MutexGuard<'_, HashMap<StreamName, Arc<Local>>> {
        self.locals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current generation, or `Unavailable` while not subscribed.
    pub fn generation(&self) -> Result<watch::Receiver<u64>, EngineError> {
        if !self.up.load(Ordering::Acquire) {
            return Err(EngineError::Unavailable(
                "not subscribed to redis; reconnecting".into(),
            ));
        }
        Ok(self.generation.subscribe())
    }

    /// Adds a local subscriber to `name`.
    pub fn register(&self, name: &StreamName) -> Arc<Local> {
        let mut map = self.map();
        let local = map
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Local::new(name.clone())));
        local.subscribers.fetch_add(1, Ordering::Relaxed);
        Arc::clone(local)
    }

    /// Removes a local subscriber (the stream's entry goes with the last),
    /// and has the new count written to Redis in the background.
    pub fn unregister(self: &Arc<Self>, local: &Arc<Local>) {
        let mut map = self.map();
        let left = local.subscribers.fetch_sub(1, Ordering::Relaxed) - 1;
        if left == 0
            && map
                .get(&local.name)
                .is_some_and(|current| Arc::ptr_eq(current, local))
        {
            map.remove(&local.name);
        }
        drop(map);
        let _ = self.presence.send(PresenceUpdate {
            name: local.name.clone(),
            reply: None,
        });
        if left == 0 {
            // Dropped outside a runtime (the process is ending): nothing
            // to release that Redis will not drop with the connection.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let hub = Arc::clone(self);
                let name = local.name.clone();
                runtime.spawn(async move { hub.release_channel(&name).await });
            }
        }
    }

    /// Subscribes the node to `name`'s channel unless it already is; returns
    /// once Redis has acknowledged it.
    pub async fn subscribe_channel(&self, name: &StreamName) -> Result<(), EngineError> {
        let mut channels = self.channels.lock().await;
        if channels.subscribed.contains(name) {
            return Ok(());
        }
        let Some(sink) = channels.sink.as_mut() else {
            return Err(EngineError::Unavailable(
                "not subscribed to redis; reconnecting".into(),
            ));
        };
        let channel = StreamKeys::new(name).channel;
        match tokio::time::timeout(RESPONSE_TIMEOUT, sink.subscribe(&channel)).await {
            Ok(Ok(())) => {
                channels.subscribed.insert(name.clone());
                Ok(())
            }
            Ok(Err(err)) => Err(EngineError::Unavailable(Box::new(err))),
            Err(_) => Err(EngineError::Unavailable(
                "redis did not acknowledge SUBSCRIBE in time".into(),
            )),
        }
    }

    /// Unsubscribes from `name`'s channel if no local subscriber is left.
    async fn release_channel(&self, name: &StreamName) {
        let mut channels = self.channels.lock().await;
        if self.map().contains_key(name) || !channels.subscribed.contains(name) {
            return;
        }
        let channel = StreamKeys::new(name).channel;
        if let Some(sink) = channels.sink.as_mut() {
            match tokio::time::timeout(RESPONSE_TIMEOUT, sink.unsubscribe(&channel)).await {
                Ok(Ok(())) => {}
                // The connection is failing; it will be replaced, and with
                // it the set of channels.
                _ => return,
            }
        }
        channels.subscribed.remove(name);
    }

    /// Writes this node's count for `name` and returns the total.
    pub async fn update_presence(&self, name: &StreamName) -> Result<usize, EngineError> {
        let (reply, answer) = oneshot::channel();
        let update = PresenceUpdate {
            name: name.clone(),
            reply: Some(reply),
        };
        if self.presence.send(update).is_err() {
            return Err(EngineError::Unavailable("presence task stopped".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(EngineError::Unavailable("presence task stopped".into())))
    }

    /// Local subscribers of all streams, for `/metrics`.
    pub fn local_subscribers(&self) -> usize {
        self.map()
            .values()
            .map(|local| local.subscribers.load(Ordering::Relaxed))
            .sum()
    }

    pub(super) fn count(&self, name: &StreamName) -> usize {
        self.map()
            .get(name)
            .map_or(0, |local| local.subscribers.load(Ordering::Relaxed))
    }

    pub(super) fn dispatch(&self, channel: &str, payload: &[u8]) {
        let Some(name) = keys::stream_of_channel(channel) else {
            return;
        };
        let Some(local) = self.map().get(&name).cloned() else {
            return;
        };
        let Ok(payload) = std::str::from_utf8(payload) else {
            return;
        };
        let (kind, rest) = payload.split_at(payload.len().min(1));
        match kind {
            "m" => {
                let parsed = keys::split_cursor(rest)
                    .and_then(|(prev, json)| Some((prev, serde_json::from_str(json).ok()?)));
                match parsed {
                    Some((prev, message)) => local.message(prev, message),
                    None => tracing::warn!(stream = %name, "unreadable message on redis channel"),
                }
            }
            "P" => {
                let parsed = keys::split_cursor(rest).and_then(|(after, json)| {
                    Some((after, serde_json::from_str::<Partial>(json).ok()?))
                });
                if let Some((after, partial)) = parsed {
                    let _ = local
                        .partials
                        .send(Arc::new(PartialEvent { after, partial }));
                }
            }
            "p" => {
                if let Ok(observers) = rest.parse() {
                    local.observers(observers);
                }
            }
            _ => {}
        }
    }

    /// The subscription connection is gone: end every local subscription.
    pub(super) fn lost(&self) {
        self.up.store(false, Ordering::Release);
        self.map().clear();
        self.generation.send_modify(|generation| *generation += 1);
    }
}
