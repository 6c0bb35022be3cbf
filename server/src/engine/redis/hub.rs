//! The node's side of Redis pub/sub: one subscription connection per node,
//! subscribed to the channels of the streams this node has subscribers for
//! and fanned out in-process to them, plus the node's presence counts and
//! their heartbeat.
//!
//! A stream's channel is subscribed (and the subscription acknowledged by
//! Redis) before the subscriber asks Redis where the stream stands, so no
//! message falls between the two; it is unsubscribed when the node's last
//! subscriber of the stream leaves. Both go through one lock that also
//! guards the set of subscribed channels, so a leave and a join racing on
//! the same stream always end subscribed exactly when someone is there.
//!
//! # Why a cache, and why `prev`
//! Each stream with local subscribers has a [`Local`]: a `watch` signal
//! (newest cursor, observers), a broadcast of partials, and a cache of the
//! last 256 messages received, each built once as a [`Stored`] and shared by
//! every local subscriber (a delivery is a reference-count increment, as
//! in memory). Every published message carries the cursor of the message
//! before it, so the cache knows whether it is contiguous: it holds every
//! message after its `base`. A subscriber whose cursor is older than `base`
//! (it resumed from far back, or fell more than 256 messages behind)
//! reads from Redis instead, which is where gaps are detected. A message
//! whose `prev` is not the cache's newest (the node missed one) restarts
//! the cache at that `prev`; nothing is lost, older readers go to Redis.
//!
//! # When the connection drops
//! Messages published while a node is not subscribed are not redelivered by
//! Redis, so rather than guess, the node ends every local subscription with
//! a `backend_unavailable` notice (clients reconnect with their cursor and
//! resume from Redis's history) and refuses new ones until it has
//! subscribed again. The connection is pinged so a silent network failure
//! is noticed too.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::wire::{Cursor, Message, Partial};
use malten_shared::StreamName;
use redis::aio::{PubSub, PubSubSink};
use redis::RedisError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::connection::{Backend, Settings, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use super::keys::{self, StreamKeys, ALL_STREAMS};
use super::scripts::PRESENCE;
use crate::engine::{EngineError, PartialEvent, Stored};
use crate::metrics::Metrics;

/// Messages each stream's cache keeps: enough for every reader that keeps
/// up (a batch is at most 256), small enough that a node's memory stays
/// bounded by its streams with subscribers (at most about 300 KiB each);
/// readers further behind read Redis.
const CACHE_CAPACITY: usize = MAX_MESSAGES_PER_STREAM / 4;
/// Partials buffered per subscriber, as in memory.
const PARTIALS_BUFFER: usize = 256;
/// How often a node refreshes its presence counts and pings pub/sub.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a node's counts live without a heartbeat: a killed node's
/// subscribers stop counting after this.
pub const PRESENCE_LIFETIME: Duration = Duration::from_secs(15);

/// What local subscribers watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub newest: Cursor,
    pub observers: usize,
}

/// One stream, as far as this node's subscribers are concerned.
#[derive(Debug)]
pub struct Local {
    pub name: StreamName,
    cache: Mutex<Cache>,
    signal: watch::Sender<Signal>,
    partials: broadcast::Sender<Arc<PartialEvent>>,
    /// Local subscriptions; changed only under the hub's map lock.
    subscribers: AtomicUsize,
}

#[derive(Debug, Default)]
struct Cache {
    /// Every message after `base` is in `items`; `None` until known.
    base: Option<Cursor>,
    items: VecDeque<Arc<Stored>>,
}

impl Cache {
    fn newest(&self) -> Option<Cursor> {
        self.items
            .back()
            .map(|stored| stored.message.created)
            .or(self.base)
    }

    fn received(&mut self, prev: Cursor, stored: Arc<Stored>) {
        if self.newest() != Some(prev) {
            self.items.clear();
            self.base = Some(prev);
        }
        self.items.push_back(stored);
        if self.items.len() > CACHE_CAPACITY {
            if let Some(evicted) = self.items.pop_front() {
                self.base = Some(evicted.message.created);
            }
        }
    }
}

impl Local {
    fn new(name: StreamName) -> Self {
        Self {
            name,
            cache: Mutex::new(Cache::default()),
            signal: watch::channel(Signal {
                newest: Cursor::START,
                observers: 0,
            })
            .0,
            partials: broadcast::channel(PARTIALS_BUFFER).0,
            subscribers: AtomicUsize::new(0),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where the stream stood when a subscriber joined: fills the cache's
    /// base if no message has arrived yet, and the observers.
    pub fn seed(&self, last: Cursor, observers: usize) {
        let mut cache = self.cache();
        cache.base.get_or_insert(last);
        let newest = cache.newest().unwrap_or(last);
        drop(cache);
        self.signal.send_if_modified(|signal| {
            let next = Signal {
                newest: signal.newest.max(newest),
                observers,
            };
            let changed = *signal != next;
            *signal = next;
            changed
        });
    }

    /// The cached messages after `cursor` (at most `max`), or `None` if the
    /// cache cannot say (the cursor is older than what it holds).
    pub fn cached_after(&self, cursor: Cursor, max: usize) -> Option<Vec<Arc<Stored>>> {
        let cache = self.cache();
        let base = cache.base?;
        if cursor < base {
            return None;
        }
        let start = cache
            .items
            .partition_point(|stored| stored.message.created <= cursor);
        Some(cache.items.range(start..).take(max).cloned().collect())
    }

    pub fn watch(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    pub fn subscribe_partials(&self) -> broadcast::Receiver<Arc<PartialEvent>> {
        self.partials.subscribe()
    }

    fn message(&self, prev: Cursor, message: Message) {
        let created = message.created;
        let stored = Arc::new(Stored::new(message, tokio::time::Instant::now()));
        self.cache().received(prev, stored);
        self.signal.send_modify(|signal| {
            signal.newest = signal.newest.max(created);
        });
    }

    fn observers(&self, observers: usize) {
        self.signal.send_if_modified(|signal| {
            let changed = signal.observers != observers;
            signal.observers = observers;
            changed
        });
    }
}

/// A request to write this node's subscriber count of one stream to Redis.
struct PresenceUpdate {
    name: StreamName,
    reply: Option<oneshot::Sender<Result<usize, EngineError>>>,
}

/// The node's pub/sub fan-in and presence.
#[derive(Debug)]
pub struct Hub {
    locals: Mutex<HashMap<StreamName, Arc<Local>>>,
    /// Bumped each time the subscription connection is lost: every
    /// subscription from before ends.
    generation: watch::Sender<u64>,
    up: AtomicBool,
    presence: mpsc::UnboundedSender<PresenceUpdate>,
    /// The subscription connection's command side and what it is
    /// subscribed to; `None` while disconnected.
    channels: tokio::sync::Mutex<Channels>,
    /// Streams in Redis at the last heartbeat, for `/metrics`.
    pub streams: AtomicUsize,
    /// This node's id in presence hashes.
    pub node: String,
}

#[derive(Default)]
struct Channels {
    sink: Option<PubSubSink>,
    subscribed: HashSet<StreamName>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels")
            .field("connected", &self.sink.is_some())
            .field("subscribed", &self.subscribed.len())
            .finish()
    }
}

/// What runs in the background for a [`Hub`].
pub struct Tasks {
    hub: Arc<Hub>,
    backend: Backend,
    settings: Settings,
    pubsub: PubSub,
    presence: mpsc::UnboundedReceiver<PresenceUpdate>,
    metrics: Arc<Metrics>,
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
        let (presence_tx, presence_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
            locals: Mutex::default(),
            generation: watch::channel(0).0,
            up: AtomicBool::new(true),
            presence: presence_tx,
            channels: tokio::sync::Mutex::default(),
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

    fn map(&self) -> MutexGuard<'_, HashMap<StreamName, Arc<Local>>> {
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

    fn count(&self, name: &StreamName) -> usize {
        self.map()
            .get(name)
            .map_or(0, |local| local.subscribers.load(Ordering::Relaxed))
    }

    fn dispatch(&self, channel: &str, payload: &[u8]) {
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
    fn lost(&self) {
        self.up.store(false, Ordering::Release);
        self.map().clear();
        self.generation.send_modify(|generation| *generation += 1);
    }
}

impl Tasks {
    /// Runs pub/sub, presence writes and the heartbeat until aborted.
    pub async fn run(self) {
        let Self {
            hub,
            backend,
            settings,
            pubsub,
            presence,
            metrics,
        } = self;
        tokio::join!(
            run_pubsub(Arc::clone(&hub), settings, pubsub, backend.clone(), metrics),
            run_presence(Arc::clone(&hub), backend.clone(), presence),
            run_heartbeat(hub, backend),
        );
    }
}

async fn open_pubsub(settings: &Settings) -> Result<PubSub, RedisError> {
    let mut last_error = None;
    // In a cluster, PUBLISH reaches every node, so any one will do.
    for url in &settings.urls {
        let attempt = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            // A round trip, so a half-open connection fails here.
            pubsub.ping::<redis::Value>().await?;
            Ok::<_, RedisError>(pubsub)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, attempt).await {
            Ok(Ok(pubsub)) => return Ok(pubsub),
            Ok(Err(err)) => last_error = Some(err),
            Err(_) => {
                last_error = Some(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out subscribing to redis",
                )))
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| RedisError::from(std::io::Error::other("no redis url configured"))))
}

async fn run_pubsub(
    hub: Arc<Hub>,
    settings: Settings,
    first: PubSub,
    backend: Backend,
    metrics: Arc<Metrics>,
) {
    let mut next = Some(first);
    let mut backoff = Duration::from_millis(50);
    loop {
        let pubsub = match next.take() {
            Some(pubsub) => pubsub,
            None => match open_pubsub(&settings).await {
                Ok(pubsub) => {
                    metrics.backend_reconnects.inc();
                    tracing::info!("subscribed to redis again");
                    // The command connection reconnects when a call fails;
                    // make those failures happen now rather than to a
                    // client's request.
                    for _ in 0..3 {
                        if backend.cmd::<String>(&redis::cmd("PING")).await.is_ok() {
                            break;
                        }
                    }
                    pubsub
                }
                Err(err) => {
                    tracing::debug!(error = %err, "redis pub/sub still unreachable");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(50);
        let (mut sink, mut messages) = pubsub.split();
        {
            let mut channels = hub.channels.lock().await;
            channels.sink = Some(sink.clone());
            channels.subscribed.clear();
        }
        hub.up.store(true, Ordering::Release);
        let mut ping = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => hub.dispatch(message.get_channel_name(), message.get_payload_bytes()),
                    None => break,
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(RESPONSE_TIMEOUT * 2, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        metrics.backend_errors.inc();
        tracing::warn!("lost the redis subscription; ending local subscriptions and reconnecting");
        {
            let mut channels = hub.channels.lock().await;
            channels.sink = None;
            channels.subscribed.clear();
        }
        hub.lost();
    }
}

async fn run_presence(
    hub: Arc<Hub>,
    backend: Backend,
    mut updates: mpsc::UnboundedReceiver<PresenceUpdate>,
) {
    let lifetime_ms = PRESENCE_LIFETIME.as_millis() as u64;
    while let Some(update) = updates.recv().await {
        // The count now, not when the update was asked for: updates run in
        // order, so the last one written is always the current count.
        let count = hub.count(&update.name);
        let keys = StreamKeys::new(&update.name);
        let result = backend
            .script::<usize>(
                PRESENCE
                    .key(&keys.meta)
                    .key(&keys.log)
                    .key(&keys.presence)
                    .arg(&hub.node)
                    .arg(count)
                    .arg(lifetime_ms)
                    .arg(&keys.channel),
            )
            .await;
        match update.reply {
            Some(reply) => {
                let _ = reply.send(result);
            }
            None => {
                if let Err(err) = result {
                    tracing::debug!(stream = %update.name, error = %err, "presence update failed");
                }
            }
        }
    }
}

async fn run_heartbeat(hub: Arc<Hub>, backend: Backend) {
    let mut interval = tokio::time::interval(HEARTBEAT);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let names: Vec<StreamName> = hub.map().keys().cloned().collect();
        let now_ms = crate::store::unix_nanos().0 / 1_000_000;
        for name in names {
            let _ = hub.presence.send(PresenceUpdate {
                name: name.clone(),
                reply: None,
            });
            // Subscribed streams stay counted while subscribed.
            let deadline = now_ms + PRESENCE_LIFETIME.as_millis() as u64;
            let _: Result<(), _> = backend
                .cmd(
                    redis::cmd("ZADD")
                        .arg(ALL_STREAMS)
                        .arg("GT")
                        .arg(deadline)
                        .arg(name.as_str()),
                )
                .await;
        }
        let mut prune = redis::cmd("ZREMRANGEBYSCORE");
        prune.arg(ALL_STREAMS).arg("-inf").arg(now_ms);
        let _: Result<(), _> = backend.cmd(&prune).await;
        if let Ok(count) = backend
            .cmd::<usize>(redis::cmd("ZCARD").arg(ALL_STREAMS))
            .await
        {
            hub.streams.store(count, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malten_shared::wire::{Body, MessageKind};

    fn stored(created: u64) -> Arc<Stored> {
        Arc::new(Stored::new(
            Message {
                id: created.to_string(),
                stream: StreamName::parse("s").unwrap(),
                body: Body::Text("x".into()),
                kind: MessageKind::Message,
                created: Cursor(created),
            },
            tokio::time::Instant::now(),
        ))
    }

    #[test]
    fn the_cache_holds_a_contiguous_run_and_restarts_when_a_message_was_missed() {
        let local = Local::new(StreamName::parse("s").unwrap());
        assert!(local.cached_after(Cursor(0), 10).is_none(), "unknown base");
        local.seed(Cursor(10), 1);
        local.message(Cursor(10), stored(11).message.clone());
        local.message(Cursor(11), stored(12).message.clone());
        let after_10: Vec<u64> = local
            .cached_after(Cursor(10), 10)
            .unwrap()
            .iter()
            .map(|s| s.message.created.0)
            .collect();
        assert_eq!(after_10, [11, 12]);
        assert!(
            local.cached_after(Cursor(9), 10).is_none(),
            "older than the cache"
        );
        // 13 was missed: 14 arrives with prev 13.
        local.message(Cursor(13), stored(14).message.clone());
        assert!(
            local.cached_after(Cursor(12), 10).is_none(),
            "the hole is read from redis"
        );
        assert_eq!(local.cached_after(Cursor(13), 10).unwrap().len(), 1);
        assert_eq!(local.watch().borrow().newest, Cursor(14));
    }

    #[test]
    fn the_cache_is_bounded_and_moves_its_base() {
        let mut cache = Cache {
            base: Some(Cursor(0)),
            items: VecDeque::new(),
        };
        for n in 1..=(CACHE_CAPACITY as u64 + 5) {
            cache.received(Cursor(n - 1), stored(n));
        }
        assert_eq!(cache.items.len(), CACHE_CAPACITY);
        assert_eq!(cache.base, Some(Cursor(5)));
    }
}
