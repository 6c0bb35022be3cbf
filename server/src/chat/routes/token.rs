//! `POST /v1/token`: an app exchanges its client secret for a short-lived
//! access token, optionally scoped to one of its users.
//!
//! Which secret matches decides the environment. The secret is compared
//! with both stored hashes in constant time; a wrong one counts against the
//! caller's address in the wrong-secret limiter, and unknown apps answer
//! exactly like wrong secrets, so app ids cannot be probed either.

use axum::extract::State;
use axum::Json;
use sqlx::Row;

use crate::chat::auth::ClientAddr;
use crate::chat::db::now_ms;
use crate::chat::error::{ChatError, Entity};
use crate::chat::extract::ChatJson;
use crate::chat::model::{TokenRequest, TokenResponse};
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

/// Lifetime of a token when the request names none, in seconds.
pub const DEFAULT_TTL_SECS: i64 = 900;
/// Longest lifetime a token may have, in seconds.
pub const MAX_TTL_SECS: i64 = 86_400;

#[utoipa::path(post, path = "/v1/token", tag = "token", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse)))]
pub async fn exchange(
    State(state): State<ChatState>,
    ClientAddr(ip): ClientAddr,
    ChatJson(asked): ChatJson<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    state.failures().check(ip)?;

    let ttl = asked.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ChatError::invalid(format!(
            "`ttl_seconds` must be between 1 and {MAX_TTL_SECS}"
        ))
        .into());
    }
    let pool = state.pool().clone();
    let app = sqlx::query(
        "SELECT production_secret_hash, test_secret_hash, production_generation, test_generation \
         FROM chat_apps WHERE id = $1",
    )
    .bind(&asked.app_id)
    .fetch_optional(&pool)
    .await?;
    // Compare with both hashes whatever happens, so timing tells nothing.
    let (production, test) = match &app {
        Some(row) => (
            ids::matches_hash(
                &asked.client_secret,
                &row.try_get::<String, _>("production_secret_hash")?,
            ),
            ids::matches_hash(
                &asked.client_secret,
                &row.try_get::<String, _>("test_secret_hash")?,
            ),
        ),
        None => {
            let _ = ids::matches_hash(&asked.client_secret, &ids::hash("no such app"));
            (false, false)
        }
    };
    let (environment, generation) = match (&app, production, test) {
        (Some(row), true, _) => (
            "production",
            row.try_get::<i64, _>("production_generation")?,
        ),
        (Some(row), _, true) => ("test", row.try_get::<i64, _>("test_generation")?),
        _ => {
            state.failures().record(ip);
            tracing::info!(client = %ip, "chat: wrong app id or client secret");
            return Err(ChatError::InvalidClientSecret.into());
        }
    };
    if let Some(user_id) = &asked.user_id {
        let user = sqlx::query(
            "SELECT 1 FROM chat_users WHERE id = $1 AND app_id = $2 AND environment = $3",
        )
        .bind(user_id)
        .bind(&asked.app_id)
        .bind(environment)
        .fetch_optional(&pool)
        .await?;
        if user.is_none() {
            return Err(ChatError::NotFound(Entity::User).into());
        }
    }
    let now = now_ms();
    // Forget expired tokens while we are here; they would be refused anyway.
    sqlx::query("DELETE FROM chat_tokens WHERE expires_at <= $1")
        .bind(now)
        .execute(&pool)
        .await?;
    let token = ids::new_token();
    sqlx::query(
        "INSERT INTO chat_tokens (token_hash, app_id, environment, user_id, generation, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ids::hash(&token))
    .bind(&asked.app_id)
    .bind(environment)
    .bind(&asked.user_id)
    .bind(generation)
    .bind(now + ttl * 1000)
    .execute(&pool)
    .await?;
    tracing::debug!(app = %asked.app_id, environment, user = ?asked.user_id, "chat: token issued");
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        environment: environment.to_owned(),
        user_id: asked.user_id,
    }))
}
