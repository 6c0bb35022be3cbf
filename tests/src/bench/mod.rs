//! The performance benchmark behind `malten-bench` (`make bench`): Malten's
//! fan-out and idle-connection costs, measured against Redis pub/sub in the
//! same run, on the same machine: Malten through thin hand-written HTTP and
//! SSE clients, Redis through the `redis` crate.
//!
//! # Layout
//! - [`payload`]: the 256-byte message that carries its sequence number and
//!   send time, and the benchmark's clock.
//! - [`stats`]: per-subscriber loss, duplicate and latency records, merged
//!   into percentiles.
//! - [`process`]: the servers as child processes (killed on drop), and
//!   their memory and CPU time from `/proc`.
//! - [`http`], [`sse`], [`websocket`]: the clients (HTTP/1.1 publisher and
//!   polls, SSE subscriber, WebSocket subscriber on `tokio-tungstenite`);
//!   [`resp`]: Redis subscribers and publisher, on the `redis` crate.
//! - [`fanout`]: one publisher, N subscribers, M messages; also over
//!   several Malten nodes sharing a Redis (the scale-out run).
//! - [`idle`]: K quiet subscriptions and the server memory they take.
//! - [`report`]: the machine line and the Markdown tables; [`charts`]: the
//!   same as SVG charts.
//!
//! Everything talks to 127.0.0.1 only; every wait is bounded by a deadline.

pub mod charts;
pub mod fanout;
pub mod http;
pub mod idle;
pub mod payload;
pub mod process;
pub mod report;
pub mod resp;
pub mod sse;
pub mod stats;
pub mod websocket;

/// A progress line on stderr, stamped with the benchmark's clock; stdout is
/// kept for the report.
pub fn progress(system: &str, what: &str) {
    eprintln!(
        "[{:>8.3}s] {system}: {what}",
        payload::now_ns() as f64 / 1e9
    );
}
