//! The bounded, cursor-ordered message buffer of one stream.
//!
//! Kept free of locks, time and I/O so that its rules (bounded size, strictly
//! increasing cursors, exact paging, honest gap reporting) can be checked by
//! property tests in isolation.

use std::collections::VecDeque;

use malten_shared::wire::Cursor;

/// Anything the ring can hold: it only needs to know its position.
pub trait Positioned {
    fn cursor(&self) -> Cursor;
}

/// What a reader gets back from [`Ring::after`].
#[derive(Debug, PartialEq, Eq)]
pub struct After<'a, T> {
    /// Set when messages newer than the reader's cursor were dropped before
    /// it read them: the reader must be told, then continues from here.
    pub gap_through: Option<Cursor>,
    pub items: Vec<&'a T>,
}

/// A FIFO of at most `capacity` items in strictly increasing cursor order.
#[derive(Debug)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The newest cursor ever dropped (by the size bound or by expiry); a
    /// reader behind it has missed something.
    dropped_through: Cursor,
}

impl<T: Positioned> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a ring needs room for one item");
        Self {
            items: VecDeque::new(),
            capacity,
            dropped_through: Cursor::START,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn oldest(&self) -> Option<&T> {
        self.items.front()
    }

    pub fn dropped_through(&self) -> Cursor {
        self.dropped_through
    }

    /// Appends `item`, whose cursor must be newer than every held one, and
    /// returns the item evicted to stay within capacity, if any.
    pub fn push(&mut self, item: T) -> Option<T> {
        debug_assert!(
            self.items
                .back()
                .is_none_or(|last| last.cursor() < item.cursor()),
            "cursors must strictly increase"
        );
        let evicted = if self.items.len() == self.capacity {
            self.pop_oldest()
        } else {
            None
        };
        self.items.push_back(item);
        evicted
    }

    /// Whether one more push would evict the oldest item.
    pub fn is_full(&self) -> bool {
        self.items.len() == self.capacity
    }

    /// Drops the oldest item.
    pub fn pop_oldest(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.dropped_through = self.dropped_through.max(item.cursor());
        Some(item)
    }

    /// Drops leading items while `expired` says so, returning them.
    pub fn drop_while(&mut self, mut expired: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut dropped = Vec::new();
        while self.items.front().is_some_and(&mut expired) {
            dropped.extend(self.pop_oldest());
        }
        dropped
    }

    /// Removes leading items while `read` says so, returning them, without
    /// counting them as dropped: they were read (a pipe's messages once both
    /// ends have them), so a reader behind them has missed nothing it can
    /// still be given and gets no gap.
    pub fn consume_while(&mut self, mut read: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut consumed = Vec::new();
        while self.items.front().is_some_and(&mut read) {
            consumed.extend(self.items.pop_front());
        }
        consumed
    }

    /// Index of the first item with a cursor greater than `cursor`.
    fn first_after(&self, cursor: Cursor) -> usize {
        self.items.partition_point(|item| item.cursor() <= cursor)
    }

    /// Up to `limit` items with cursors greater than `cursor`, oldest first,
    /// with a gap marker when dropped items lie beyond `cursor`.
    pub fn after(&self, cursor: Cursor, limit: usize) -> After<'_, T> {
        let gap_through = (self.dropped_through > cursor).then_some(self.dropped_through);
        let start = self.first_after(cursor);
        After {
            gap_through,
            items: self.items.range(start..).take(limit).collect(),
        }
    }

    /// Up to `limit` items with cursors less than `cursor`, newest first.
    /// `None` means "from the newest".
    pub fn before(&self, cursor: Option<Cursor>, limit: usize) -> Vec<&T> {
        let end = match cursor {
            Some(cursor) => self.items.partition_point(|item| item.cursor() < cursor),
            None => self.items.len(),
        };
        self.items.range(..end).rev().take(limit).collect()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Positioned for u64 {
        fn cursor(&self) -> Cursor {
            Cursor(*self)
        }
    }

    fn ring_of(capacity: usize, cursors: impl IntoIterator<Item = u64>) -> Ring<u64> {
        let mut ring = Ring::new(capacity);
        for c in cursors {
            ring.push(c);
        }
        ring
    }

    #[test]
    fn evicts_the_oldest_when_full_and_remembers_it() {
        let empty = ring_of(3, []);
        assert!(empty.is_empty() && !empty.is_full());
        assert_eq!((empty.oldest(), empty.iter().next_back()), (None, None));
        let mut ring = ring_of(3, [1, 2, 3]);
        assert!(!ring.is_empty() && ring.is_full());
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(ring.dropped_through(), Cursor(1));
    }

    #[test]
    fn after_reports_a_gap_only_when_something_newer_than_the_cursor_was_dropped() {
        let ring = ring_of(3, [1, 2, 3, 4, 5]);
        let behind = ring.after(Cursor(1), 10);
        assert_eq!(behind.gap_through, Some(Cursor(2)));
        assert_eq!(behind.items, [&3, &4, &5]);
        let caught_up = ring.after(Cursor(2), 10);
        assert_eq!(caught_up.gap_through, None);
        assert_eq!(caught_up.items, [&3, &4, &5]);
    }

    #[test]
    fn before_pages_backwards_from_the_newest() {
        let ring = ring_of(10, [10, 20, 30, 40]);
        assert_eq!(ring.before(None, 2), [&40, &30]);
        assert_eq!(ring.before(Some(Cursor(30)), 5), [&20, &10]);
        assert!(ring.before(Some(Cursor(10)), 5).is_empty());
    }

    #[test]
    fn drop_while_expires_from_the_front() {
        let mut ring = ring_of(10, [1, 2, 3, 4]);
        assert_eq!(ring.drop_while(|c| *c < 3), [1, 2]);
        assert_eq!(ring.dropped_through(), Cursor(2));
        assert_eq!(ring.len(), 2);
    }

    /// A strictly increasing sequence of cursors, built from positive steps.
    fn cursors() -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::vec(1u64..1_000, 0..300).prop_map(|steps| {
            steps
                .into_iter()
                .scan(0u64, |acc, step| {
                    *acc += step;
                    Some(*acc)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn holds_exactly_the_newest_capacity_items(capacity in 1usize..50, all in cursors()) {
            let ring = ring_of(capacity, all.iter().copied());
            let expected: Vec<u64> = all.iter().rev().take(capacity).rev().copied().collect();
            prop_assert_eq!(ring.iter().copied().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(ring.len(), expected.len());
            prop_assert_eq!(ring.is_empty(), expected.is_empty());
            prop_assert_eq!(ring.oldest().copied(), expected.first().copied());
            prop_assert_eq!(ring.iter().next_back().copied(), expected.last().copied());
        }

        #[test]
        fn paging_forward_visits_every_retained_item_once_in_order(
            capacity in 1usize..64, all in cursors(), page in 1usize..40,
        ) {
            let ring = ring_of(capacity, all.iter().copied());
            let mut seen = Vec::new();
            let mut cursor = Cursor::START;
            loop {
                let batch = ring.after(cursor, page);
                prop_assert!(batch.items.len() <= page);
                let Some(last) = batch.items.last() else { break };
                cursor = last.cursor();
                seen.extend(batch.items.into_iter().copied());
            }
            prop_assert_eq!(seen, ring.iter().copied().collect::<Vec<_>>());
        }

        #[test]
        fn paging_backward_visits_every_retained_item_once_newest_first(
            capacity in 1usize..64, all in cursors(), page in 1usize..40,
        ) {
            let ring = ring_of(capacity, all.iter().copied());
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let batch = ring.before(cursor, page);
                let Some(last) = batch.last() else { break };
                cursor = Some(last.cursor());
                seen.extend(batch.into_iter().copied());
            }
            prop_assert_eq!(seen, ring.iter().rev().copied().collect::<Vec<_>>());
        }

        #[test]
        fn a_reader_at_any_cursor_gets_a_gap_exactly_when_it_missed_a_dropped_item(
            capacity in 1usize..32, all in cursors(), pick in any::<proptest::sample::Index>(),
        ) {
            prop_assume!(!all.is_empty());
            let ring = ring_of(capacity, all.iter().copied());
            let reader = Cursor(all[pick.index(all.len())]);
            let dropped: Vec<u64> = all.iter().copied().take(all.len().saturating_sub(capacity)).collect();
            let missed_something = dropped.iter().any(|&c| Cursor(c) > reader);
            let batch = ring.after(reader, usize::MAX);
            prop_assert_eq!(batch.gap_through.is_some(), missed_something);
            prop_assert!(batch.items.iter().all(|item| item.cursor() > reader));
        }
    }
}
