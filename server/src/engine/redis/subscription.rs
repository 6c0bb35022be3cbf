//! A live reader of one stream held in Redis: the same cursor rules as the
//! memory store's subscription, over the node's cache and Redis.
//!
//! A subscription is a cursor. It reads the node's cache of the stream
//! (`local.rs`) after its cursor; when the cache cannot answer (the cursor is
//! older than what it holds: a resume from far back, or a reader that fell
//! more than 256 messages behind), it reads the next batch from Redis,
//! which also tells it whether messages after its cursor were dropped (a
//! `gap`, as in memory) or belong to a former life of the stream (a cursor
//! older than the stream's creation, e.g. from before Redis restarted
//! empty: a `gap` too, never a silent mix of old and new cursors).
//!
//! Partials are held back until the messages before them are delivered, as
//! in memory. When the node loses its Redis subscription the reader ends
//! with a `backend_unavailable` system notice, so the client reconnects
//! with its cursor.

use std::sync::Arc;

use malten_shared::wire::{Cursor, Gap, Presence, SystemNotice};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use super::local::{Local, Signal};
use super::RedisEngine;
use crate::engine::{Delivery, PartialEvent, Stored};

/// Most messages handed to a transport at once, as in memory.
const MAX_BATCH: usize = 256;

#[derive(Debug)]
pub struct Subscription {
    engine: Arc<RedisEngine>,
    local: Arc<Local>,
    cursor: Cursor,
    signal: watch::Receiver<Signal>,
    partials: broadcast::Receiver<Arc<PartialEvent>>,
    pending_partial: Option<Arc<PartialEvent>>,
    shutdown: watch::Receiver<bool>,
    generation: watch::Receiver<u64>,
    /// The generation this subscription began in; any other means the node
    /// lost its Redis subscription meanwhile.
    began_in: u64,
    announced_observers: Option<usize>,
    finished: bool,
}

impl Subscription {
    pub(super) fn new(
        engine: Arc<RedisEngine>,
        local: Arc<Local>,
        cursor: Cursor,
        generation: watch::Receiver<u64>,
    ) -> Self {
        let began_in = *generation.borrow();
        Self {
            signal: local.watch(),
            partials: local.subscribe_partials(),
            shutdown: engine.watch_shutdown(),
            engine,
            local,
            cursor,
            pending_partial: None,
            began_in,
            generation,
            announced_observers: None,
            finished: false,
        }
    }

    /// Whether the node lost its Redis subscription since this one began.
    pub(super) fn generation_changed(&self) -> bool {
        *self.generation.borrow() != self.began_in
    }

    /// Sets the starting cursor, once the stream's position is known.
    pub(super) fn start_at(&mut self, cursor: Cursor) {
        self.cursor = cursor;
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if self.finished {
                return None;
            }
            if *self.shutdown.borrow_and_update() {
                self.finished = true;
                return Some(Delivery::shutdown());
            }
            if self.generation_changed() {
                return Some(self.lost());
            }
            let signal = *self.signal.borrow_and_update();
            if self.announced_observers.is_none() {
                return Some(self.presence(signal.observers));
            }
            if self.pending_partial.is_none() {
                self.pending_partial = self.try_partial();
            }
            if let Some(partial) = self.pending_partial.take() {
                if partial.after > self.cursor {
                    match self.read(Some(partial.after)).await {
                        Ok(Some(delivery)) => {
                            self.pending_partial = Some(partial);
                            return Some(delivery);
                        }
                        Ok(None) => {}
                        Err(()) => return Some(self.lost()),
                    }
                }
                return Some(Delivery::Partial(partial));
            }
            if signal.newest > self.cursor {
                match self.read(None).await {
                    Ok(Some(delivery)) => return Some(delivery),
                    Ok(None) => {}
                    Err(()) => return Some(self.lost()),
                }
            }
            if self.announced_observers != Some(signal.observers) {
                return Some(self.presence(signal.observers));
            }
            tokio::select! {
                _ = self.signal.changed() => {}
                _ = self.shutdown.changed() => {}
                _ = self.generation.changed() => {}
                partial = self.partials.recv() => match partial {
                    Ok(partial) => self.pending_partial = Some(partial),
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::debug!(stream = %self.local.name, skipped, "slow subscriber skipped partials");
                    }
                    Err(RecvError::Closed) => self.finished = true,
                },
            }
        }
    }

    fn try_partial(&mut self) -> Option<Arc<PartialEvent>> {
        loop {
            match self.partials.try_recv() {
                Ok(partial) => return Some(partial),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    fn presence(&mut self, observers: usize) -> Delivery {
        self.announced_observers = Some(observers);
        Delivery::Presence(Presence {
            stream: self.local.name.clone(),
            observers,
        })
    }

    fn end(&mut self, code: &str, text: &str) -> Delivery {
        self.finished = true;
        Delivery::Shutdown(SystemNotice {
            code: code.into(),
            text: text.into(),
        })
    }

    fn lost(&mut self) -> Delivery {
        self.end(
            "backend_unavailable",
            "The message backend is unavailable; reconnect in a moment.",
        )
    }

    /// The next batch after the cursor (only up to `until` if given), from
    /// the cache or else from Redis. `Err` when Redis cannot be read.
    async fn read(&mut self, until: Option<Cursor>) -> Result<Option<Delivery>, ()> {
        let mut items = match self.local.cached_after(self.cursor, MAX_BATCH) {
            Some(items) => items,
            None => match self.read_redis().await? {
                Fetched::Gap(gap) => return Ok(Some(gap)),
                Fetched::Messages(items) => items,
            },
        };
        if let Some(until) = until {
            items.retain(|stored| stored.message.created <= until);
        }
        let Some(last) = items.last() else {
            return Ok(None);
        };
        self.cursor = last.message.created;
        self.engine.metrics.deliveries.inc_by(items.len() as u64);
        Ok(Some(Delivery::Messages(items)))
    }

    async fn read_redis(&mut self) -> Result<Fetched, ()> {
        let read = self
            .engine
            .read_after(&self.local.name, self.cursor, MAX_BATCH)
            .await
            .map_err(|err| {
                tracing::debug!(stream = %self.local.name, error = %err, "subscriber could not read redis");
            })?;
        let Some(read) = read else {
            // The stream is gone (expired, or Redis restarted empty) while
            // subscribed: what follows is a new stream.
            return Err(());
        };
        // A cursor older than the stream itself comes from a former stream
        // of this name (or from before Redis restarted empty).
        let mut dropped_through = read.dropped_through;
        if self.cursor != Cursor::START && self.cursor < read.born {
            dropped_through = dropped_through.max(read.born);
        }
        if dropped_through > self.cursor {
            let gap = Gap {
                stream: self.local.name.clone(),
                after: self.cursor,
                available_from: read
                    .messages
                    .iter()
                    .map(|stored| stored.message.created)
                    .find(|created| *created > dropped_through),
            };
            self.cursor = dropped_through;
            self.engine.metrics.gaps.inc();
            return Ok(Fetched::Gap(Delivery::Gap(gap)));
        }
        Ok(Fetched::Messages(read.messages))
    }
}

enum Fetched {
    Gap(Delivery),
    Messages(Vec<Arc<Stored>>),
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.engine.hub.unregister(&self.local);
    }
}
