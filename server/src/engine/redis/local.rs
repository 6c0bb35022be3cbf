//! One stream as this node's subscribers see it: the [`Local`] the hub
//! keeps per stream with local subscribers, and its cache of recent
//! messages. Apart from the hub because it is the part every delivery goes
//! through (subscriptions read it, pub/sub fills it), and it needs no Redis.
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

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::wire::{Cursor, Message};
use malten_shared::StreamName;
use tokio::sync::{broadcast, watch};

use crate::engine::{PartialEvent, Stored};

/// Messages each stream's cache keeps: enough for every reader that keeps
/// up (a batch is at most 256), small enough that a node's memory stays
/// bounded by its streams with subscribers (at most about 300 KiB each);
/// readers further behind read Redis.
const CACHE_CAPACITY: usize = MAX_MESSAGES_PER_STREAM / 4;
/// Partials buffered per subscriber, as in memory.
const PARTIALS_BUFFER: usize = 256;

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
    pub(super) partials: broadcast::Sender<Arc<PartialEvent>>,
    /// Local subscriptions; changed only under the hub's map lock.
    pub(super) subscribers: AtomicUsize,
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
    pub(super) fn new(name: StreamName) -> Self {
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

    pub(super) fn message(&self, prev: Cursor, message: Message) {
        let created = message.created;
        let stored = Arc::new(Stored::new(message, tokio::time::Instant::now()));
        self.cache().received(prev, stored);
        self.signal.send_modify(|signal| {
            signal.newest = signal.newest.max(created);
        });
    }

    pub(super) fn observers(&self, observers: usize) {
        self.signal.send_if_modified(|signal| {
            let changed = signal.observers != observers;
            signal.observers = observers;
            changed
        });
    }
}

#[cfg(test)]
mod tests;
