//! A live reader of one stream, shared by the SSE and WebSocket transports.
//!
//! A subscription is only a cursor. Live delivery and replay after reconnect
//! are the same operation, "read the ring after my cursor", so there can be
//! no duplicate and no hole between the two. The stream's watch channel only
//! says "something changed"; a reader that is slow simply reads a bigger
//! batch next time, and never slows the writer or other readers. If the ring
//! dropped messages the reader had not seen, it gets a `Delivery::Gap`
//! saying so and continues from the oldest retained message.
//!
//! Partial events (previews of an LLM reply) are the one exception: they come
//! from a bounded broadcast side channel, are never replayed, and a lagging
//! reader skips the ones it missed. They are previews of a reply that is then
//! stored as an ordinary message, so the lossless rule still holds for
//! everything that is part of the stream. Each partial is stamped with the
//! stream's newest cursor when it was sent, and is held back until the reader
//! has been given every message up to that cursor, so a reader sees the
//! events of the two channels in the order they happened (the command, its
//! partials, the stored reply, the final `done` partial).

use std::sync::Arc;

use malten_shared::wire::{Cursor, Gap, Presence};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use std::sync::atomic::Ordering;

use malten_shared::StreamName;

use super::direct::{self, DirectSink, Lending};
use super::stream::{PartialEvent, Signal, Stored, Stream};
use super::{Store, StoreError};
use crate::engine::Delivery;

/// Most messages handed to a transport at once, so one huge backlog cannot
/// monopolise a connection's task.
const MAX_BATCH: usize = 256;

/// The subscribers a pipe admits: its two ends.
pub const PIPE_ENDS: usize = 2;

impl Store {
    /// Subscribes to a stream, creating it unlisted if needed. `after` resumes
    /// from a cursor; `None` starts with the next new message. A cursor the
    /// stream cannot have issued is refused before anything is created.
    pub fn subscribe(
        self: &Arc<Self>,
        name: &StreamName,
        after: Option<Cursor>,
    ) -> Result<Subscription, StoreError> {
        if let Some(after) = after {
            self.check_cursor(name, after)?;
        }
        loop {
            let stream = self.get_or_create(name)?;
            let mut state = stream.lock();
            if state.removed {
                continue;
            }
            if stream.pipe && state.observers >= PIPE_ENDS {
                return Err(StoreError::PipeFull);
            }
            state.observers += 1;
            if stream.pipe && state.observers == PIPE_ENDS {
                state.paired = true;
            }
            let cursor = after.unwrap_or(state.newest);
            stream.notify(&state);
            drop(state);
            self.gauges.subscribers.fetch_add(1, Ordering::Relaxed);
            return Ok(Subscription::new(Arc::clone(self), stream, cursor));
        }
    }

    pub(crate) fn unsubscribed(&self, stream: &Arc<Stream>) {
        let mut state = stream.lock();
        state.observers -= 1;
        stream.notify(&state);
        if stream.pipe && state.paired && state.observers == 0 && !state.removed {
            self.remove(stream, &mut state);
            tracing::debug!(stream = %stream.name, "pipe closed by both ends");
        }
        drop(state);
        self.gauges.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct Subscription {
    store: Arc<Store>,
    stream: Arc<Stream>,
    cursor: Cursor,
    signal: watch::Receiver<Signal>,
    partials: broadcast::Receiver<Arc<PartialEvent>>,
    /// A partial received but not yet delivered, because messages sent
    /// before it have not been delivered yet.
    pending_partial: Option<Arc<PartialEvent>>,
    shutdown: watch::Receiver<bool>,
    announced_observers: Option<usize>,
    finished: bool,
    /// The socket this subscription lends to posters while it waits, if
    /// its transport has one (`direct`).
    direct: Option<Lender>,
}

/// A subscription's side of direct delivery.
#[derive(Debug)]
struct Lender {
    sink: Arc<DirectSink>,
    /// Lent now (posters may write to the sink).
    lent: bool,
    /// The stream's observer count, watched instead of the signal while
    /// lent, so posts do not wake this subscription.
    presence: watch::Receiver<usize>,
}

impl Subscription {
    pub(super) fn new(store: Arc<Store>, stream: Arc<Stream>, cursor: Cursor) -> Self {
        let signal = stream.watch();
        let partials = stream.subscribe_partials();
        let shutdown = store.watch_shutdown();
        Self {
            store,
            stream,
            cursor,
            signal,
            partials,
            pending_partial: None,
            shutdown,
            announced_observers: None,
            finished: false,
            direct: None,
        }
    }

    /// Lets posters write new messages straight to `sink` while this
    /// subscription waits for news (`direct`), instead of waking it.
    /// Returns `false` where that is not done: in a pipe, whose messages
    /// are counted as each end reads them.
    pub fn attach(&mut self, sink: Arc<DirectSink>) -> bool {
        if self.stream.pipe || self.direct.is_some() {
            return false;
        }
        self.stream.lock().sinks.join(Arc::clone(&sink));
        self.direct = Some(Lender {
            sink,
            lent: false,
            presence: self.stream.watch_presence(),
        });
        true
    }

    /// Takes the sink back from posters, if it is lent: the cursor moves
    /// past what they wrote. Returns the messages of a delivery a poster
    /// left unfinished, which the transport must finish first (the sink
    /// says how many bytes went out already).
    pub fn withdraw(&mut self) -> Option<Vec<Arc<Stored>>> {
        let lender = self.direct.as_mut()?;
        if !lender.lent {
            return None;
        }
        lender.lent = false;
        let (cursor, unfinished) = direct::withdraw(&lender.sink);
        self.cursor = self.cursor.max(cursor);
        unfinished.map(|unfinished| unfinished.messages)
    }

    /// The position after everything delivered so far: what a client sends
    /// back as `Last-Event-ID` to resume.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Waits for the next delivery; `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(messages) = self.withdraw() {
                return Some(Delivery::Messages(messages));
            }
            if self.finished {
                return None;
            }
            if *self.shutdown.borrow_and_update() {
                self.finished = true;
                return Some(Delivery::shutdown());
            }
            // Read before the signal and the partials, so a change after
            // these reads is seen while lent (see `direct`).
            let partials_sent = self.stream.partials_sent();
            if let Some(lender) = self.direct.as_mut() {
                lender.presence.borrow_and_update();
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
                    if let Some(delivery) = self.read_ring(Some(partial.after)) {
                        self.pending_partial = Some(partial);
                        return Some(delivery);
                    }
                }
                return Some(Delivery::Partial(partial));
            }
            if signal.newest > self.cursor {
                if let Some(delivery) = self.read_ring(None) {
                    return Some(delivery);
                }
            }
            if self.announced_observers != Some(signal.observers) {
                return Some(self.presence(signal.observers));
            }
            if let Some(lender) = self.direct.as_mut() {
                match self
                    .stream
                    .lend(&lender.sink, self.cursor, signal.newest, partials_sent)
                {
                    Lending::Lent => {
                        lender.lent = true;
                        self.wait_lent().await;
                        continue;
                    }
                    Lending::Moved => {
                        lender.lent = true;
                        continue;
                    }
                    Lending::Refused => {}
                }
            }
            // Counted as waiting for news until woken (or dropped), so a
            // post is answered once we have taken it (`pacing`).
            let Some(_parked) = self.stream.park(signal.newest) else {
                continue;
            };
            let partial = tokio::select! {
                changed = self.signal.changed() => {
                    // The stream's sender lives as long as our `Arc<Stream>`,
                    // so this cannot fail; end quietly if it ever does.
                    if changed.is_err() {
                        self.finished = true;
                    }
                    None
                }
                _ = self.shutdown.changed() => None,
                partial = self.partials.recv() => Some(partial),
            };
            drop(_parked);
            if let Some(partial) = partial {
                self.received(partial);
            }
        }
    }

    /// Waits, with the sink lent, for anything posters do not deliver: the
    /// sink handed back, a presence change, a partial, the shutdown.
    async fn wait_lent(&mut self) {
        let Some(lender) = self.direct.as_mut() else {
            return;
        };
        tokio::select! {
            _ = lender.sink.woken.notified() => {}
            _ = lender.presence.changed() => {}
            _ = self.shutdown.changed() => {}
            partial = self.partials.recv() => self.received(partial),
        }
    }

    /// Keeps a partial received while waiting, for the next turn.
    fn received(&mut self, partial: Result<Arc<PartialEvent>, RecvError>) {
        match partial {
            Ok(partial) => self.pending_partial = Some(partial),
            Err(RecvError::Lagged(skipped)) => self.skipped(skipped),
            // The sender lives in the stream we hold; cannot happen.
            Err(RecvError::Closed) => self.finished = true,
        }
    }

    /// The next partial already sent, if any, without waiting.
    fn try_partial(&mut self) -> Option<Arc<PartialEvent>> {
        loop {
            match self.partials.try_recv() {
                Ok(partial) => return Some(partial),
                Err(TryRecvError::Lagged(skipped)) => self.skipped(skipped),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    fn skipped(&self, skipped: u64) {
        tracing::debug!(stream = %self.stream.name, skipped, "slow subscriber skipped partials");
    }

    fn presence(&mut self, observers: usize) -> Delivery {
        self.announced_observers = Some(observers);
        Delivery::Presence(Presence {
            stream: self.stream.name.clone(),
            observers,
        })
    }

    /// The next batch after the cursor; with `until`, only messages up to it.
    fn read_ring(&mut self, until: Option<Cursor>) -> Option<Delivery> {
        let state = self.stream.lock();
        let mut batch = state.ring.after(self.cursor, MAX_BATCH);
        if let Some(until) = until {
            batch.items.retain(|stored| stored.message.created <= until);
        }
        if let Some(dropped_through) = batch.gap_through {
            let gap = Gap {
                stream: self.stream.name.clone(),
                after: self.cursor,
                available_from: batch.items.first().map(|stored| stored.message.created),
            };
            drop(state);
            self.cursor = dropped_through;
            self.store.metrics().gaps.inc();
            return Some(Delivery::Gap(gap));
        }
        let items: Vec<Arc<Stored>> = batch.items.into_iter().cloned().collect();
        if self.stream.pipe && !items.is_empty() {
            drop(state);
            self.consume_read(&items);
        } else {
            drop(state);
        }
        let last = items.last()?;
        self.cursor = last.message.created;
        self.store.metrics().deliveries.inc_by(items.len() as u64);
        Some(Delivery::Messages(items))
    }
}

impl Subscription {
    /// A pipe keeps only what its ends have not both read: counts this
    /// delivery and drops the leading messages both ends now have.
    fn consume_read(&self, delivered: &[Arc<Stored>]) {
        for stored in delivered {
            stored.reads.fetch_add(1, Ordering::AcqRel);
        }
        let mut state = self.stream.lock();
        let both = PIPE_ENDS as u8;
        let consumed = state
            .ring
            .consume_while(|stored| stored.reads.load(Ordering::Acquire) >= both);
        drop(state);
        self.store.consumed(&consumed);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(lender) = &self.direct {
            direct::close(&lender.sink);
            self.stream.lock().sinks.leave(&lender.sink);
        }
        self.store.unsubscribed(&self.stream);
    }
}
