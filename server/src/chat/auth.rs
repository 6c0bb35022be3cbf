//! Who is calling: the operator (admin token) or an app (access token), and
//! the limiter that slows down guessing of secrets.
//!
//! Every access token is looked up on every request: it must exist, belong
//! to an app whose secret for that environment has not been rotated since
//! the token was made, not be expired, and, when scoped to a user, that user
//! must still exist. Nothing is cached, so revocation and expiry take effect
//! at once, and on every node that shares the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use sqlx::Row;

use super::db::now_ms;
use super::error::ChatError;
use super::ids;
use super::ChatState;
use crate::error::ApiError;
use crate::limits::client_ip;

/// The environments of an app, each with its own secret and its own data.
pub const ENVIRONMENTS: [&str; 2] = ["production", "test"];

/// The bearer token of `Authorization`, if well-formed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The client address (for the wrong-secret limiter and the connection
/// cap), attributed like the stream API's: `limits::client_ip`.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<ChatState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ChatState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(parts, state.trust_forwarded_for())))
    }
}

/// The operator, proven by the admin token.
pub struct Admin;

impl FromRequestParts<ChatState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ChatState) -> Result<Self, ApiError> {
        let ip = client_ip(parts, state.trust_forwarded_for());
        state.failures().check(ip)?;
        let presented = bearer(&parts.headers).ok_or(ChatError::MissingToken)?;
        if ids::secrets_equal(presented, state.admin_token()) {
            Ok(Admin)
        } else {
            state.failures().record(ip);
            tracing::info!(client = %ip, "chat: wrong admin token");
            Err(ChatError::InvalidAdminToken.into())
        }
    }
}

/// An app acting in one environment, possibly as one user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app_id: String,
    pub environment: String,
    /// Set for a user-scoped token: it acts as this user only.
    pub user_id: Option<String>,
    /// When the token stops working, in Unix milliseconds.
    pub expires_at: i64,
}

impl Caller {
    /// Refuses user-scoped tokens on app-management routes.
    pub fn require_app_token(&self) -> Result<(), ChatError> {
        match self.user_id {
            Some(_) => Err(ChatError::UserTokenNotAllowed),
            None => Ok(()),
        }
    }
}

impl FromRequestParts<ChatState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ChatState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(ChatError::MissingToken)?;
        Ok(authenticate(state, token).await?)
    }
}

/// Checks an access token against the database, expiry and rotation included.
pub async fn authenticate(state: &ChatState, token: &str) -> Result<Caller, ChatError> {
    let pool = state.pool().clone();
    let row = sqlx::query(
        "SELECT t.app_id, t.environment, t.user_id, t.expires_at FROM chat_tokens t \
         JOIN chat_apps a ON a.id = t.app_id \
         WHERE t.token_hash = $1 AND t.generation = CASE t.environment \
           WHEN 'production' THEN a.production_generation ELSE a.test_generation END",
    )
    .bind(ids::hash(token))
    .fetch_optional(&pool)
    .await?
    .ok_or(ChatError::InvalidToken)?;
    let caller = Caller {
        app_id: row.try_get("app_id")?,
        environment: row.try_get("environment")?,
        user_id: row.try_get("user_id")?,
        expires_at: row.try_get("expires_at")?,
    };
    if caller.expires_at <= now_ms() {
        return Err(ChatError::TokenExpired);
    }
    if let Some(user_id) = &caller.user_id {
        let exists = sqlx::query("SELECT 1 FROM chat_users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&pool)
            .await?;
        if exists.is_none() {
            return Err(ChatError::InvalidToken);
        }
    }
    Ok(caller)
}

/// Wrong secrets (admin token or client secrets) per client address: after
/// [`Self::MAX_FAILURES`] in a window every further attempt from that
/// address, right or wrong, answers 429 until the window ends, so a secret
/// cannot be guessed at network speed.
pub struct FailureLimiter {
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    pub const MAX_FAILURES: u32 = 10;

    pub fn new(window: Duration) -> Self {
        Self {
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Err when `ip` has used up its failures for the current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), ChatError> {
        let mut failures = self.failures.lock().expect("limiter lock");
        let now = Instant::now();
        failures.retain(|_, (started, _)| now.duration_since(*started) < self.window);
        match failures.get(&ip) {
            Some((started, count)) if *count >= Self::MAX_FAILURES => {
                let left = self.window.saturating_sub(now.duration_since(*started));
                Err(ChatError::RateLimited {
                    retry_after_secs: left.as_secs().max(1),
                })
            }
            _ => Ok(()),
        }
    }

    pub fn record(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().expect("limiter lock");
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        entry.1 += 1;
    }
}
