//! What each subscriber records, and the figures drawn from all of them.
//!
//! A [`Tally`] belongs to one subscriber: a bit per expected sequence number
//! (so loss and duplicates are exact), the receive latency of every delivery,
//! and the gap notices it got. [`summarize`] merges the tallies of a run.
//!
//! Latency is receive time minus send time, both from [`super::payload::now_ns`].
//! The receive time is taken once per socket read, right after the read
//! returns, and applies to every message that read completed.

/// One subscriber's record of a run.
#[derive(Debug)]
pub struct Tally {
    expected: usize,
    seen: Vec<u64>,
    distinct: usize,
    duplicates: usize,
    /// `gap` events: the server said messages were dropped before delivery.
    gaps: usize,
    /// Messages whose payload was missing, damaged or out of range.
    malformed: usize,
    latencies_ns: Vec<u64>,
    last_received_ns: u64,
    /// Why the subscriber stopped early, if it did (a closed connection...).
    pub error: Option<String>,
}

impl Tally {
    pub fn new(expected: usize) -> Self {
        Self {
            expected,
            seen: vec![0; expected.div_ceil(64)],
            distinct: 0,
            duplicates: 0,
            gaps: 0,
            malformed: 0,
            latencies_ns: Vec::with_capacity(expected),
            last_received_ns: 0,
            error: None,
        }
    }

    /// Records one delivered message whose text contains a payload.
    pub fn message(&mut self, text: &[u8], received_ns: u64) {
        let Some((seq, sent_ns)) = super::payload::decode(text) else {
            self.malformed += 1;
            return;
        };
        let Some(index) = usize::try_from(seq).ok().filter(|i| *i < self.expected) else {
            self.malformed += 1;
            return;
        };
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        self.latencies_ns.push(received_ns.saturating_sub(sent_ns));
        self.last_received_ns = self.last_received_ns.max(received_ns);
    }

    /// Records a notice that messages were dropped before this subscriber
    /// could read them.
    pub fn gap(&mut self) {
        self.gaps += 1;
    }

    /// Every expected message has arrived.
    pub fn complete(&self) -> bool {
        self.distinct == self.expected
    }
}

/// The merged figures of one fan-out run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Messages delivered once each, summed over subscribers.
    pub deliveries: usize,
    /// Expected deliveries that never arrived.
    pub lost: usize,
    pub duplicates: usize,
    pub gaps: usize,
    pub malformed: usize,
    /// Subscribers that ended with an error (their missing messages are lost).
    pub failed_subscribers: usize,
    pub first_error: Option<String>,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// The latency distribution: the nearest-rank latency at each of
    /// [`CDF_STEPS`] evenly spaced fractions of the deliveries (for charts).
    pub cdf_ns: Vec<u64>,
    /// When the last delivery of the run arrived.
    pub last_received_ns: u64,
}

impl Summary {
    /// Losses of any kind: missing messages, gap notices, damaged payloads.
    pub fn any_loss(&self) -> bool {
        self.lost > 0 || self.gaps > 0 || self.malformed > 0
    }
}

/// Merges the tallies of every subscriber.
pub fn summarize(tallies: Vec<Tally>) -> Summary {
    let mut summary = Summary::default();
    let mut latencies = Vec::with_capacity(tallies.iter().map(|t| t.latencies_ns.len()).sum());
    for tally in tallies {
        summary.deliveries += tally.distinct;
        summary.lost += tally.expected - tally.distinct;
        summary.duplicates += tally.duplicates;
        summary.gaps += tally.gaps;
        summary.malformed += tally.malformed;
        summary.last_received_ns = summary.last_received_ns.max(tally.last_received_ns);
        if let Some(error) = tally.error {
            summary.failed_subscribers += 1;
            summary.first_error.get_or_insert(error);
        }
        latencies.extend_from_slice(&tally.latencies_ns);
    }
    latencies.sort_unstable();
    summary.p50_ns = percentile(&latencies, 0.50);
    summary.p99_ns = percentile(&latencies, 0.99);
    summary.max_ns = latencies.last().copied().unwrap_or(0);
    summary.cdf_ns = (1..=CDF_STEPS)
        .map(|step| percentile(&latencies, step as f64 / CDF_STEPS as f64))
        .collect();
    summary
}

/// Points of [`Summary::cdf_ns`].
pub const CDF_STEPS: usize = 200;

/// Nearest-rank percentile of sorted values; 0 when there are none.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::super::payload::encode;
    use super::*;

    #[test]
    fn loss_duplicates_and_latency_are_counted_per_sequence_number() {
        let mut tally = Tally::new(3);
        tally.message(&encode(0, 100), 150);
        tally.message(&encode(0, 100), 160);
        tally.message(&encode(2, 200), 300);
        tally.message(&encode(9, 200), 300);
        tally.message(b"not a payload", 300);
        assert!(!tally.complete());
        let summary = summarize(vec![tally]);
        assert_eq!(summary.deliveries, 2);
        assert_eq!(summary.lost, 1);
        assert_eq!(summary.duplicates, 1);
        assert_eq!(summary.malformed, 2);
        assert_eq!((summary.p50_ns, summary.max_ns), (50, 100));
        assert!(summary.any_loss());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
