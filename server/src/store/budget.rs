//! The store's capacity rules: TTL range, stream count and the memory
//! budget, charged when a message enters a ring and credited when it leaves.
//!
//! The budget is checked before a post is appended or a stream is created,
//! so memory never grows past `--max-memory-bytes`: a post or a new stream
//! (including one a subscriber opens on a new name) that would exceed it is
//! refused with `memory_full`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use malten_shared::StreamName;

use super::stream::Stored;
use super::{Store, StoreError, StoreLimits, Stream};

/// What one stream costs before it holds any message, charged to the memory
/// budget while the stream exists. Measured at about 9 KiB (mostly the
/// 256-slot channel of partial events, plus the stream's lock, signal and
/// name) and rounded up, so streams opened only by subscribers are bounded
/// by the budget as well as by `--max-streams`.
pub const STREAM_OVERHEAD_BYTES: usize = 10 * 1024;

/// Counts the store keeps current for `/metrics` and capacity checks.
#[derive(Debug, Default)]
pub struct Gauges {
    pub messages: AtomicUsize,
    pub bytes: AtomicUsize,
    pub subscribers: AtomicUsize,
}

impl StoreLimits {
    /// The TTL asked for, or the default; refuses one outside the range.
    /// Every backend applies the same rule.
    pub fn ttl(&self, ttl_secs: Option<u64>) -> Result<Duration, StoreError> {
        let Some(secs) = ttl_secs else {
            return Ok(self.default_ttl);
        };
        let ttl = Duration::from_secs(secs);
        if ttl < self.min_ttl || ttl > self.max_ttl {
            return Err(StoreError::TtlOutOfRange {
                min: self.min_ttl.as_secs(),
                max: self.max_ttl.as_secs(),
            });
        }
        Ok(ttl)
    }
}

impl Store {
    pub(super) fn check_stream_capacity(
        &self,
        map: &HashMap<StreamName, Arc<Stream>>,
    ) -> Result<(), StoreError> {
        if map.len() >= self.limits.max_streams {
            return Err(StoreError::TooManyStreams(self.limits.max_streams));
        }
        Ok(())
    }

    /// Charges `cost` bytes to the budget, crediting `freed` bytes that the
    /// same operation releases; refuses rather than exceed the budget.
    pub(super) fn reserve_bytes(&self, cost: usize, freed: usize) -> Result<(), StoreError> {
        let budget = self.limits.max_memory_bytes;
        self.gauges
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let next = (used + cost).saturating_sub(freed);
                (next <= budget).then_some(next)
            })
            .map(drop)
            .map_err(|_| StoreError::MemoryFull)
    }

    /// Charges a new stream's fixed cost; the caller then inserts it, or
    /// calls [`Store::release_stream`] if it does not.
    pub(super) fn reserve_stream(&self) -> Result<(), StoreError> {
        self.reserve_bytes(STREAM_OVERHEAD_BYTES, 0)
    }

    /// Credits the fixed cost of a stream that was removed (or never
    /// inserted).
    pub(super) fn release_stream(&self) {
        self.gauges
            .bytes
            .fetch_sub(STREAM_OVERHEAD_BYTES, Ordering::AcqRel);
    }

    /// Releases the memory of a pipe's messages that both ends have read
    /// (not counted as drops: nothing was lost).
    pub(super) fn consumed(&self, read: &[Arc<Stored>]) {
        if read.is_empty() {
            return;
        }
        let bytes: usize = read.iter().map(|stored| stored.cost()).sum();
        self.gauges.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.gauges
            .messages
            .fetch_sub(read.len(), Ordering::Relaxed);
    }

    /// Releases the memory of messages that left a ring.
    pub(super) fn release(&self, dropped: &[Arc<Stored>]) {
        if dropped.is_empty() {
            return;
        }
        let bytes: usize = dropped.iter().map(|stored| stored.cost()).sum();
        self.gauges.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.gauges
            .messages
            .fetch_sub(dropped.len(), Ordering::Relaxed);
        self.metrics.drops.inc_by(dropped.len() as u64);
    }
}
