//! Malten's server as a library, so tests can run it in-process.
//!
//! `main.rs` only parses the configuration and calls [`run`]; tests call
//! [`run`] with a listener on `127.0.0.1:0` and their own shutdown future.
//!
//! # Layout
//! - [`config`]: every flag, with its environment variable and default.
//! - [`cli`]: the binary's command line: serving, or a [`client`] subcommand.
//! - [`client`]: the terminal client (`malten new/send/read/follow/pipe`).
//! - [`engine`]: the seam every handler goes through to reach streams: one
//!   enum over backends, with subscriptions and deliveries.
//! - [`store`]: the in-memory backend: streams, rings, subscriptions, expiry.
//! - [`http`]: thin handlers that parse input, call the engine, map errors.
//! - [`llm`]: the language model: `/commands` in streams and `/ws` sessions.
//! - [`error`]: [`error::ApiError`], the one error type of the API.
//! - [`limits`]: client IP, rate limits and connection caps.
//! - [`metrics`]: the Prometheus registry behind `/metrics`.
//! - [`serve`]: accepting connections (HTTP/1.1, `TCP_NODELAY`).
//! - [`assets`]: the embedded web app, and [`csp`] its Content-Security-Policy.
//!
//! Data flows one way: request → validate (`malten-shared`) → engine →
//! store → fan-out (subscriptions) → transport (SSE or WebSocket).
//! `docs/architecture.md` follows one message through the files.

pub mod assets;
pub mod chat;
pub mod cli;
pub mod client;
pub mod config;
pub mod csp;
pub mod engine;
pub mod error;
pub mod http;
pub mod limits;
pub mod llm;
pub mod metrics;
pub mod serve;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::assets::WebApp;
use crate::config::Config;
use crate::engine::Engine;
use crate::limits::{ConnectionLimits, RateLimits};
use crate::llm::Llm;
use crate::metrics::Metrics;
use crate::store::StoreLimits;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    pub rate_limits: Arc<RateLimits>,
    pub connection_limits: Arc<ConnectionLimits>,
    pub web_app: Arc<WebApp>,
    pub llm: Arc<Llm>,
}

impl AppState {
    /// The state with the in-memory engine.
    pub fn new(config: Config) -> Self {
        let metrics = Arc::new(Metrics::new());
        let engine = Engine::memory(store_limits(&config), Arc::clone(&metrics));
        Self::with_engine(config, engine, metrics)
    }

    /// The state with the engine the configuration asks for: Redis with
    /// `--redis-url`, else memory. Fails if Redis cannot be reached or
    /// keeps data on disk without `--allow-persistent-redis`.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let Some(url) = config.redis_url.as_ref() else {
            return Ok(Self::new(config));
        };
        let metrics = Arc::new(Metrics::new());
        let settings = engine::redis::Settings::parse(url.expose(), config.redis_cluster);
        let engine = Engine::redis(
            &settings,
            config.allow_persistent_redis,
            store_limits(&config),
            Arc::clone(&metrics),
        )
        .await?;
        Ok(Self::with_engine(config, engine, metrics))
    }

    fn with_engine(config: Config, engine: Engine, metrics: Arc<Metrics>) -> Self {
        Self {
            rate_limits: Arc::new(RateLimits::new(
                config.rate_per_second,
                config.rate_burst,
                config.rate_clock.clone(),
            )),
            connection_limits: Arc::new(ConnectionLimits::new(config.max_connections_per_ip)),
            web_app: Arc::new(WebApp::from_config(config.web_dir.clone())),
            llm: Arc::new(Llm::from_config(&config)),
            config: Arc::new(config),
            engine,
            metrics,
        }
    }
}

fn store_limits(config: &Config) -> StoreLimits {
    StoreLimits {
        default_ttl: Duration::from_secs(config.default_ttl),
        min_ttl: Duration::from_secs(config.min_ttl),
        max_ttl: Duration::from_secs(config.max_ttl),
        max_streams: config.max_streams,
        max_memory_bytes: config.max_memory_bytes,
        pace_max_wait: Duration::from_millis(config.pace_max_wait_ms),
        pace_window: config.pace_window,
    }
}

/// The whole HTTP surface: API routes, the web app and shared layers, and
/// the chat API under `/v1` (`None`: off).
pub fn app(state: AppState, chat: Option<chat::ChatState>) -> Router {
    let max_body_bytes = state.config.max_body_bytes;
    let metrics = Arc::clone(&state.metrics);
    let routes = http::router(state).merge(chat::router(chat, max_body_bytes));
    http::with_shared_layers(routes, metrics)
}

/// Serves until `shutdown` completes, then tells subscribers, stops
/// accepting, and waits at most the configured grace period for open
/// connections before returning.
///
/// Fails before serving anything when the chat API is on and its database
/// cannot be opened.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::connect(config).await?;
    let chat = chat::ChatState::open(&state.config, state.engine.watch_shutdown())
        .await?
        .map(|chat| match state.engine.chat_hub() {
            // Nodes on one Redis (and one database) share live chat events.
            Some(hub) => chat.with_hub(hub),
            None => chat,
        });
    // Announced only now, when requests can be answered: process tests and
    // the benchmark wait for this line.
    tracing::info!(addr = %listener.local_addr()?, "malten listening");
    let grace = state.config.shutdown_grace();
    let engine = state.engine.clone();
    let sweeper = engine.spawn_maintenance();
    let pruner = spawn_rate_limit_pruner(Arc::clone(&state.rate_limits), Arc::clone(&state.llm));
    let session_purger = llm::sessions::spawn_purger(Arc::clone(&state.llm));

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: notifying subscribers and session sockets");
        engine.begin_shutdown();
        let _ = stopping_tx.send(());
    };
    let server = tokio::spawn(serve::serve(listener, app(state, chat), signal));

    // Once the signal fired, give connections `grace` to finish.
    let outcome = tokio::select! {
        result = server => Some(result),
        _ = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => None,
    };
    sweeper.abort();
    pruner.abort();
    session_purger.abort();
    match outcome {
        Some(joined) => joined?,
        None => tracing::warn!(
            ?grace,
            "connections still open after the grace period; exiting anyway"
        ),
    }
    Ok(())
}

fn spawn_rate_limit_pruner(
    rate_limits: Arc<RateLimits>,
    llm: Arc<Llm>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(60));
        loop {
            interval.tick().await;
            rate_limits.prune();
            llm.prune();
        }
    })
}

/// Completes on Ctrl-C or SIGTERM.
///
/// The handlers are installed when this function is called, not when the
/// future is first polled, so a signal that arrives while the server is
/// still starting is not lost (and does not kill the process outright).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                _ => {
                    tracing::warn!("cannot install signal handlers; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
