//! Direct delivery: a post is written by its poster straight to the sockets
//! of the subscribers that were waiting for news, instead of waking each
//! subscriber's task to read the ring and write it.
//!
//! # Why
//! With one task per subscriber, a post to a room of a thousand costs a
//! thousand task wake-ups, polls and lock round-trips before the first
//! byte is written, and the writes are spread over tasks that the
//! scheduler runs one by one. Redis's event loop writes to every socket in
//! one pass. Here the posters do the same: a post is written to each
//! waiting subscriber's socket with one non-blocking vectored write, in
//! rounds over the stream's sinks that batch concurrent posts and use every
//! core (`walk`; issue 17: "a post costs one wake per stream, not one per
//! subscriber").
//!
//! # Who writes to a socket
//! A [`DirectSink`] is *lent* to posters only while its subscription is
//! caught up and waiting (see `Subscription::next`); posters write only
//! under the sink's lock and only while it is lent. Anything else (a
//! keep-alive, presence, a gap, a partial, the shutdown notice) is written
//! by the subscription's own task, which first takes the sink back
//! (`withdraw`). So the bytes of two deliveries never interleave, and the
//! sink's cursor, advanced under the same lock, says exactly what the
//! socket has been given: one order, no duplicates, no holes.
//!
//! When a poster cannot finish (the socket's buffer is full: a slow
//! reader), it leaves the rest of the delivery in the sink
//! ([`Unfinished`]), stops lending it and wakes its task, which writes the
//! rest when the socket drains. One slow reader costs a poster one write
//! attempt, never a wait. A sink behind by more than the ring holds, or
//! whose stream has sent a partial it has not delivered yet, is handed
//! back the same way, so the gap and the partials' order stay the
//! subscription's business.
//!
//! Only subscriptions whose transport writes to a socket it owns use this
//! (the SSE connections taken from hyper, `http/sse/socket.rs`); the others
//! are woken as before and counted by `pacing`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use malten_shared::wire::Cursor;
use tokio::sync::Notify;

use super::stream::{Stored, Stream};

/// What a transport does with messages a poster hands it.
pub trait DirectWriter: Send + Sync + 'static {
    /// Writes `messages` as one delivery, without waiting for the socket.
    fn try_write(&self, messages: &[Arc<Stored>]) -> Written;
}

/// How far a [`DirectWriter::try_write`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The whole delivery is in the socket's buffer.
    All,
    /// The socket took this many bytes of it, then would have blocked.
    Part(usize),
    /// The connection is gone.
    Failed,
}

/// A delivery a poster began and could not finish: its messages, and how
/// many bytes of it the socket took. The transport writes the rest before
/// anything else.
#[derive(Debug)]
pub struct Unfinished {
    pub messages: Vec<Arc<Stored>>,
    pub written: usize,
}

/// A subscriber's socket as posters see it.
pub struct DirectSink {
    writer: Box<dyn DirectWriter>,
    state: Mutex<SinkState>,
    /// Wakes the subscription's task when a poster hands the sink back.
    pub(super) woken: Notify,
    /// Set by posters when they write, cleared by the transport's
    /// keep-alive: a connection that just got a message needs no comment.
    wrote: AtomicBool,
}

#[derive(Debug)]
pub(super) struct SinkState {
    /// Posters may write.
    pub lent: bool,
    /// Never lent again: a write failed, or the subscription ended.
    pub closed: bool,
    /// The position after everything written to the socket.
    pub cursor: Cursor,
    /// The stream's partials count when lent (see [`Stream::partials_sent`]).
    pub partials: u64,
    pub unfinished: Option<Unfinished>,
    /// Bytes of the next delivery already written (the rest of an
    /// [`Unfinished`]), for the transport to skip.
    pub resume_at: usize,
}

impl DirectSink {
    pub fn new(writer: Box<dyn DirectWriter>) -> Arc<Self> {
        Arc::new(Self {
            writer,
            state: Mutex::new(SinkState {
                lent: false,
                closed: false,
                cursor: Cursor(0),
                partials: 0,
                unfinished: None,
                resume_at: 0,
            }),
            woken: Notify::new(),
            wrote: AtomicBool::new(false),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, SinkState> {
        // Every update is a few field stores; a panic cannot leave it torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many bytes of the delivery about to be written went out already
    /// (the rest of a poster's unfinished write); zero otherwise. Read once.
    pub fn take_resume_at(&self) -> usize {
        std::mem::take(&mut self.lock().resume_at)
    }

    /// Whether a poster wrote since the last call.
    pub fn wrote_since_last_asked(&self) -> bool {
        self.wrote.swap(false, Ordering::Relaxed)
    }

    /// Stops lending and wakes the subscription's task.
    fn hand_back(&self, mut state: MutexGuard<'_, SinkState>) {
        state.lent = false;
        drop(state);
        self.woken.notify_one();
    }
}

impl fmt::Debug for DirectSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectSink")
            .field("state", &*self.lock())
            .finish_non_exhaustive()
    }
}

/// A stream's sinks, and the state of the walk that writes posts to them
/// (`walk`), under the stream's lock.
#[derive(Debug, Default)]
pub(super) struct Sinks {
    members: Vec<Arc<DirectSink>>,
    /// Shared by the walks; rebuilt only after someone joined or left, so
    /// a round costs one reference count, not one per member.
    snapshot: Option<Arc<[Arc<DirectSink>]>>,
    /// A round is being walked.
    pub walking: bool,
    /// The target of the newest round begun: every post up to it is being
    /// (or has been) written to every sink lent.
    pub started_through: Cursor,
}

impl Sinks {
    pub(super) fn join(&mut self, sink: Arc<DirectSink>) {
        self.members.push(sink);
        self.snapshot = None;
    }

    pub(super) fn leave(&mut self, sink: &Arc<DirectSink>) {
        if let Some(at) = self.members.iter().position(|s| Arc::ptr_eq(s, sink)) {
            self.members.swap_remove(at);
            self.snapshot = None;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member, for a round to walk.
    pub(super) fn snapshot(&mut self) -> Arc<[Arc<DirectSink>]> {
        Arc::clone(
            self.snapshot
                .get_or_insert_with(|| self.members.iter().cloned().collect()),
        )
    }
}

impl DirectSink {
    /// Brings this sink up to `target`, if it is lent and behind it, with
    /// one write of what `read_after` says follows its cursor (`None`: a
    /// gap). Returns how many messages it was given.
    pub(super) fn deliver<'a>(
        &self,
        stream: &Stream,
        target: Cursor,
        read_after: impl FnOnce(Cursor) -> Option<&'a [Arc<Stored>]>,
    ) -> u64 {
        let mut state = self.lock();
        if !state.lent || state.cursor >= target {
            return 0;
        }
        // A partial sent since the sink was lent must reach it before any
        // later message: its task delivers both, in order.
        if stream.partials_sent() != state.partials {
            self.hand_back(state);
            return 0;
        }
        let read = read_after(state.cursor);
        // A gap, or nothing left to give: the task sorts it out.
        let Some((batch, last)) = read.and_then(|batch| Some((batch, batch.last()?))) else {
            self.hand_back(state);
            return 0;
        };
        let last = last.message.created;
        match self.writer.try_write(batch) {
            Written::All => {
                state.cursor = last;
                self.wrote.store(true, Ordering::Relaxed);
                if last < target {
                    // Cut short by the batch limit: a long backlog.
                    self.hand_back(state);
                }
            }
            Written::Part(written) => {
                state.cursor = last;
                state.unfinished = Some(Unfinished {
                    messages: batch.to_vec(),
                    written,
                });
                self.hand_back(state);
            }
            Written::Failed => {
                state.closed = true;
                self.hand_back(state);
                return 0;
            }
        }
        batch.len() as u64
    }
}

/// What became of an attempt to lend a sink.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lending {
    /// Lent: posters write to it until it is withdrawn.
    Lent,
    /// A post came in between: take it first.
    Moved,
    /// This sink is not lent any more (closed, or a delivery is unfinished):
    /// wait the ordinary way.
    Refused,
}

impl Stream {
    /// Lends `sink` to posters, for a subscription at `cursor` that has
    /// taken everything up to `seen` (the newest cursor its signal showed)
    /// and the stream's first `partials` partials.
    pub(super) fn lend(
        &self,
        sink: &DirectSink,
        cursor: Cursor,
        seen: Cursor,
        partials: u64,
    ) -> Lending {
        let mut state = sink.lock();
        if state.closed || state.unfinished.is_some() {
            return Lending::Refused;
        }
        state.lent = true;
        state.cursor = cursor.max(seen);
        state.partials = partials;
        drop(state);
        // Lent first, checked second: a post stored after this check finds
        // the sink lent; one stored before it makes us take it back.
        if self.lock().newest != seen {
            return Lending::Moved;
        }
        Lending::Lent
    }
}

/// Takes `sink` back from posters: returns the position after everything
/// they wrote, and what they left unfinished, if anything.
pub(super) fn withdraw(sink: &DirectSink) -> (Cursor, Option<Unfinished>) {
    let mut state = sink.lock();
    state.lent = false;
    let unfinished = state.unfinished.take();
    if let Some(unfinished) = &unfinished {
        state.resume_at = unfinished.written;
    }
    (state.cursor, unfinished)
}

/// Closes `sink` for good (its subscription has ended).
pub(super) fn close(sink: &DirectSink) {
    let mut state = sink.lock();
    state.lent = false;
    state.closed = true;
}
