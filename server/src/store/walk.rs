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
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::task::{Context, Poll, Wake, Waker};

    use malten_shared::wire::{Body, MessageKind, Partial};
    use malten_shared::StreamName;

    use super::*;
    use crate::engine::Delivery;
    use crate::store::{DirectWriter, Posted, Store, Subscription, Written};

    /// Counts the wake-ups of the task polling with it.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_with<F: Future>(future: Pin<&mut F>, wakes: &Arc<Wakes>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::clone(wakes));
        future.poll(&mut Context::from_waker(&waker))
    }

    /// A socket that records what it was given, and can be told to fill
    /// up or break.
    #[derive(Default)]
    struct Recorder {
        writes: Mutex<Vec<Vec<String>>>,
        /// `Some(n)`: take `n` bytes, then would block; `None`: take all.
        full_after: Mutex<Option<usize>>,
        broken: AtomicBool,
    }

    struct RecordingWriter(Arc<Recorder>);

    impl DirectWriter for RecordingWriter {
        fn try_write(&self, messages: &[Arc<Stored>]) -> Written {
            if self.0.broken.load(Ordering::SeqCst) {
                return Written::Failed;
            }
            let texts = messages.iter().map(|m| text_of(m)).collect();
            self.0.writes.lock().unwrap().push(texts);
            match *self.0.full_after.lock().unwrap() {
                Some(bytes) => Written::Part(bytes),
                None => Written::All,
            }
        }
    }

    use std::sync::atomic::AtomicBool;

    impl Recorder {
        fn writes(&self) -> Vec<Vec<String>> {
            self.writes.lock().unwrap().clone()
        }
    }

    fn text_of(stored: &Stored) -> String {
        match &stored.message.body {
            Body::Text(text) => text.clone(),
            other => panic!("not a text: {other:?}"),
        }
    }

    fn room() -> StreamName {
        StreamName::parse("room").unwrap()
    }

    fn post(store: &Store, text: &str) -> Posted {
        store
            .post(&room(), text.to_owned(), MessageKind::Message)
            .unwrap()
    }

    /// A subscription with a recorded sink attached, its presence taken.
    async fn attached(store: &Arc<Store>) -> (Subscription, Arc<Recorder>, Arc<DirectSink>) {
        let mut subscription = store.subscribe(&room(), None).unwrap();
        let recorder = Arc::new(Recorder::default());
        let sink = DirectSink::new(Box::new(RecordingWriter(Arc::clone(&recorder))));
        assert!(subscription.attach(Arc::clone(&sink)));
        let presence = subscription.next().await;
        assert!(matches!(presence, Some(Delivery::Presence(_))));
        (subscription, recorder, sink)
    }

    #[tokio::test]
    async fn a_post_is_written_to_a_waiting_subscriber_without_waking_it() {
        let store = Store::for_tests();
        // Attached but busy (not waiting in `next`): not lent, skipped.
        let (_busy, busy_recorder, _) = attached(&store).await;
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let wakes = Arc::new(Wakes::default());
        let second = {
            let mut next = pin!(subscription.next());
            assert!(poll_with(next.as_mut(), &wakes).is_pending(), "lent");

            let posted = post(&store, "one");
            store.hand_out(posted.hand_out).await;
            assert_eq!(recorder.writes(), [["one"]]);
            assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "the subscriber slept on");
            assert!(poll_with(next.as_mut(), &wakes).is_pending());
            assert_eq!(store.metrics().deliveries.get(), 1);
            assert_eq!(store.metrics().direct_writes.get(), 1);

            let second = post(&store, "two");
            store.hand_out(second.hand_out).await;
            assert_eq!(recorder.writes(), [["one"], ["two"]]);
            assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
            assert!(busy_recorder.writes().is_empty());
            assert_eq!(store.metrics().direct_writes.get(), 2, "one write per post");
            second.message
        };
        // Taken back, its cursor is past what the posters wrote: nothing is
        // delivered twice.
        assert!(subscription.withdraw().is_none());
        assert_eq!(subscription.cursor(), second.created);
    }

    #[tokio::test]
    async fn posts_stored_before_a_round_begins_go_out_in_one_write() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        let first = post(&store, "one");
        let second = post(&store, "two");
        store.hand_out(second.hand_out).await;
        // The first post's round has begun already: answered at once.
        let mut first_answer = pin!(store.hand_out(first.hand_out));
        assert!(poll_with(first_answer.as_mut(), &Arc::default()).is_ready());
        assert_eq!(recorder.writes(), [["one", "two"]]);
        assert_eq!(store.metrics().deliveries.get(), 2);
        assert_eq!(store.metrics().direct_writes.get(), 1);
    }

    #[tokio::test]
    async fn unpaced_a_post_is_answered_at_once_and_written_aside() {
        let store = Arc::new(Store::new(
            crate::store::StoreLimits {
                pace_max_wait: std::time::Duration::ZERO,
                ..Store::for_tests().limits().clone()
            },
            Arc::new(Metrics::new()),
        ));
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        let mut answer = pin!(store.hand_out(post(&store, "one").hand_out));
        assert!(poll_with(answer.as_mut(), &Arc::default()).is_ready());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorder.writes().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never written");
            tokio::task::yield_now().await;
        }
        assert_eq!(recorder.writes(), [["one"]]);
    }

    #[tokio::test]
    async fn a_post_whose_hand_out_is_dropped_is_written_all_the_same() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        drop(post(&store, "one"));
        assert_eq!(recorder.writes(), [["one"]]);
    }

    #[tokio::test]
    async fn a_full_socket_hands_the_rest_of_the_delivery_to_the_subscriber() {
        let store = Store::for_tests();
        let (mut subscription, recorder, sink) = attached(&store).await;
        let wakes = Arc::new(Wakes::default());
        {
            let mut next = pin!(subscription.next());
            assert!(poll_with(next.as_mut(), &wakes).is_pending());

            *recorder.full_after.lock().unwrap() = Some(5);
            store.hand_out(post(&store, "one").hand_out).await;
            assert!(wakes.0.load(Ordering::SeqCst) > 0, "woken to finish");
            let Poll::Ready(Some(Delivery::Messages(rest))) = poll_with(next.as_mut(), &wakes)
            else {
                panic!("the unfinished delivery comes first");
            };
            assert_eq!(rest.iter().map(|m| text_of(m)).collect::<Vec<_>>(), ["one"]);
        }
        assert_eq!(sink.take_resume_at(), 5, "five bytes went out already");
        assert_eq!(sink.take_resume_at(), 0, "read once");

        // Drained: lent again, written directly again.
        *recorder.full_after.lock().unwrap() = None;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &wakes).is_pending());
        store.hand_out(post(&store, "two").hand_out).await;
        assert_eq!(recorder.writes(), [["one"], ["two"]]);
    }

    #[tokio::test]
    async fn a_broken_socket_is_not_lent_again_and_its_subscriber_reads_as_before() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let wakes = Arc::new(Wakes::default());
        {
            let mut next = pin!(subscription.next());
            assert!(poll_with(next.as_mut(), &wakes).is_pending());

            recorder.broken.store(true, Ordering::SeqCst);
            store.hand_out(post(&store, "one").hand_out).await;
            let Poll::Ready(Some(Delivery::Messages(taken))) = poll_with(next.as_mut(), &wakes)
            else {
                panic!("handed back: the subscriber reads the message itself");
            };
            assert_eq!(text_of(&taken[0]), "one");
        }

        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &wakes).is_pending(), "parked");
        // Even if the socket would take writes again, it is not lent again.
        recorder.broken.store(false, Ordering::SeqCst);
        let woken = wakes.0.load(Ordering::SeqCst);
        drop(post(&store, "two"));
        assert!(
            wakes.0.load(Ordering::SeqCst) > woken,
            "woken, not written to"
        );
        assert!(recorder.writes().is_empty());
    }

    #[tokio::test]
    async fn a_partial_sent_while_lent_reaches_the_subscriber_before_the_next_message() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        {
            let mut next = pin!(subscription.next());
            assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

            store.publish_partial(Partial {
                stream: room(),
                command: None,
                delta: "prev".into(),
                done: false,
                error: None,
            });
            store.hand_out(post(&store, "reply").hand_out).await;
            assert!(recorder.writes().is_empty(), "not written past the partial");
            let Poll::Ready(Some(Delivery::Partial(partial))) =
                poll_with(next.as_mut(), &Arc::default())
            else {
                panic!("the partial first");
            };
            assert_eq!(partial.partial.delta, "prev");
        }
        let Some(Delivery::Messages(reply)) = subscription.next().await else {
            panic!("then the message");
        };
        assert_eq!(text_of(&reply[0]), "reply");
    }

    #[tokio::test]
    async fn a_presence_change_wakes_a_lent_subscriber() {
        let store = Store::for_tests();
        let (mut subscription, _recorder, _sink) = attached(&store).await;
        let wakes = Arc::new(Wakes::default());
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &wakes).is_pending());

        let _other = store.subscribe(&room(), None).unwrap();
        assert!(wakes.0.load(Ordering::SeqCst) > 0);
        let Poll::Ready(Some(Delivery::Presence(presence))) = poll_with(next.as_mut(), &wakes)
        else {
            panic!("the new count");
        };
        assert_eq!(presence.observers, 2);
    }

    #[tokio::test]
    async fn a_sink_behind_the_ring_is_handed_back_for_its_gap() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        // Stored, none handed out yet: more than the ring holds.
        let capacity = malten_shared::limits::MAX_MESSAGES_PER_STREAM;
        let held: Vec<_> = (0..capacity + 10)
            .map(|i| post(&store, &format!("m{i}")).hand_out)
            .collect();
        drop(held);
        assert!(recorder.writes().is_empty(), "a gap is the task's to tell");
        let Poll::Ready(Some(Delivery::Gap(_))) = poll_with(next.as_mut(), &Arc::default()) else {
            panic!("the gap");
        };
    }

    #[tokio::test]
    async fn sinks_at_different_positions_each_get_what_follows_their_own() {
        let store = Store::for_tests();
        let (mut behind, behind_recorder, _) = attached(&store).await;
        let mut behind_next = pin!(behind.next());
        assert!(poll_with(behind_next.as_mut(), &Arc::default()).is_pending());
        // Stored, not handed out yet; then a subscriber that starts after it.
        let first = post(&store, "one");
        let (mut ahead, ahead_recorder, _) = attached(&store).await;
        let mut ahead_next = pin!(ahead.next());
        assert!(poll_with(ahead_next.as_mut(), &Arc::default()).is_pending());

        store.hand_out(post(&store, "two").hand_out).await;
        drop(first);
        assert_eq!(behind_recorder.writes(), [["one", "two"]]);
        assert_eq!(ahead_recorder.writes(), [["two"]]);
    }

    /// Posts "one" and begins its round by hand, as its poster would;
    /// posts "two" while the round runs, with no one to wait for it; then
    /// walks and ends the round. Returns the stream and the first post.
    fn round_with_a_post_dropped_meanwhile(store: &Store) -> (Arc<Stream>, Posted) {
        let metrics = Arc::new(Metrics::new());
        let first = post(store, "one");
        let stream = store.get(&room()).unwrap();
        let round = begin(&mut stream.lock()).expect("no round running");
        drop(post(store, "two"));
        let mut walker = Walker::new(round);
        walker.walk_all(&stream, &metrics);
        assert!(walker.finish());
        after_round(&stream, &metrics);
        (stream, first)
    }

    #[tokio::test]
    async fn a_post_dropped_while_a_round_runs_goes_out_in_the_next() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        // "two" is not waited for by anyone: the next round must carry it.
        let (_stream, first) = round_with_a_post_dropped_meanwhile(&store);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while recorder.writes().len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "never written");
            tokio::task::yield_now().await;
        }
        assert_eq!(recorder.writes(), [["one"], ["two"]]);
        drop(first);
    }

    /// Outside a runtime (a caller that posts from plain code) the next
    /// round is walked at once, and the walk is left idle after it.
    #[test]
    fn outside_a_runtime_the_next_round_is_walked_at_once() {
        let store = Store::for_tests();
        let mut subscription = store.subscribe(&room(), None).unwrap();
        let recorder = Arc::new(Recorder::default());
        let sink = DirectSink::new(Box::new(RecordingWriter(Arc::clone(&recorder))));
        assert!(subscription.attach(sink));
        {
            let mut next = pin!(subscription.next());
            let presence = poll_with(next.as_mut(), &Arc::default());
            assert!(matches!(presence, Poll::Ready(Some(Delivery::Presence(_)))));
        }
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        let (stream, first) = round_with_a_post_dropped_meanwhile(&store);
        assert_eq!(recorder.writes(), [["one"], ["two"]]);
        drop(first);
        assert!(!stream.lock().sinks.walking, "idle again");
        drop(post(&store, "three"));
        assert_eq!(recorder.writes(), [["one"], ["two"], ["three"]]);
    }

    #[tokio::test]
    async fn a_backlog_longer_than_one_write_is_handed_back_for_the_rest() {
        let store = Store::for_tests();
        let (mut subscription, recorder, _sink) = attached(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

        // Stored, none handed out yet: more than one write carries.
        let held: Vec<_> = (0..MAX_BATCH + 10)
            .map(|i| post(&store, &format!("m{i}")).hand_out)
            .collect();
        drop(held);
        let written: Vec<String> = recorder.writes().into_iter().flatten().collect();
        assert_eq!(
            written.len(),
            MAX_BATCH,
            "one write of the first {MAX_BATCH}"
        );
        let Poll::Ready(Some(Delivery::Messages(rest))) = poll_with(next.as_mut(), &Arc::default())
        else {
            panic!("the rest is the subscriber's to read");
        };
        assert_eq!(rest.len(), 10);
        assert_eq!(text_of(&rest[0]), format!("m{MAX_BATCH}"));
    }

    #[tokio::test]
    async fn a_subscription_that_ends_leaves_the_walk() {
        let store = Store::for_tests();
        let (subscription, recorder, sink) = attached(&store).await;
        drop(subscription);
        // Closed: a round that began before it left skips it too.
        assert!(sink.lock().closed && !sink.lock().lent);
        drop(post(&store, "one"));
        assert!(recorder.writes().is_empty());
        let stream = store.get(&room()).unwrap();
        assert!(stream.lock().sinks.is_empty());
    }

    #[tokio::test]
    async fn a_pipe_keeps_its_read_counting_and_lends_nothing() {
        let store = Store::for_tests();
        let pipe = store.create(None, true, None, None, true).unwrap();
        let mut subscription = store.subscribe(&pipe.stream, None).unwrap();
        let sink = DirectSink::new(Box::new(RecordingWriter(Arc::default())));
        assert!(!subscription.attach(sink));
    }

    /// Several workers: every sink gets every post exactly once, in order,
    /// whoever walks it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_sinks_and_posters_on_two_workers_get_everything_once_in_order() {
        let store = Store::for_tests();
        let mut recorders = Vec::new();
        let mut sinks = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (mut subscription, recorder, sink) = attached(&store).await;
            recorders.push(recorder);
            sinks.push(sink);
            // What the task is given itself (handed back, or a post came
            // just as it lent its sink) goes to the same record, in the
            // order the transport would write it.
            let record = Arc::clone(recorders.last().unwrap());
            tasks.push(tokio::spawn(async move {
                while let Some(delivery) = subscription.next().await {
                    if let Delivery::Messages(messages) = delivery {
                        let texts = messages.iter().map(|m| text_of(m)).collect();
                        record.writes.lock().unwrap().push(texts);
                    }
                }
            }));
        }
        // Every subscription lent (not needed for the order, but otherwise
        // the walk would have little to do).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !sinks.iter().all(|sink| sink.lock().lent) {
            assert!(tokio::time::Instant::now() < deadline, "never all lent");
            tokio::task::yield_now().await;
        }
        let posters: Vec<_> = (0..4)
            .map(|poster| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in 0..25 {
                        let posted = store
                            .post(&room(), format!("{poster}-{i}"), MessageKind::Message)
                            .unwrap();
                        store.hand_out(posted.hand_out).await;
                    }
                })
            })
            .collect();
        for poster in posters {
            poster.await.unwrap();
        }
        let stream = store.get(&room()).unwrap();
        let order: Vec<String> = stream.lock().ring.iter().map(|m| text_of(m)).collect();
        assert_eq!(order.len(), 100);
        // The last round may still be running: wait for it.
        while stream.lock().sinks.walking {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the walk never ended"
            );
            tokio::task::yield_now().await;
        }
        for recorder in &recorders {
            // A subscription handed back catches up by itself: wait for it.
            while recorder.writes().iter().map(Vec::len).sum::<usize>() < order.len() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "a subscriber fell short"
                );
                tokio::task::yield_now().await;
            }
            let written: Vec<String> = recorder.writes().into_iter().flatten().collect();
            assert_eq!(written, order);
        }
        assert_eq!(store.metrics().deliveries.get(), 100 * 200);
        assert!(store.metrics().direct_writes.get() > 0);
        for task in tasks {
            task.abort();
        }
    }
}
