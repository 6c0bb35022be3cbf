//! Chat events between nodes, through Redis pub/sub.
//!
//! Every node delivers its own events to its own subscribers at once (as
//! [`LocalHub`] does) and publishes them, tagged with its node id, on the
//! channel's Redis topic `malten:chat:<channel_id>`; the other nodes that
//! have subscribers for that channel hand them to theirs. So a chat keeps
//! working on one node while Redis is away, and across nodes while it is
//! there.
//!
//! # Why nothing is lost
//! The database is the source of truth for messages, and pub/sub only says
//! "look now". Where a node may have missed an event, its subscribers get
//! [`ChatEvent::Resync`] and read what they lack from the database:
//! - when the node's subscription to a channel's topic is acknowledged (a
//!   message published on another node between a subscriber reading the
//!   channel's position and that moment would otherwise be missed);
//! - when the pub/sub connection comes back after being lost;
//! - when another node could not publish: it keeps the channel and, once a
//!   `PUBLISH` works again, sends a resync notice on it.
//!
//! `typing`, `join` and `leave` are ephemeral and may be missed across
//! nodes in those moments, as the hub contract allows.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::{ChatEvent, Hub, LocalHub};
use crate::engine::redis::{open_pubsub, Backend, Settings, RESPONSE_TIMEOUT};

/// Topic prefix; the channel id follows.
const TOPIC_PREFIX: &str = "malten:chat:";
/// How often topics without local subscribers are left and the pub/sub
/// connection is pinged.
const SWEEP: Duration = Duration::from_secs(5);
/// The longest pause between attempts to reconnect or re-publish.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What goes over Redis: an event (`None`: "resync", after a failed
/// publish) and the node it comes from.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    event: Option<ChatEvent>,
}

/// The hub of a node whose streams are in Redis (`--redis-url`).
pub struct RedisHub {
    node: String,
    local: std::sync::Arc<LocalHub>,
    outgoing: mpsc::UnboundedSender<(String, Envelope)>,
    subscribe: mpsc::UnboundedSender<String>,
}

impl RedisHub {
    /// Starts the publishing and subscribing tasks (they end when the hub
    /// is dropped). `node` tells this node's own events apart.
    pub fn start(settings: Settings, backend: Backend, node: String) -> Self {
        let local = std::sync::Arc::new(LocalHub::default());
        // Unbounded: `Hub::publish` must not wait, and what is queued is
        // bounded by the rate limits of the requests that publish.
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let (subscribe, subscribe_rx) = mpsc::unbounded_channel();
        tokio::spawn(publish_loop(backend, node.clone(), outgoing_rx));
        tokio::spawn(subscribe_loop(
            settings,
            node.clone(),
            std::sync::Arc::clone(&local),
            subscribe_rx,
        ));
        Self {
            node,
            local,
            outgoing,
            subscribe,
        }
    }
}

impl Hub for RedisHub {
    fn publish(&self, channel_id: &str, event: ChatEvent) {
        if matches!(event, ChatEvent::Resync) {
            // Local only: each node decides by itself when it must resync.
            return self.local.publish(channel_id, event);
        }
        self.local.publish(channel_id, event.clone());
        let envelope = Envelope {
            node: self.node.clone(),
            event: Some(event),
        };
        let _ = self.outgoing.send((channel_id.to_owned(), envelope));
    }

    fn subscribe(&self, channel_id: &str) -> broadcast::Receiver<ChatEvent> {
        let receiver = self.local.subscribe(channel_id);
        let _ = self.subscribe.send(channel_id.to_owned());
        receiver
    }
}

fn topic(channel_id: &str) -> String {
    format!("{TOPIC_PREFIX}{channel_id}")
}

/// Publishes in order. A channel whose event could not be published is
/// remembered and gets a resync notice as soon as Redis answers again.
async fn publish_loop(
    backend: Backend,
    node: String,
    mut outgoing: mpsc::UnboundedReceiver<(String, Envelope)>,
) {
    let mut owed: HashSet<String> = HashSet::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        let next = if owed.is_empty() {
            outgoing.recv().await
        } else {
            // Retry the notices now and then while waiting for events.
            match tokio::time::timeout(backoff, outgoing.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    owed = retry_notices(&backend, &node, owed).await;
                    backoff = if owed.is_empty() {
                        Duration::from_millis(50)
                    } else {
                        (backoff * 2).min(MAX_BACKOFF)
                    };
                    continue;
                }
            }
        };
        let Some((channel_id, envelope)) = next else {
            return;
        };
        if !publish(&backend, &channel_id, &envelope).await {
            owed.insert(channel_id);
        }
    }
}

async fn retry_notices(backend: &Backend, node: &str, owed: HashSet<String>) -> HashSet<String> {
    let mut still_owed = HashSet::new();
    for channel_id in owed {
        let notice = Envelope {
            node: node.to_owned(),
            event: None,
        };
        if !publish(backend, &channel_id, &notice).await {
            still_owed.insert(channel_id);
        }
    }
    still_owed
}

async fn publish(backend: &Backend, channel_id: &str, envelope: &Envelope) -> bool {
    let payload = match serde_json::to_string(envelope) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::error!(error = %err, "chat: cannot encode an event");
            return true;
        }
    };
    let mut command = redis::cmd("PUBLISH");
    command.arg(topic(channel_id)).arg(payload);
    match backend.cmd::<i64>(&command).await {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(channel = %channel_id, error = %err, "chat: could not publish an event to other nodes; will resync them");
            false
        }
    }
}

/// Keeps a pub/sub connection subscribed to the topics of the channels
/// with local subscribers, and hands what arrives to them.
async fn subscribe_loop(
    settings: Settings,
    node: String,
    local: std::sync::Arc<LocalHub>,
    mut requests: mpsc::UnboundedReceiver<String>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut first = true;
    loop {
        if requests.is_closed() {
            return;
        }
        let (mut sink, mut messages) = match open_pubsub(&settings).await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                tracing::debug!(error = %err, "chat: redis pub/sub unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if !first {
            tracing::info!("chat: subscribed to redis again");
        }
        first = false;
        let mut subscribed: HashSet<String> = HashSet::new();
        // Requests queued meanwhile are among the active channels.
        while requests.try_recv().is_ok() {}
        // Whatever was published while not subscribed is unknown.
        let mut pending: Vec<String> = local.active_channels();
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.reset();
        'connected: loop {
            for channel_id in pending.drain(..) {
                if subscribed.contains(&channel_id) || !local.is_active(&channel_id) {
                    continue;
                }
                let acknowledged =
                    tokio::time::timeout(RESPONSE_TIMEOUT, sink.subscribe(topic(&channel_id)))
                        .await;
                if !matches!(acknowledged, Ok(Ok(()))) {
                    break 'connected;
                }
                subscribed.insert(channel_id.clone());
                local.publish(&channel_id, ChatEvent::Resync);
            }
            tokio::select! {
                request = requests.recv() => match request {
                    Some(channel_id) => pending.push(channel_id),
                    // The hub is gone.
                    None => return,
                },
                message = messages.next() => match message {
                    Some(message) => deliver(&node, &local, message.get_channel_name(), message.get_payload_bytes()),
                    None => break 'connected,
                },
                _ = sweep.tick() => {
                    let idle: Vec<String> = subscribed
                        .iter()
                        .filter(|channel_id| !local.is_active(channel_id))
                        .cloned()
                        .collect();
                    for channel_id in idle {
                        if !matches!(tokio::time::timeout(RESPONSE_TIMEOUT, sink.unsubscribe(topic(&channel_id))).await, Ok(Ok(()))) {
                            break 'connected;
                        }
                        subscribed.remove(&channel_id);
                    }
                    if !matches!(tokio::time::timeout(RESPONSE_TIMEOUT * 2, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                        break 'connected;
                    }
                }
            }
        }
        tracing::warn!("chat: lost the redis subscription; reconnecting");
    }
}

/// Hands one pub/sub message to the channel's local subscribers, unless it
/// is this node's own (already delivered).
fn deliver(node: &str, local: &LocalHub, topic_name: &str, payload: &[u8]) {
    let Some(channel_id) = topic_name.strip_prefix(TOPIC_PREFIX) else {
        return;
    };
    let envelope: Envelope = match serde_json::from_slice(payload) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(channel = %channel_id, error = %err, "chat: an unreadable event from redis; resyncing");
            return local.publish(channel_id, ChatEvent::Resync);
        }
    };
    if envelope.node == node {
        return;
    }
    local.publish(channel_id, envelope.event.unwrap_or(ChatEvent::Resync));
}

#[cfg(test)]
mod tests;
