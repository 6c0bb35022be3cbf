//! Every knob of the server: a flag, an environment variable and a default.
//!
//! The defaults are safe for a small public instance; `malten --help` lists
//! them all.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use malten_shared::limits::DEFAULT_TTL_SECS;

/// Malten: anonymous, ephemeral, end-to-end encrypted message streams, kept
/// only in memory.
#[derive(Debug, Clone, Parser)]
#[command(name = "malten", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MALTEN_ADDR", default_value = "127.0.0.1:9090")]
    pub addr: SocketAddr,

    /// Serve the web app from this directory instead of the copy built into
    /// the binary (useful while developing the frontend).
    #[arg(long, env = "MALTEN_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Log format: `text` or `json`. Logs go to stderr; the server writes no files.
    #[arg(long, env = "MALTEN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Idle time-to-live of a stream when its creator sets none, in seconds.
    #[arg(long, env = "MALTEN_DEFAULT_TTL", default_value_t = DEFAULT_TTL_SECS)]
    pub default_ttl: u64,

    /// Shortest per-stream TTL a client may ask for, in seconds.
    #[arg(long, env = "MALTEN_MIN_TTL", default_value_t = 60)]
    pub min_ttl: u64,

    /// Longest per-stream TTL a client may ask for, in seconds.
    #[arg(long, env = "MALTEN_MAX_TTL", default_value_t = 86_400)]
    pub max_ttl: u64,

    /// Most streams held at once; creating one more answers 503.
    #[arg(long, env = "MALTEN_MAX_STREAMS", default_value_t = 10_000)]
    pub max_streams: usize,

    /// Budget for message bytes held in memory across all streams; a post
    /// that would exceed it answers 503.
    #[arg(long, env = "MALTEN_MAX_MEMORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_memory_bytes: usize,

    /// Largest request body accepted, in bytes; larger ones answer 413.
    #[arg(long, env = "MALTEN_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,

    /// Sustained posts and stream creations per client IP, per second.
    #[arg(long, env = "MALTEN_RATE_PER_SECOND", default_value_t = 10)]
    pub rate_per_second: u64,

    /// Burst of posts and stream creations a client IP may make at once.
    #[arg(long, env = "MALTEN_RATE_BURST", default_value_t = 30)]
    pub rate_burst: u32,

    /// Concurrent SSE and WebSocket connections per client IP.
    #[arg(long, env = "MALTEN_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,

    /// Take the client IP from the last `X-Forwarded-For` entry. Enable only
    /// behind a reverse proxy you control: clients can forge the header.
    #[arg(long, env = "MALTEN_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Seconds between SSE keep-alive comments and WebSocket pings.
    #[arg(long, env = "MALTEN_KEEPALIVE_SECS", default_value_t = 15)]
    pub keepalive_secs: u64,

    /// Seconds to wait for connections to close after a shutdown signal.
    #[arg(long, env = "MALTEN_SHUTDOWN_GRACE_SECS", default_value_t = 3)]
    pub shutdown_grace_secs: u64,
}

impl Config {
    /// The defaults, as if `malten` were run with no flags (environment variables still apply).
    pub fn defaults() -> Self {
        Self::parse_from(["malten"])
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_product() {
        let config = Config::parse_from(["malten"]);
        assert_eq!(config.addr.to_string(), "127.0.0.1:9090");
        assert_eq!(config.default_ttl, 1024);
        assert!(config.min_ttl <= config.default_ttl && config.default_ttl <= config.max_ttl);
    }

    #[test]
    fn flags_override_defaults() {
        let config = Config::parse_from(["malten", "--addr", "0.0.0.0:8080", "--max-streams", "5"]);
        assert_eq!(config.addr.port(), 8080);
        assert_eq!(config.max_streams, 5);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
