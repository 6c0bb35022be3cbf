//! Live notification of channel events: the seam between the chat API and
//! whatever carries events between nodes.
//!
//! The chat API only needs two things: publish an event for a channel, and
//! subscribe to a channel's events. [`Hub`] is exactly that. The database
//! stays the source of truth for messages: a subscriber that falls behind
//! (or any event lost by a hub) is recovered by replaying from the database
//! by `seq`, so a hub may be lossy, and only `typing`, `join` and `leave`,
//! which are ephemeral, can be missed.
//!
//! [`LocalHub`] delivers within this process; [`RedisHub`] (in `redis.rs`)
//! also carries events between nodes that share a database and a Redis.
//! A hub that may have missed events (a lost connection, a late
//! subscription) says so with [`ChatEvent::Resync`]: subscribers then catch
//! up from the database, so no message is lost for good.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::model::{Message, Participant};

mod redis;

pub use self::redis::RedisHub;

/// Events buffered per channel for a slow subscriber before it lags (and
/// then resyncs messages from the database).
const CHANNEL_CAPACITY: usize = 256;

/// Something that happened in a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ChatEvent {
    Message(Message),
    Typing {
        user_id: String,
        participant_id: String,
    },
    Join(Participant),
    Leave(Participant),
    /// The channel was deleted: subscribers end their connections.
    Deleted,
    /// Events may have been missed (not a client-facing event): catch up
    /// on messages from the database.
    #[serde(skip)]
    Resync,
}

/// Publish and subscribe per channel. Implementations must be cheap to call
/// from request handlers (publishing never waits for subscribers).
pub trait Hub: Send + Sync + 'static {
    fn publish(&self, channel_id: &str, event: ChatEvent);
    fn subscribe(&self, channel_id: &str) -> broadcast::Receiver<ChatEvent>;
}

/// The in-process hub: one broadcast channel per channel with subscribers.
#[derive(Default)]
pub struct LocalHub {
    channels: Mutex<HashMap<String, broadcast::Sender<ChatEvent>>>,
}

impl LocalHub {
    /// The channels that have subscribers now.
    pub fn active_channels(&self) -> Vec<String> {
        let channels = self.channels.lock().expect("hub lock");
        channels
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether `channel_id` has subscribers now.
    pub fn is_active(&self, channel_id: &str) -> bool {
        let channels = self.channels.lock().expect("hub lock");
        channels
            .get(channel_id)
            .is_some_and(|sender| sender.receiver_count() > 0)
    }
}

impl Hub for LocalHub {
    fn publish(&self, channel_id: &str, event: ChatEvent) {
        let mut channels = self.channels.lock().expect("hub lock");
        if let Some(sender) = channels.get(channel_id) {
            if sender.send(event).is_err() {
                // Nobody listens any more: forget the channel.
                channels.remove(channel_id);
            }
        }
    }

    fn subscribe(&self, channel_id: &str) -> broadcast::Receiver<ChatEvent> {
        let mut channels = self.channels.lock().expect("hub lock");
        channels.retain(|_, sender| sender.receiver_count() > 0);
        channels
            .entry(channel_id.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_their_channel_only() {
        let hub = LocalHub::default();
        let mut a = hub.subscribe("chn_a");
        let mut b = hub.subscribe("chn_b");
        hub.publish(
            "chn_a",
            ChatEvent::Typing {
                user_id: "usr_1".into(),
                participant_id: "prt_1".into(),
            },
        );
        assert!(matches!(a.recv().await.unwrap(), ChatEvent::Typing { .. }));
        assert!(b.try_recv().is_err());
    }
}
