//! Prometheus metrics, one registry per server instance.
//!
//! Counters are incremented where things happen (the engine, the transports,
//! the error path); gauges that mirror the engine's state are read from it at
//! scrape time, so they can never drift.
//!
//! Dependencies point one way: this module is a leaf. The store holds an
//! `Arc<Metrics>` and bumps counters; `error.rs` leaves a [`RejectionCode`]
//! on responses; the `/metrics` handler (in `http/`) asks the engine for a
//! [`Snapshot`] and passes it to [`Metrics::render`]. Nothing here names the
//! store, the engine or the error type.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The engine's state at scrape time, for the gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub streams: usize,
    pub messages: usize,
    pub bytes: usize,
    pub subscribers: usize,
}

/// The error code of a rejected request, left on the response by `ApiError`
/// so the counting middleware can label it.
#[derive(Debug, Clone, Copy)]
pub struct RejectionCode(pub &'static str);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub posts: Counter,
    pub deliveries: Counter,
    /// Deliveries written by a stream's walker straight to a waiting
    /// subscriber's socket (`store/direct.rs`), one write each: deliveries
    /// over writes is how well concurrent posts batch.
    pub direct_writes: Counter,
    pub drops: Counter,
    pub gaps: Counter,
    /// Posts answered before every subscriber waiting for news had taken
    /// them, because `--pace-max-wait-ms` ran out.
    pub pace_timeouts: Counter,
    /// Seconds per round trip to a network backend (Redis); empty in memory.
    pub backend_latency: Histogram,
    /// Backend calls that failed or timed out (each answered 503).
    pub backend_errors: Counter,
    /// Times the node lost its backend subscription connection and opened
    /// a new one.
    pub backend_reconnects: Counter,
    rejections: Family<CodeLabel, Counter>,
    streams: Gauge,
    messages: Gauge,
    bytes: Gauge,
    subscribers: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("malten");
        let metrics = Self {
            posts: Counter::default(),
            deliveries: Counter::default(),
            direct_writes: Counter::default(),
            drops: Counter::default(),
            gaps: Counter::default(),
            pace_timeouts: Counter::default(),
            // 50 µs to about 1.6 s.
            backend_latency: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            backend_errors: Counter::default(),
            backend_reconnects: Counter::default(),
            rejections: Family::default(),
            streams: Gauge::default(),
            messages: Gauge::default(),
            bytes: Gauge::default(),
            subscribers: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("posts", "Messages stored", metrics.posts.clone());
        registry.register(
            "deliveries",
            "Messages written to real-time subscribers",
            metrics.deliveries.clone(),
        );
        registry.register(
            "direct_writes",
            "Deliveries written by a stream's walker straight to a waiting subscriber's socket",
            metrics.direct_writes.clone(),
        );
        registry.register(
            "drops",
            "Messages dropped by the per-stream bound or the TTL",
            metrics.drops.clone(),
        );
        registry.register(
            "gaps",
            "Gap events sent to subscribers that missed dropped messages",
            metrics.gaps.clone(),
        );
        registry.register(
            "pace_timeouts",
            "Posts answered before every waiting subscriber had taken them",
            metrics.pace_timeouts.clone(),
        );
        registry.register(
            "backend_latency_seconds",
            "Round-trip time of calls to the network backend (Redis)",
            metrics.backend_latency.clone(),
        );
        registry.register(
            "backend_errors",
            "Calls to the network backend that failed or timed out",
            metrics.backend_errors.clone(),
        );
        registry.register(
            "backend_reconnects",
            "Times the backend subscription connection was lost and reopened",
            metrics.backend_reconnects.clone(),
        );
        registry.register(
            "rejections",
            "Requests refused, by error code",
            metrics.rejections.clone(),
        );
        registry.register("streams", "Streams held in memory", metrics.streams.clone());
        registry.register(
            "messages",
            "Messages held in memory",
            metrics.messages.clone(),
        );
        registry.register(
            "message_bytes",
            "Bytes of messages held in memory, as charged to the budget",
            metrics.bytes.clone(),
        );
        registry.register(
            "subscribers",
            "Open SSE and WebSocket subscriptions",
            metrics.subscribers.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    pub fn rejection(&self, code: &str) {
        self.rejections
            .get_or_create(&CodeLabel {
                code: code.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition, with gauges set from `snapshot`.
    pub fn render(&self, snapshot: Snapshot) -> String {
        set(&self.streams, snapshot.streams as u64);
        set(&self.messages, snapshot.messages as u64);
        set(&self.bytes, snapshot.bytes as u64);
        set(&self.subscribers, snapshot.subscribers as u64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn set(gauge: &Gauge<i64, std::sync::atomic::AtomicI64>, value: u64) {
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
}
