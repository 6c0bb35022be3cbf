//! Lending sockets to posters and the rounds that write to them, with a
//! socket that records what it is given.

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
/// (The presence is ready at once: no runtime is needed to take it.)
fn attached(store: &Arc<Store>) -> (Subscription, Arc<Recorder>, Arc<DirectSink>) {
    let mut subscription = store.subscribe(&room(), None).unwrap();
    let recorder = Arc::new(Recorder::default());
    let sink = DirectSink::new(Box::new(RecordingWriter(Arc::clone(&recorder))));
    assert!(subscription.attach(Arc::clone(&sink)));
    let presence = poll_with(pin!(subscription.next()), &Arc::default());
    assert!(matches!(presence, Poll::Ready(Some(Delivery::Presence(_)))));
    (subscription, recorder, sink)
}

#[tokio::test]
async fn a_post_is_written_to_a_waiting_subscriber_without_waking_it() {
    let store = Store::for_tests();
    // Attached but busy (not waiting in `next`): not lent, skipped.
    let (_busy, busy_recorder, _) = attached(&store);
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
    let mut next = pin!(subscription.next());
    assert!(poll_with(next.as_mut(), &Arc::default()).is_pending());

    drop(post(&store, "one"));
    assert_eq!(recorder.writes(), [["one"]]);
}

#[tokio::test]
async fn a_full_socket_hands_the_rest_of_the_delivery_to_the_subscriber() {
    let store = Store::for_tests();
    let (mut subscription, recorder, sink) = attached(&store);
    let wakes = Arc::new(Wakes::default());
    {
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &wakes).is_pending());

        *recorder.full_after.lock().unwrap() = Some(5);
        store.hand_out(post(&store, "one").hand_out).await;
        assert!(wakes.0.load(Ordering::SeqCst) > 0, "woken to finish");
        let Poll::Ready(Some(Delivery::Messages(rest))) = poll_with(next.as_mut(), &wakes) else {
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
    let (mut subscription, recorder, _sink) = attached(&store);
    let wakes = Arc::new(Wakes::default());
    {
        let mut next = pin!(subscription.next());
        assert!(poll_with(next.as_mut(), &wakes).is_pending());

        recorder.broken.store(true, Ordering::SeqCst);
        store.hand_out(post(&store, "one").hand_out).await;
        let Poll::Ready(Some(Delivery::Messages(taken))) = poll_with(next.as_mut(), &wakes) else {
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, _recorder, _sink) = attached(&store);
    let wakes = Arc::new(Wakes::default());
    let mut next = pin!(subscription.next());
    assert!(poll_with(next.as_mut(), &wakes).is_pending());

    let _other = store.subscribe(&room(), None).unwrap();
    assert!(wakes.0.load(Ordering::SeqCst) > 0);
    let Poll::Ready(Some(Delivery::Presence(presence))) = poll_with(next.as_mut(), &wakes) else {
        panic!("the new count");
    };
    assert_eq!(presence.observers, 2);
}

#[tokio::test]
async fn a_sink_behind_the_ring_is_handed_back_for_its_gap() {
    let store = Store::for_tests();
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut behind, behind_recorder, _) = attached(&store);
    let mut behind_next = pin!(behind.next());
    assert!(poll_with(behind_next.as_mut(), &Arc::default()).is_pending());
    // Stored, not handed out yet; then a subscriber that starts after it.
    let first = post(&store, "one");
    let (mut ahead, ahead_recorder, _) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (mut subscription, recorder, _sink) = attached(&store);
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
    let (subscription, recorder, sink) = attached(&store);
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
        let (mut subscription, recorder, sink) = attached(&store);
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
