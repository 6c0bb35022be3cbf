//! The expiry task: drops messages older than their stream's TTL and
//! removes streams idle for longer than their TTL.
//!
//! Reads also drop expired messages on the spot, so what a client sees never
//! depends on when the sweeper last ran; the sweeper exists to free memory of
//! streams no one reads. A stream that has live subscribers is kept (its
//! messages still expire): removing it would cut the subscribers off from
//! the next post, which would silently create a new stream they are not on.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::stream::{State, Stream};
use super::Store;

/// How often the sweeper runs, as in the original Malten.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Runs the sweeper until the returned task is aborted.
pub fn spawn_sweeper(store: Arc<Store>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(SWEEP_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            store.sweep(Instant::now());
        }
    })
}

impl Store {
    /// Removes `stream` (locked by the caller as `state`) from the map and
    /// frees its messages.
    pub(super) fn remove(&self, stream: &Arc<Stream>, state: &mut State) {
        state.removed = true;
        // Lock order is stream, then map; nothing takes them the other way
        // round, so this cannot deadlock.
        let mut map = self.write_map();
        if map
            .get(&stream.name)
            .is_some_and(|current| Arc::ptr_eq(current, stream))
        {
            map.remove(&stream.name);
            self.release_stream();
        }
        drop(map);
        let remaining: Vec<_> = state.ring.drop_while(|_| true);
        self.release(&remaining);
    }

    /// One pass of expiry at time `now`.
    pub fn sweep(&self, now: Instant) {
        let streams: Vec<_> = self.read_map().values().cloned().collect();
        for stream in streams {
            let mut state = stream.lock();
            self.expire_old(&stream, &mut state);
            let idle = state.last_activity + stream.ttl <= now;
            if idle && state.observers == 0 && !state.removed {
                self.remove(&stream, &mut state);
                tracing::debug!(stream = %stream.name, "stream expired");
            }
        }
    }
}
