//! What keeps a node's [`Hub`] connected, in the background: the pub/sub
//! connection (reading it into the hub, pinging it, reconnecting), the
//! presence writes, and the heartbeat that keeps this node's counts and
//! its subscribed streams alive in Redis. Apart from the hub because these
//! are loops that own connections, while the hub is state shared with
//! every request.
//!
//! # When the connection drops
//! Messages published while a node is not subscribed are not redelivered by
//! Redis, so rather than guess, the node ends every local subscription with
//! a `backend_unavailable` notice (clients reconnect with their cursor and
//! resume from Redis's history) and refuses new ones until it has
//! subscribed again. The connection is pinged so a silent network failure
//! is noticed too.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use malten_shared::StreamName;
use redis::aio::{PubSubSink, PubSubStream};
use redis::RedisError;
use tokio::sync::mpsc;

use super::connection::{Backend, Settings, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use super::hub::{Hub, PresenceUpdate};
use super::keys::{StreamKeys, ALL_STREAMS};
use super::scripts::PRESENCE;
use crate::metrics::Metrics;

/// How often a node refreshes its presence counts and pings pub/sub.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a node's counts live without a heartbeat: a killed node's
/// subscribers stop counting after this.
pub const PRESENCE_LIFETIME: Duration = Duration::from_secs(15);

/// What runs in the background for a [`Hub`].
pub struct Tasks {
    pub(super) hub: Arc<Hub>,
    pub(super) backend: Backend,
    pub(super) settings: Settings,
    /// The connection [`Hub::connect`] opened, split; its sink is already
    /// the hub's, so subscribing works before these tasks first run.
    pub(super) pubsub: (PubSubSink, PubSubStream),
    pub(super) presence: mpsc::UnboundedReceiver<PresenceUpdate>,
    pub(super) metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tasks")
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

/// A pub/sub connection that has answered a PING, split into its command
/// side and its messages.
pub(crate) async fn open_pubsub(
    settings: &Settings,
) -> Result<(PubSubSink, PubSubStream), RedisError> {
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
            Ok(Ok(pubsub)) => return Ok(pubsub.split()),
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
    first: (PubSubSink, PubSubStream),
    backend: Backend,
    metrics: Arc<Metrics>,
) {
    let mut next = Some(first);
    let mut backoff = Duration::from_millis(50);
    loop {
        let (mut sink, mut messages) = match next.take() {
            Some(first) => first,
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
                    // A new connection is subscribed to nothing yet (the
                    // first one, `Hub::connect` installed).
                    let mut channels = hub.channels.lock().await;
                    channels.sink = Some(pubsub.0.clone());
                    channels.subscribed.clear();
                    drop(channels);
                    hub.up.store(true, Ordering::Release);
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
