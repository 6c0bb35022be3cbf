//! Chat as a service: organizations, apps, users, channels, participants
//! and messages, as a versioned JSON API under `/v1` (see `docs/chat.md`).
//!
//! It shares only the binary and the error contract with the stream API: it
//! has its own state ([`ChatState`]), its own SQL database (see [`db`]) and
//! is attached to the app with one `merge`. Without `--admin-token` every
//! `/v1` route answers 404 `chat_disabled` and nothing is opened. With it,
//! [`ChatState::open`] connects and migrates the database before the server
//! accepts a connection, so a bad `--database-url` stops start-up with one
//! clear error instead of answering 500 later.
//!
//! # Layout
//! - [`db`]: the pool (SQLite or PostgreSQL by URL) and migrations.
//! - [`auth`]: the admin token, access tokens, the wrong-secret limiter.
//! - [`ids`]: random prefixed ids, secrets, hashes, constant-time compares.
//! - [`model`]: request and response JSON, input checks.
//! - [`paging`]: `limit` and opaque cursors.
//! - [`realtime`]: the [`realtime::Hub`] seam for live events.
//! - [`routes`]: one file per resource; [`openapi`] the generated document.
//! - [`error`]: [`error::ChatError`], a plain domain enum with stable codes;
//!   `crate::error::ApiError::Chat` gives it its status at the HTTP edge.

pub mod auth;
pub mod db;
pub mod error;
pub mod extract;
pub mod ids;
pub mod model;
pub mod openapi;
pub mod paging;
pub mod realtime;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use sqlx::AnyPool;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::ApiError;
use crate::limits::ConnectionLimits;
use auth::FailureLimiter;
use error::ChatError;
use realtime::{Hub, LocalHub};

/// Everything a chat handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct ChatState(Arc<Inner>);

struct Inner {
    admin_token: String,
    /// Connected and migrated before serving ([`ChatState::open`]).
    pool: AnyPool,
    hub: Arc<dyn Hub>,
    failures: FailureLimiter,
    /// Live connections per client address (`--max-connections-per-ip`),
    /// counted apart from the stream API's.
    connections: ConnectionLimits,
    connection_limit: usize,
    trust_forwarded_for: bool,
    keepalive: Duration,
    /// Turns `true` when the server begins to shut down
    /// (`Engine::watch_shutdown`): live connections then say `end`.
    shutdown: watch::Receiver<bool>,
}

impl ChatState {
    /// The chat state for `config`, with its database connected and
    /// migrated, or `None` when no admin token is set (the API is off and
    /// nothing is opened). Fails when the database cannot be opened.
    /// `shutdown` turns `true` when the server begins to shut down.
    pub async fn open(
        config: &Config,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(admin_token) = config
            .admin_token
            .as_ref()
            .map(|token| token.expose().to_owned())
            .filter(|token| !token.is_empty())
        else {
            return Ok(None);
        };
        let url = config.database_url.expose();
        let pool = db::connect(url)
            .await
            .with_context(|| format!("cannot open the chat database {}", db::redacted(url)))?;
        tracing::info!(database = %db::redacted(url), "chat: database ready");
        Ok(Some(Self(Arc::new(Inner {
            admin_token,
            pool,
            hub: Arc::new(LocalHub::default()),
            failures: FailureLimiter::new(Duration::from_secs(60)),
            connections: ConnectionLimits::new(config.max_connections_per_ip),
            connection_limit: config.max_connections_per_ip,
            trust_forwarded_for: config.trust_forwarded_for,
            keepalive: config.keepalive(),
            shutdown,
        }))))
    }

    /// The same state with another [`Hub`] for live events, such as one
    /// that carries them between nodes. Call before serving.
    pub fn with_hub(self, hub: Arc<dyn Hub>) -> Self {
        let inner = Arc::try_unwrap(self.0)
            .unwrap_or_else(|_| panic!("with_hub before the state is shared"));
        Self(Arc::new(Inner { hub, ..inner }))
    }

    /// The database, connected and migrated.
    pub fn pool(&self) -> &AnyPool {
        &self.0.pool
    }

    pub fn hub(&self) -> &dyn Hub {
        &*self.0.hub
    }

    pub(crate) fn admin_token(&self) -> &str {
        &self.0.admin_token
    }

    pub(crate) fn failures(&self) -> &FailureLimiter {
        &self.0.failures
    }

    pub(crate) fn connections(&self) -> &ConnectionLimits {
        &self.0.connections
    }

    pub(crate) fn connection_limit(&self) -> usize {
        self.0.connection_limit
    }

    pub(crate) fn trust_forwarded_for(&self) -> bool {
        self.0.trust_forwarded_for
    }

    pub(crate) fn keepalive(&self) -> Duration {
        self.0.keepalive
    }

    /// A receiver that turns `true` when the server begins to shut down.
    pub(crate) fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.0.shutdown.clone()
    }
}

/// The `/v1` routes: the chat API over `state` (from [`ChatState::open`]),
/// or `chat_disabled` answers when it is `None`.
pub fn router(state: Option<ChatState>, max_body_bytes: usize) -> Router {
    match state {
        Some(state) => router_with(state, max_body_bytes),
        None => Router::new()
            .route("/v1", any(disabled))
            .route("/v1/{*rest}", any(disabled)),
    }
}

/// The chat API over a given state (e.g. one [`ChatState::with_hub`]).
pub fn router_with(state: ChatState, max_body_bytes: usize) -> Router {
    let (api, _openapi) = openapi::router().split_for_parts();
    api.route("/v1", any(not_found))
        .route("/v1/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn disabled() -> ApiError {
    ChatError::Disabled.into()
}

async fn not_found() -> ApiError {
    ChatError::RouteNotFound.into()
}

async fn method_not_allowed() -> ApiError {
    ChatError::MethodNotAllowed.into()
}
