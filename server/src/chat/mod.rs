//! Chat as a service: organizations, apps, users, channels, participants
//! and messages, as a versioned JSON API under `/v1` (see `docs/chat.md`).
//!
//! It shares only the binary and the error contract with the stream API: it
//! has its own state ([`ChatState`]), its own SQL database (see [`db`]) and
//! is attached to the app with one `merge`. Without `--admin-token` every
//! `/v1` route answers 404 `chat_disabled` and nothing is opened.
//!
//! # Layout
//! - [`db`]: the pool (SQLite or PostgreSQL by URL) and migrations.
//! - [`auth`]: the admin token, access tokens, the wrong-secret limiter.
//! - [`ids`]: random prefixed ids, secrets, hashes, constant-time compares.
//! - [`model`]: request and response JSON, input checks.
//! - [`paging`]: `limit` and opaque cursors.
//! - [`realtime`]: the [`realtime::Hub`] seam for live events.
//! - [`routes`]: one file per resource; [`openapi`] the generated document.
//! - [`error`]: [`error::ChatError`], in the project's `{"error","code"}` shape.

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

use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use sqlx::AnyPool;
use tokio::sync::OnceCell;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::limits::ConnectionLimits;
use auth::FailureLimiter;
use error::ChatError;
use realtime::{Hub, LocalHub};

/// Everything a chat handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct ChatState(Arc<Inner>);

struct Inner {
    admin_token: String,
    database_url: String,
    /// Opened on first use (and warmed up at start), so building the router
    /// stays synchronous.
    pool: OnceCell<AnyPool>,
    hub: Arc<dyn Hub>,
    failures: FailureLimiter,
    /// Live connections per client address (`--max-connections-per-ip`),
    /// counted apart from the stream API's.
    connections: ConnectionLimits,
    connection_limit: usize,
    trust_forwarded_for: bool,
    keepalive: Duration,
}

impl ChatState {
    /// The chat state for `config`, or `None` when no admin token is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        let admin_token = config
            .admin_token
            .as_ref()
            .map(|token| token.expose().to_owned())
            .filter(|token| !token.is_empty())?;
        Some(Self(Arc::new(Inner {
            admin_token,
            database_url: config.database_url.expose().to_owned(),
            pool: OnceCell::new(),
            hub: Arc::new(LocalHub::default()),
            failures: FailureLimiter::new(Duration::from_secs(60)),
            connections: ConnectionLimits::new(config.max_connections_per_ip),
            connection_limit: config.max_connections_per_ip,
            trust_forwarded_for: config.trust_forwarded_for,
            keepalive: config.keepalive(),
        })))
    }

    /// The same state with another [`Hub`] for live events, such as one
    /// that carries them between nodes. Call before serving.
    pub fn with_hub(self, hub: Arc<dyn Hub>) -> Self {
        let inner = Arc::try_unwrap(self.0)
            .unwrap_or_else(|_| panic!("with_hub before the state is shared"));
        Self(Arc::new(Inner { hub, ..inner }))
    }

    /// The database, connected and migrated on first use.
    pub async fn pool(&self) -> Result<AnyPool, ChatError> {
        self.0
            .pool
            .get_or_try_init(|| db::connect(&self.0.database_url))
            .await
            .cloned()
            .map_err(ChatError::Internal)
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
}

/// The `/v1` routes for `config`: the chat API, or `chat_disabled` answers.
pub fn router(config: &Config) -> Router {
    match ChatState::from_config(config) {
        Some(state) => router_with(state, config.max_body_bytes),
        None => Router::new()
            .route("/v1", any(disabled))
            .route("/v1/{*rest}", any(disabled)),
    }
}

/// The chat API over a given state (e.g. one [`ChatState::with_hub`]).
pub fn router_with(state: ChatState, max_body_bytes: usize) -> Router {
    warm_up(&state);
    let (api, _openapi) = openapi::router().split_for_parts();
    api.route("/v1", any(not_found))
        .route("/v1/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // Statuses are logged once, by level, where the error
                // becomes a response (`error.rs`); tower-http's default
                // would log every 5xx, a full memory budget included, as
                // an ERROR.
                .on_failure(crate::http::log_failure),
        )
        .with_state(state)
}

/// Connects at start, so a bad `--database-url` shows in the log at once
/// rather than at the first request.
fn warm_up(state: &ChatState) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let state = state.clone();
    runtime.spawn(async move {
        let url = db::redacted(&state.0.database_url);
        match state.pool().await {
            Ok(_) => tracing::info!(database = %url, "chat: database ready"),
            Err(err) => {
                tracing::error!(database = %url, error = ?err, "chat: cannot open the database")
            }
        }
    });
}

/// Method and path only: the query may hold an `access_token`.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    tracing::debug_span!(
        "chat_request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

async fn disabled() -> ChatError {
    ChatError::Disabled
}

async fn not_found() -> ChatError {
    ChatError::RouteNotFound
}

async fn method_not_allowed() -> ChatError {
    ChatError::MethodNotAllowed
}
