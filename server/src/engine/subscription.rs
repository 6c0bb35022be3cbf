//! A live reader of one stream, whatever the backend: what the SSE and
//! WebSocket transports hold.
//!
//! The backend's subscription sits in a private enum, so transports cannot
//! depend on which one it is, and a call to [`Subscription::next`] is one
//! `match` away from the backend's own `next`: no boxing and no extra
//! allocation per delivery.

use std::sync::Arc;

use malten_shared::wire::Cursor;

use super::{redis, Delivery, Stored};
use crate::store::{self, DirectSink};

/// One subscriber's position in one stream, and the way to wait for more.
/// Dropping it unsubscribes (the presence count goes down).
#[derive(Debug)]
pub struct Subscription(Backend);

#[derive(Debug)]
enum Backend {
    Memory(store::Subscription),
    Redis(redis::Subscription),
}

impl Subscription {
    pub(super) fn memory(subscription: store::Subscription) -> Self {
        Self(Backend::Memory(subscription))
    }

    pub(super) fn redis(subscription: redis::Subscription) -> Self {
        Self(Backend::Redis(subscription))
    }

    /// Waits for the next delivery; `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.0 {
            Backend::Memory(subscription) => subscription.next().await,
            // Boxed: waiting on Redis makes that future over a kilobyte,
            // and every idle connection of either backend would carry its
            // size inline (issue 17: memory per idle connection).
            Backend::Redis(subscription) => Box::pin(subscription.next()).await,
        }
    }

    /// Lets posters write new messages straight to `sink` while this
    /// subscription waits (`store/direct.rs`). Only the memory backend
    /// does; returns whether this one will.
    pub fn attach(&mut self, sink: Arc<DirectSink>) -> bool {
        match &mut self.0 {
            Backend::Memory(subscription) => subscription.attach(sink),
            Backend::Redis(_) => false,
        }
    }

    /// Takes an attached sink back from posters before the transport
    /// writes anything itself; returns a delivery a poster left
    /// unfinished, to finish first.
    pub fn withdraw(&mut self) -> Option<Vec<Arc<Stored>>> {
        match &mut self.0 {
            Backend::Memory(subscription) => subscription.withdraw(),
            Backend::Redis(_) => None,
        }
    }

    /// The position after everything delivered so far: what a client sends
    /// back as `Last-Event-ID` to resume.
    pub fn cursor(&self) -> Cursor {
        match &self.0 {
            Backend::Memory(subscription) => subscription.cursor(),
            Backend::Redis(subscription) => subscription.cursor(),
        }
    }
}
