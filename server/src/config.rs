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

    /// Budget for message bytes held in memory across all streams, plus a
    /// fixed 10 KiB per stream; a post or new stream that would exceed it
    /// answers 503.
    #[arg(long, env = "MALTEN_MAX_MEMORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_memory_bytes: usize,

    /// Longest a post waits, in milliseconds, for the subscribers that were
    /// waiting for news to take it before it is answered anyway; 0 answers
    /// at once. Keeps publishers from running ahead of the fan-out (in
    /// memory; the Redis backend does not pace). SSE subscribers written
    /// to by the posters themselves are not waited for: a post is answered
    /// once the round that writes it to them has begun.
    #[arg(long, env = "MALTEN_PACE_MAX_WAIT_MS", default_value_t = 250)]
    pub pace_max_wait_ms: u64,

    /// How many posts a stream's publishers may run ahead of the
    /// subscribers waiting for news that are woken to read (WebSocket, SSE
    /// on a kept-alive connection): a post is answered once those have
    /// taken the post this many before it (1: the post itself).
    #[arg(long, env = "MALTEN_PACE_WINDOW", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub pace_window: u64,

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

    /// Keep streams in Redis instead of this process, so several nodes
    /// behind a load balancer serve the same streams (docs/cluster.md), e.g.
    /// `redis://127.0.0.1:6379`. With `--redis-cluster`, a comma-separated
    /// list of cluster nodes to start from. Unset: in memory, one node.
    #[arg(
        long,
        env = "MALTEN_REDIS_URL",
        hide_env_values = true,
        help_heading = "Scale-out (Redis)"
    )]
    pub redis_url: Option<ApiKey>,

    /// The Redis of `--redis-url` is a Redis Cluster; streams are sharded by
    /// name.
    #[arg(
        long,
        env = "MALTEN_REDIS_CLUSTER",
        default_value_t = false,
        help_heading = "Scale-out (Redis)"
    )]
    pub redis_cluster: bool,

    /// Start even though Redis writes its data to disk (`save` or
    /// `appendonly` set). Malten promises messages are kept only in memory,
    /// so by default it refuses such a Redis.
    #[arg(
        long,
        env = "MALTEN_ALLOW_PERSISTENT_REDIS",
        default_value_t = false,
        help_heading = "Scale-out (Redis)"
    )]
    pub allow_persistent_redis: bool,

    /// API key sent to the language model backend as a bearer token. Setting
    /// it alone enables the LLM with OpenAI's API. Prefer the environment
    /// variable: a flag is visible to other users of the machine.
    #[arg(
        long = "llm-api-key",
        env = "OPENAI_API_KEY",
        hide_env_values = true,
        help_heading = "Language model"
    )]
    pub llm_api_key: Option<ApiKey>,

    /// Base URL of an OpenAI-compatible chat-completions API (OpenAI, Ollama
    /// `http://127.0.0.1:11434/v1`, llama.cpp's server, vLLM). Without it and
    /// without a key the LLM features are off; with only a key it is
    /// `https://api.openai.com/v1`.
    #[arg(long, env = "MALTEN_LLM_BASE_URL", help_heading = "Language model")]
    pub llm_base_url: Option<String>,

    /// Model to ask, unless a `/ws` session chooses another.
    #[arg(
        long,
        env = "MALTEN_LLM_MODEL",
        default_value = "gpt-4o-mini",
        help_heading = "Language model"
    )]
    pub llm_model: String,

    /// Models a `/ws` session may choose besides `--llm-model`, separated by
    /// commas; `*` allows any (mind the cost on a paid API).
    #[arg(
        long,
        env = "MALTEN_LLM_ALLOWED_MODELS",
        default_value = "",
        help_heading = "Language model"
    )]
    pub llm_allowed_models: String,

    /// System prompt put before every conversation.
    #[arg(long, env = "MALTEN_LLM_SYSTEM_PROMPT", default_value = DEFAULT_SYSTEM_PROMPT, help_heading = "Language model")]
    pub llm_system_prompt: String,

    /// Most tokens the model may generate per reply (OpenAI `max_tokens`).
    /// Stored replies are cut to 1024 characters in any case.
    #[arg(
        long,
        env = "MALTEN_LLM_MAX_TOKENS",
        default_value_t = 512,
        help_heading = "Language model"
    )]
    pub llm_max_tokens: u32,

    /// Seconds to wait for a connection to the backend.
    #[arg(long, env = "MALTEN_LLM_CONNECT_TIMEOUT_SECS", default_value_t = 5.0, value_parser = positive_secs, help_heading = "Language model")]
    pub llm_connect_timeout_secs: f64,

    /// Seconds to wait for the first piece of a reply; after that the caller
    /// is answered with 504 `llm_timeout`.
    #[arg(long, env = "MALTEN_LLM_FIRST_TOKEN_TIMEOUT_SECS", default_value_t = 30.0, value_parser = positive_secs, help_heading = "Language model")]
    pub llm_first_token_timeout_secs: f64,

    /// Seconds a whole reply may take.
    #[arg(long, env = "MALTEN_LLM_TOTAL_TIMEOUT_SECS", default_value_t = 120.0, value_parser = positive_secs, help_heading = "Language model")]
    pub llm_total_timeout_secs: f64,

    /// Characters of conversation (recent stream messages or session history)
    /// given to the model with a prompt; the newest are kept.
    #[arg(
        long,
        env = "MALTEN_LLM_CONTEXT_CHARS",
        default_value_t = 8_000,
        help_heading = "Language model"
    )]
    pub llm_context_chars: usize,

    /// Replies being generated at once for one client IP.
    #[arg(
        long,
        env = "MALTEN_LLM_MAX_CONCURRENT_PER_IP",
        default_value_t = 2,
        help_heading = "Language model"
    )]
    pub llm_max_concurrent_per_ip: usize,

    /// Replies being generated at once in one stream.
    #[arg(
        long,
        env = "MALTEN_LLM_MAX_CONCURRENT_PER_STREAM",
        default_value_t = 1,
        help_heading = "Language model"
    )]
    pub llm_max_concurrent_per_stream: usize,

    /// Prompts per client IP per minute, sustained.
    #[arg(
        long,
        env = "MALTEN_LLM_RATE_PER_MINUTE",
        default_value_t = 20,
        help_heading = "Language model"
    )]
    pub llm_rate_per_minute: u32,

    /// Prompts a client IP may send at once before the per-minute rate applies.
    #[arg(
        long,
        env = "MALTEN_LLM_RATE_BURST",
        default_value_t = 5,
        help_heading = "Language model"
    )]
    pub llm_rate_burst: u32,

    /// Seconds a `/ws` session may stay unused before it is forgotten.
    #[arg(long, env = "MALTEN_LLM_SESSION_IDLE_SECS", default_value_t = 1024.0, value_parser = positive_secs, help_heading = "Language model")]
    pub llm_session_idle_secs: f64,

    /// Most `/ws` sessions held at once; creating one more is refused.
    #[arg(
        long,
        env = "MALTEN_LLM_MAX_SESSIONS",
        default_value_t = 1024,
        help_heading = "Language model"
    )]
    pub llm_max_sessions: usize,

    /// Message of the day, sent as a `system` frame to every `/ws`
    /// connection; empty sends none.
    #[arg(long, env = "MALTEN_MOTD", default_value = DEFAULT_MOTD, help_heading = "Language model")]
    pub motd: String,

    /// Largest `/ws` frame accepted, in bytes; a larger one closes the
    /// connection with code 1002.
    #[arg(long, env = "MALTEN_WS_MAX_FRAME_BYTES", default_value_t = 16 * 1024, help_heading = "Language model")]
    pub ws_max_frame_bytes: usize,

    /// Seconds a `/ws` client may take to accept one frame; a client that
    /// stops reading for longer is disconnected, which frees its slot and
    /// ends the wait of any reply queued for it.
    #[arg(long, env = "MALTEN_WS_WRITE_TIMEOUT_SECS", default_value_t = 10.0, value_parser = positive_secs, help_heading = "Language model")]
    pub ws_write_timeout_secs: f64,

    /// Bearer token of the chat API's operator routes (`/v1`, docs/chat.md).
    /// Unset, the whole `/v1` API answers 404 `chat_disabled`. Prefer the
    /// environment variable: a flag is visible to other users of the machine.
    #[arg(
        long,
        env = "MALTEN_ADMIN_TOKEN",
        hide_env_values = true,
        help_heading = "Chat API"
    )]
    pub admin_token: Option<ApiKey>,

    /// Database of the chat API: `sqlite::memory:` (nothing on disk),
    /// `sqlite://chat.db?mode=rwc` or `postgres://user:password@host/db`.
    #[arg(
        long,
        env = "MALTEN_DATABASE_URL",
        default_value = "sqlite::memory:",
        hide_env_values = true,
        help_heading = "Chat API"
    )]
    pub database_url: ApiKey,

    /// Not a flag: the time the rate limits go by. Always the system's
    /// clock, except in tests that freeze it (`RateClock::frozen`) to say
    /// exactly when a refill happens.
    #[arg(skip)]
    pub rate_clock: crate::limits::RateClock,
}

/// The default system prompt: short replies, as they must fit a message.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant in Malten, \
    an anonymous chat of short messages. Answer in plain text of at most 1024 characters.";

/// The default message of the day on `/ws`.
pub const DEFAULT_MOTD: &str = "Welcome to Malten. Sessions live in memory only \
    and are forgotten when idle.";

/// Where the API is when only `OPENAI_API_KEY` is set.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A secret that never appears in `Debug` output, logs or `--help`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl std::str::FromStr for ApiKey {
    type Err = std::convert::Infallible;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self(raw.trim().to_owned()))
    }
}

fn positive_secs(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => Ok(secs),
        _ => Err("must be a positive number of seconds".into()),
    }
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

    /// Where the chat-completions API is, or `None` when the LLM is off: the
    /// base URL if set, else OpenAI's if a key is set. An empty value counts
    /// as unset, so `OPENAI_API_KEY=` disables rather than breaks.
    pub fn llm_base_url(&self) -> Option<String> {
        let base = self
            .llm_base_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty());
        match (base, self.llm_key()) {
            (Some(url), _) => Some(url.trim_end_matches('/').to_owned()),
            (None, Some(_)) => Some(OPENAI_BASE_URL.to_owned()),
            (None, None) => None,
        }
    }

    /// The API key, if one is set and not empty.
    pub fn llm_key(&self) -> Option<&ApiKey> {
        self.llm_api_key.as_ref().filter(|key| !key.0.is_empty())
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
    fn the_llm_is_off_without_url_or_key_and_defaults_to_openai_with_a_key() {
        let mut config = Config::parse_from(["malten"]);
        config.llm_api_key = None;
        config.llm_base_url = None;
        assert_eq!(config.llm_base_url(), None);
        config.llm_api_key = Some("sk-test".parse().unwrap());
        assert_eq!(config.llm_base_url().as_deref(), Some(OPENAI_BASE_URL));
        config.llm_base_url = Some("http://127.0.0.1:11434/v1/".into());
        assert_eq!(
            config.llm_base_url().as_deref(),
            Some("http://127.0.0.1:11434/v1")
        );
        config.llm_api_key = Some("".parse().unwrap());
        config.llm_base_url = Some(" ".into());
        assert_eq!(config.llm_base_url(), None, "empty values count as unset");
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let mut config = Config::parse_from(["malten"]);
        config.llm_api_key = Some("sk-very-secret".parse().unwrap());
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }

    #[test]
    fn help_documents_every_llm_flag_with_its_variable() {
        use clap::CommandFactory;
        let help = Config::command().render_long_help().to_string();
        for option in [
            "OPENAI_API_KEY",
            "--llm-base-url",
            "MALTEN_LLM_BASE_URL",
            "--llm-model",
            "--llm-allowed-models",
            "--llm-system-prompt",
            "--llm-max-tokens",
            "--llm-connect-timeout-secs",
            "--llm-first-token-timeout-secs",
            "--llm-total-timeout-secs",
            "--llm-context-chars",
            "--llm-max-concurrent-per-ip",
            "--llm-max-concurrent-per-stream",
            "--llm-rate-per-minute",
            "--llm-rate-burst",
            "--llm-session-idle-secs",
            "--llm-max-sessions",
            "--motd",
            "--ws-max-frame-bytes",
        ] {
            assert!(help.contains(option), "--help does not mention {option}");
        }
    }

    #[test]
    fn timeouts_must_be_positive() {
        for bad in ["0", "-1", "soon", "NaN"] {
            assert!(
                Config::try_parse_from(["malten", "--llm-total-timeout-secs", bad]).is_err(),
                "{bad} was accepted"
            );
        }
        let config = Config::parse_from(["malten", "--llm-first-token-timeout-secs", "0.25"]);
        assert_eq!(config.llm_first_token_timeout_secs, 0.25);
    }

    #[test]
    fn the_pace_window_is_one_to_a_ring() {
        for bad in ["0", "1025", "-1", "lots"] {
            assert!(
                Config::try_parse_from(["malten", "--pace-window", bad]).is_err(),
                "{bad} was accepted"
            );
        }
        let config = Config::parse_from(["malten", "--pace-window", "1024"]);
        assert_eq!(config.pace_window, 1024);
        let config = Config::parse_from(["malten", "--pace-max-wait-ms", "0"]);
        assert_eq!(config.pace_max_wait_ms, 0);
    }

    #[test]
    fn redis_is_off_by_default_and_its_url_is_redacted() {
        let config = Config::parse_from(["malten"]);
        assert!(config.redis_url.is_none() || std::env::var_os("MALTEN_REDIS_URL").is_some());
        assert!(!config.redis_cluster && !config.allow_persistent_redis);
        let config = Config::parse_from([
            "malten",
            "--redis-url",
            "redis://:hunter2@127.0.0.1:6379",
            "--redis-cluster",
            "--allow-persistent-redis",
        ]);
        assert_eq!(
            config.redis_url.as_ref().map(ApiKey::expose),
            Some("redis://:hunter2@127.0.0.1:6379")
        );
        assert!(config.redis_cluster && config.allow_persistent_redis);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Config::command().debug_assert();
    }
}
