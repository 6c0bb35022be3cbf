//! Walking a stream's sinks: how a post reaches the subscribers that lent
//! their sockets to posters (`direct`).
//!
//! # Rounds
//! A *round* brings every sink of the stream up to the newest message when
//! it began (its *target*), each with one write of everything that sink
//! lacks. At most one round runs per stream. Posts stored while a round
//! runs are left to the next, so the messages of several publishers reach
//! a subscriber together, in one write, as they would from Redis's event
//! loop; the last walker of a round starts the next one if there are such
//! posts.
//!
//! # Walkers
//! The poster that finds no round running begins one and walks it, with a
//! helper task per other runtime worker: the walkers claim the sinks
//! [`SINKS_PER_CLAIM`] at a time, so a round over a thousand sockets is
//! written by every core, not one. Rounds after a poster's are walked by
//! spawned tasks only, so no poster's answer waits for other people's
//! messages.
//!
//! # When a post is answered
//! Once a round covering it has begun (and, for the subscribers that are
//! woken instead, once `pacing` says so). The round writes without ever
//! waiting for a socket, so it ends within one pass over the sinks;
//! answering then lets the next posts arrive while it runs, which is what
//! fills the next round's batch. Each publisher is thus at most one round
//! ahead of delivery.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::{fmt, pin::pin};

use malten_shared::wire::Cursor;
use tokio::runtime::Handle;

use super::direct::DirectSink;
use super::stream::{State, Stored, Stream};
use crate::metrics::Metrics;

/// Most messages one write carries (as `Subscription::read_ring`).
const MAX_BATCH: usize = 256;

/// Sinks a walker claims at once; between claims it gives other tasks a
/// turn when its budget says so.
pub(super) const SINKS_PER_CLAIM: usize = 64;

/// One round, shared by its walkers.
struct Round {
    sinks: Arc<[Arc<DirectSink>]>,
    target: Cursor,
    /// The first sink no walker has claimed yet.
    next: AtomicUsize,
    /// Walkers that have not finished; the last to finish ends the round.
    walkers: AtomicUsize,
}

/// Begins a round up to the stream's newest message, unless one is
/// running; it counts one walker per runtime worker (fewer for few sinks).
fn begin(state: &mut State) -> Option<Arc<Round>> {
    if state.sinks.walking {
        return None;
    }
    let sinks = state.sinks.snapshot();
    let claims = sinks.len().div_ceil(SINKS_PER_CLAIM).max(1);
    let workers = Handle::try_current().map_or(1, |runtime| runtime.metrics().num_workers());
    state.sinks.walking = true;
    state.sinks.started_through = state.newest;
    Some(Arc::new(Round {
        sinks,
        target: state.newest,
        next: AtomicUsize::new(0),
        walkers: AtomicUsize::new(workers.clamp(1, claims)),
    }))
}

/// One walker's part in a round.
struct Walker {
    round: Arc<Round>,
    /// Ring reads by the cursor they follow (`None`: the ring no longer
    /// has what follows it); most sinks share the previous round's target.
    reads: Vec<(Cursor, Option<Vec<Arc<Stored>>>)>,
}

impl Walker {
    fn new(round: Arc<Round>) -> Self {
        Self {
            round,
            reads: Vec::new(),
        }
    }

    /// Claims and writes the next sinks; `false` once none are left.
    fn walk_claim(&mut self, stream: &Stream, metrics: &Metrics) -> bool {
        let round = Arc::clone(&self.round);
        let start = round.next.fetch_add(SINKS_PER_CLAIM, Ordering::Relaxed);
        if start >= round.sinks.len() {
            return false;
        }
        let end = (start + SINKS_PER_CLAIM).min(round.sinks.len());
        let (mut delivered, mut writes) = (0, 0);
        for sink in &round.sinks[start..end] {
            let messages = sink.deliver(stream, round.target, |cursor| {
                read_after(&mut self.reads, stream, round.target, cursor)
            });
            delivered += messages;
            writes += u64::from(messages > 0);
        }
        metrics.deliveries.inc_by(delivered);
        metrics.direct_writes.inc_by(writes);
        true
    }

    /// Writes every sink left, without yielding.
    fn walk_all(&mut self, stream: &Stream, metrics: &Metrics) {
        while self.walk_claim(stream, metrics) {}
    }

    /// Leaves the round; returns whether this was its last walker.
    fn finish(self) -> bool {
        self.round.walkers.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// What follows `cursor` in the ring up to `target`, read once per cursor.
fn read_after<'a>(
    reads: &'a mut Vec<(Cursor, Option<Vec<Arc<Stored>>>)>,
    stream: &Stream,
    target: Cursor,
    cursor: Cursor,
) -> Option<&'a [Arc<Stored>]> {
    let at = match reads.iter().position(|(read, _)| *read == cursor) {
        Some(at) => at,
        None => {
            let state = stream.lock();
            let after = state.ring.after(cursor, MAX_BATCH);
            let items = after.gap_through.is_none().then(|| {
                after
                    .items
                    .into_iter()
                    .take_while(|stored| stored.message.created <= target)
                    .cloned()
                    .collect()
            });
            drop(state);
            reads.push((cursor, items));
            reads.len() - 1
        }
    };
    reads[at].1.as_deref()
}

/// A spawned walker: walks its share, and if it is the last, goes on.
async fn walk_spawned(stream: Arc<Stream>, metrics: Arc<Metrics>, round: Arc<Round>) {
    let mut walker = Walker::new(round);
    while walker.walk_claim(&stream, &metrics) {
        tokio::task::consume_budget().await;
    }
    if walker.finish() {
        after_round(&stream, &metrics);
    }
}

/// Spawns `count` walkers for `round`.
fn spawn_walkers(
    runtime: &Handle,
    stream: &Arc<Stream>,
    metrics: &Arc<Metrics>,
    round: &Arc<Round>,
    count: usize,
) {
    for _ in 0..count {
        runtime.spawn(walk_spawned(
            Arc::clone(stream),
            Arc::clone(metrics),
            Arc::clone(round),
        ));
    }
}

/// Called by a round's last walker: begins the next round if posts came
/// meanwhile, walked by spawned tasks (or here, outside a runtime).
fn after_round(stream: &Arc<Stream>, metrics: &Arc<Metrics>) {
    loop {
        let mut state = stream.lock();
        state.sinks.walking = false;
        let next = (state.newest > state.sinks.started_through && !state.sinks.is_empty())
            .then(|| begin(&mut state))
            .flatten();
        drop(state);
        // Posters waiting for a round look again (if there is none, their
        // sinks have all left and they need not wait).
        stream.round_started.notify_waiters();
        let Some(round) = next else {
            return;
        };
        match Handle::try_current() {
            Ok(runtime) => {
                let walkers = round.walkers.load(Ordering::Relaxed);
                spawn_walkers(&runtime, stream, metrics, &round, walkers);
                return;
            }
            Err(_) => {
                let mut walker = Walker::new(round);
                walker.walk_all(stream, metrics);
                if !walker.finish() {
                    return;
                }
            }
        }
    }
}

/// A post's part in the walk (see the module doc).
pub(super) struct DirectHandOut {
    /// The post's message.
    created: Cursor,
    /// This poster's share of a round it began.
    walker: Option<Walker>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for DirectHandOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectHandOut")
            .field("created", &self.created)
            .field("walking", &self.walker.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a post stands in the walk.
enum Part {
    /// A round covering it has begun.
    Covered,
    /// No round is running: this one is the poster's to walk.
    Walk(Arc<Round>),
    /// A round not covering it is running: the next one will.
    Wait,
}

impl DirectHandOut {
    pub(super) fn new(created: Cursor, metrics: Arc<Metrics>) -> Self {
        Self {
            created,
            walker: None,
            metrics,
        }
    }

    /// Returns once a round covering this post has begun, walking it (with
    /// helpers) if no round was running.
    pub(super) async fn deliver(&mut self, stream: &Arc<Stream>) {
        loop {
            if let Some(walker) = self.walker.as_mut() {
                if walker.walk_claim(stream, &self.metrics) {
                    tokio::task::consume_budget().await;
                    continue;
                }
                self.finish_walking(stream);
                return;
            }
            let mut started = pin!(stream.round_started.notified());
            // Registered before looking, so a round beginning in between
            // is not missed.
            started.as_mut().enable();
            match self.take_part(stream) {
                Part::Covered => return,
                Part::Wait => started.await,
                Part::Walk(round) => {
                    if self.walk_with_helpers(stream, round) {
                        // Off this worker, so the helper (next in its
                        // queue) and this task walk on two cores.
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
    }

    /// Makes sure this post gets written without waiting (a hand-out
    /// dropped before `deliver` finished): finishes this poster's share
    /// of a round, or walks one now if none is running. A running round
    /// not covering it is followed by one that does.
    pub(super) fn deliver_now(&mut self, stream: &Arc<Stream>) {
        if self.walker.is_none() {
            let Part::Walk(round) = self.take_part(stream) else {
                return;
            };
            self.walk_with_helpers(stream, round);
        }
        if let Some(walker) = self.walker.as_mut() {
            walker.walk_all(stream, &self.metrics);
            self.finish_walking(stream);
        }
    }

    fn take_part(&self, stream: &Stream) -> Part {
        let mut state = stream.lock();
        if state.sinks.started_through >= self.created {
            return Part::Covered;
        }
        let Some(round) = begin(&mut state) else {
            return Part::Wait;
        };
        drop(state);
        stream.round_started.notify_waiters();
        Part::Walk(round)
    }

    /// Becomes a walker of `round` and spawns the others; returns whether
    /// there are others.
    fn walk_with_helpers(&mut self, stream: &Arc<Stream>, round: Arc<Round>) -> bool {
        let helpers = round.walkers.load(Ordering::Relaxed) - 1;
        if helpers > 0 {
            let runtime = Handle::current();
            spawn_walkers(&runtime, stream, &self.metrics, &round, helpers);
        }
        self.walker = Some(Walker::new(round));
        helpers > 0
    }

    fn finish_walking(&mut self, stream: &Arc<Stream>) {
        if let Some(walker) = self.walker.take() {
            if walker.finish() {
                after_round(stream, &self.metrics);
            }
        }
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
