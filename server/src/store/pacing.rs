//! Pacing posts to delivery: a post is answered once the subscribers that
//! were waiting for news when it was stored have taken it, or after at most
//! `--pace-max-wait-ms`.
//!
//! # Why
//! Storing a message takes microseconds; handing it to a thousand
//! subscribers takes a thousand task wake-ups and socket writes. A publisher
//! answered as soon as its message is stored runs ahead of the fan-out, and
//! what it runs ahead into is a queue: every later message waits behind it,
//! which is the latency the subscribers feel (issue 17 measured p99 of
//! 80-1200 ms with the publishers unpaced, against Redis's 26-54 ms, whose
//! `PUBLISH` returns only once the message is copied to every subscriber).
//! Answering a post once it has been handed out bounds that queue to about
//! one post per publisher, and with several publishers their messages still
//! reach a subscriber together, in one batch and one write.
//!
//! # Who is waited for
//! Subscriptions that lent their socket to posters (`direct`) are not
//! waited for here: the post is written to them in a round (`walk`), and
//! answered once that round has begun. Of the others, only subscriptions
//! *parked*, waiting for news, when the post is stored:
//! they have taken everything before it, so they take it the next time
//! they run. A subscription that is not parked is busy (its connection is
//! writing an earlier delivery, perhaps into a full socket because its
//! reader stopped reading) and is not waited for: one reader that stops
//! cannot slow a room. It reads the message, in a bigger batch, when it
//! comes back. A subscription that leaves while parked stops counting.
//!
//! # How
//! Each stream counts its posts. A subscription parks under the stream's
//! lock, noting how many posts there had been ([`Waiting::park`]); post
//! number `n` is handed out once no parked subscription noted fewer than `n`
//! ([`Waiting::handed`]). The parked are kept as a count per noted post
//! number, so the oldest is at hand and the map holds a few entries however
//! many subscribers there are. When the oldest entry empties, the stream's
//! [`Notify`](tokio::sync::Notify) wakes its waiting posters, and each checks
//! its own number.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use malten_shared::wire::Cursor;

use super::stream::Stream;
use super::walk::DirectHandOut;

/// A stream's parked subscriptions, kept under the stream's lock.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Posts stored in this stream so far.
    posts: u64,
    /// Parked subscriptions, counted by how many posts there had been when
    /// each parked. No entry has a count of zero.
    parked: BTreeMap<u64, usize>,
}

impl Waiting {
    /// Counts a stored post; returns its number.
    pub(super) fn posted(&mut self) -> u64 {
        self.posts += 1;
        self.posts
    }

    /// Counts a subscription that has taken every post so far as parked;
    /// returns what it must give back to [`Waiting::unpark`].
    pub(super) fn park(&mut self) -> u64 {
        *self.parked.entry(self.posts).or_default() += 1;
        self.posts
    }

    /// A subscription parked at `since` has woken or left. Returns whether
    /// that may have completed a post's hand-out (the oldest parked
    /// subscriptions are now younger), so waiting posters must look.
    pub(super) fn unpark(&mut self, since: u64) -> bool {
        let Entry::Occupied(mut entry) = self.parked.entry(since) else {
            debug_assert!(false, "unparked a subscription that was not parked");
            return false;
        };
        *entry.get_mut() -= 1;
        if *entry.get() > 0 {
            return false;
        }
        entry.remove();
        since < self.posts && self.parked.range(..since).next().is_none()
    }

    /// Whether post number `post` has been taken by every subscription that
    /// was parked when it was stored.
    pub(super) fn handed(&self, post: u64) -> bool {
        self.parked
            .first_key_value()
            .is_none_or(|(&since, _)| since >= post)
    }
}

/// A subscription parked on its stream; dropping it unparks.
#[derive(Debug)]
pub(super) struct Parked<'a> {
    stream: &'a Stream,
    since: u64,
}

impl Stream {
    /// Parks a subscription that has taken everything up to `seen`, the
    /// newest cursor its signal showed; `None` if a post came since, for it
    /// to take first. Checked under the lock a post takes, so no post can
    /// fall between the check and the parking. (Not the subscription's own
    /// cursor: messages after it may be gone, expired or read by both ends
    /// of a pipe, and there would then be nothing to take before parking.)
    pub(super) fn park(&self, seen: Cursor) -> Option<Parked<'_>> {
        let mut state = self.lock();
        if state.newest != seen {
            return None;
        }
        let since = state.waiting.park();
        Some(Parked {
            stream: self,
            since,
        })
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut state = self.stream.lock();
        let look = state.waiting.unpark(self.since);
        drop(state);
        if look {
            self.stream.handed_out.notify_waiters();
        }
    }
}

/// The hand-out of one post, to wait for before answering it: first its
/// direct deliveries (`direct`), written by the poster, then the wait for
/// the subscriptions that are woken instead.
#[derive(Debug)]
pub struct HandOut {
    stream: Arc<Stream>,
    post: u64,
    direct: Option<DirectHandOut>,
}

impl HandOut {
    pub(super) fn new(stream: Arc<Stream>, post: u64, direct: Option<DirectHandOut>) -> Self {
        Self {
            stream,
            post,
            direct,
        }
    }

    /// Whether the stream had sinks to write to (`direct`) when the post
    /// was stored.
    pub(super) fn writes_directly(&self) -> bool {
        self.direct.is_some()
    }

    /// Returns once the post is written to every sink lent to posters
    /// (`direct`), walking them itself if no one else is. If this is never
    /// called, or cancelled, dropping the hand-out makes sure the post is
    /// written all the same.
    pub async fn deliver(&mut self) {
        if let Some(direct) = self.direct.as_mut() {
            direct.deliver(&self.stream).await;
            self.direct = None;
        }
    }

    /// Waits until the subscriptions parked when the post was stored have
    /// taken it, at most `max_wait`. Returns whether they all did in time.
    pub async fn wait(self, max_wait: Duration) -> bool {
        if self.is_done() {
            return true;
        }
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let notified = self.stream.handed_out.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up between the look and
            // the wait is not lost.
            notified.as_mut().enable();
            if self.is_done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_done();
            }
        }
    }

    fn is_done(&self) -> bool {
        self.stream.lock().waiting.handed(self.post)
    }
}

impl Drop for HandOut {
    /// A post's direct deliveries are never skipped: whoever drops the
    /// hand-out before they are done (a caller that does not wait, a
    /// cancelled request) finishes a round it began, or walks one now if
    /// none is running; a running one is followed by one that covers it.
    fn drop(&mut self) {
        if let Some(direct) = self.direct.as_mut() {
            direct.deliver_now(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use malten_shared::wire::MessageKind;
    use malten_shared::StreamName;

    use super::*;
    use crate::engine::Delivery;
    use crate::store::{Store, StoreLimits};

    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn room() -> StreamName {
        StreamName::parse("room").unwrap()
    }

    fn post(store: &Store, text: &str) -> HandOut {
        store
            .post(&room(), text.to_owned(), MessageKind::Message)
            .unwrap()
            .hand_out
    }

    fn store_waiting(max_wait: Duration) -> Arc<Store> {
        store_pacing(max_wait, 1)
    }

    fn store_pacing(max_wait: Duration, window: u64) -> Arc<Store> {
        let store = Store::for_tests();
        Arc::new(Store::new(
            StoreLimits {
                pace_max_wait: max_wait,
                pace_window: window,
                ..store.limits().clone()
            },
            Arc::new(crate::metrics::Metrics::new()),
        ))
    }

    /// A subscription whose presence event has been taken: the next call to
    /// `next` parks it.
    async fn subscribed(store: &Arc<Store>) -> super::super::Subscription {
        let mut subscription = store.subscribe(&room(), None).unwrap();
        let presence = subscription.next().await;
        assert!(matches!(presence, Some(Delivery::Presence(_))));
        subscription
    }

    #[tokio::test]
    async fn a_post_is_answered_once_a_waiting_subscriber_has_taken_it() {
        let store = store_waiting(Duration::from_millis(250));
        let mut subscription = subscribed(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_once(next.as_mut()).is_pending(), "parked, nothing yet");

        let mut answer = pin!(store.hand_out(post(&store, "hello")));
        assert!(
            poll_once(answer.as_mut()).is_pending(),
            "the parked subscriber has not taken it"
        );
        let Poll::Ready(Some(Delivery::Messages(taken))) = poll_once(next.as_mut()) else {
            panic!("the subscriber takes the message");
        };
        assert_eq!(taken.len(), 1);
        assert!(poll_once(answer.as_mut()).is_ready(), "taken: answered");
        assert_eq!(store.metrics().pace_timeouts.get(), 0);
    }

    #[tokio::test]
    async fn with_a_window_of_two_a_post_waits_for_the_one_before_it() {
        let store = store_pacing(Duration::from_millis(250), 2);
        let mut subscription = subscribed(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_once(next.as_mut()).is_pending());

        let mut first = pin!(store.hand_out(post(&store, "one")));
        assert!(poll_once(first.as_mut()).is_ready(), "one post ahead: fine");
        let mut second = pin!(store.hand_out(post(&store, "two")));
        assert!(
            poll_once(second.as_mut()).is_pending(),
            "two ahead: waits until the first is taken"
        );
        let Poll::Ready(Some(Delivery::Messages(taken))) = poll_once(next.as_mut()) else {
            panic!("the subscriber takes both");
        };
        assert_eq!(taken.len(), 2);
        assert!(poll_once(second.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn a_subscriber_busy_elsewhere_does_not_hold_a_post() {
        let store = store_waiting(Duration::from_millis(250));
        // Subscribed, but not waiting in `next`: its connection is, say,
        // writing an earlier delivery into a full socket.
        let _busy = subscribed(&store).await;
        let mut answer = pin!(store.hand_out(post(&store, "hello")));
        assert!(poll_once(answer.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn a_waiting_subscriber_that_leaves_releases_the_post() {
        let store = store_waiting(Duration::from_millis(250));
        let mut subscription = subscribed(&store).await;
        let mut answer = {
            let mut next = pin!(subscription.next());
            assert!(poll_once(next.as_mut()).is_pending());
            let mut answer = Box::pin(store.hand_out(post(&store, "hello")));
            assert!(poll_once(answer.as_mut()).is_pending());
            answer
            // `next` is dropped here, as when the connection closes.
        };
        assert!(poll_once(answer.as_mut()).is_ready());
        assert_eq!(store.metrics().pace_timeouts.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_is_answered_after_the_longest_wait_if_a_subscriber_never_runs() {
        let store = store_waiting(Duration::from_millis(250));
        let mut subscription = subscribed(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_once(next.as_mut()).is_pending());

        let started = tokio::time::Instant::now();
        store.hand_out(post(&store, "hello")).await;
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        assert_eq!(store.metrics().pace_timeouts.get(), 1);
    }

    #[tokio::test]
    async fn with_no_wait_configured_a_post_is_answered_at_once() {
        let store = store_waiting(Duration::ZERO);
        let mut subscription = subscribed(&store).await;
        let mut next = pin!(subscription.next());
        assert!(poll_once(next.as_mut()).is_pending());
        let mut answer = pin!(store.hand_out(post(&store, "hello")));
        assert!(poll_once(answer.as_mut()).is_ready());
        assert_eq!(store.metrics().pace_timeouts.get(), 0, "not a timeout");
    }

    #[tokio::test]
    async fn a_subscriber_behind_does_not_park_and_takes_what_is_new() {
        let store = store_waiting(Duration::from_millis(250));
        let mut subscription = subscribed(&store).await;
        let stream = store.get(&room()).unwrap();
        let seen = stream.lock().newest;
        // Posted after the subscriber looked: it must not park, it reads.
        let earlier = post(&store, "while away");
        assert!(poll_once(pin!(earlier.wait(Duration::ZERO))).is_ready());
        assert!(stream.park(seen).is_none());
        let Some(Delivery::Messages(taken)) = subscription.next().await else {
            panic!("the subscriber reads what it missed");
        };
        assert_eq!(taken.len(), 1);
        assert!(stream.park(subscription.cursor()).is_some());
    }

    #[test]
    fn a_post_waits_only_for_those_parked_before_it() {
        let mut waiting = Waiting::default();
        let early = waiting.park();
        let first = waiting.posted();
        let late = waiting.park();
        assert!(!waiting.handed(first), "the early subscriber has not woken");
        // The late one parked after the post: it has the post already.
        assert!(!waiting.unpark(late), "the early one is still parked");
        assert!(!waiting.handed(first));
        assert!(waiting.unpark(early), "the oldest parked one woke");
        assert!(waiting.handed(first));
    }

    #[test]
    fn each_post_waits_for_its_own_parked() {
        let mut waiting = Waiting::default();
        let a = waiting.park();
        let first = waiting.posted();
        let b = waiting.park();
        let second = waiting.posted();
        assert!(!waiting.handed(first) && !waiting.handed(second));
        assert!(waiting.unpark(a));
        assert!(waiting.handed(first), "b parked after the first post");
        assert!(!waiting.handed(second), "b has not taken the second");
        assert!(waiting.unpark(b));
        assert!(waiting.handed(second));
    }

    #[test]
    fn nothing_to_look_at_until_a_whole_group_has_woken() {
        let mut waiting = Waiting::default();
        let a = waiting.park();
        let b = waiting.park();
        let post = waiting.posted();
        assert!(
            !waiting.unpark(a),
            "b, parked at the same count, still waits"
        );
        assert!(!waiting.handed(post));
        assert!(waiting.unpark(b));
        assert!(waiting.handed(post));
    }

    #[test]
    fn waking_without_a_post_since_completes_nothing() {
        let mut waiting = Waiting::default();
        let first = waiting.posted();
        let a = waiting.park();
        assert!(waiting.handed(first));
        assert!(!waiting.unpark(a), "no post was waiting on it");
        assert!(waiting.handed(first));
    }

    #[test]
    fn a_younger_group_emptying_before_the_oldest_completes_nothing() {
        let mut waiting = Waiting::default();
        let old = waiting.park();
        waiting.posted();
        let young = waiting.park();
        let second = waiting.posted();
        assert!(!waiting.unpark(young), "the old one is still parked");
        assert!(!waiting.handed(second));
        assert!(waiting.unpark(old));
        assert!(waiting.handed(second));
    }
}
