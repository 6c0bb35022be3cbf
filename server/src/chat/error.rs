//! The errors of the chat API, in the project's error contract.
//!
//! Every failure is `{"error": "<sentence>", "code": "<snake_case>"}` with a
//! matching status, exactly like the stream API's [`crate::error::ApiError`];
//! the codes are stable and listed in `docs/chat.md`. Database failures are
//! logged with their cause and shown only as `internal`. No variant carries
//! a secret, a token or message text, so bodies and logs never echo them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use malten_shared::wire::ErrorBody;

use crate::metrics::RejectionCode;

/// What kind of thing was not found; part of the `*_not_found` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Org,
    App,
    User,
    Channel,
    Participant,
    Message,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Self::Org => "organization",
            Self::App => "app",
            Self::User => "user",
            Self::Channel => "channel",
            Self::Participant => "participant",
            Self::Message => "message",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// No admin token is configured: the whole `/v1` API is off.
    #[error("the chat API is not enabled on this server")]
    Disabled,
    #[error("no such route; see docs/chat.md")]
    RouteNotFound,
    #[error("this route does not take that method; see docs/chat.md")]
    MethodNotAllowed,
    /// A field, parameter or header is missing or malformed; the text names it.
    #[error("{0}")]
    Invalid(String),
    #[error("the request body is not valid JSON for this route: {0}")]
    InvalidJson(String),
    #[error("the request body is larger than the server accepts (--max-body-bytes)")]
    BodyTooLarge,
    #[error("missing or malformed `Authorization: Bearer` header")]
    MissingToken,
    #[error("the access token is not valid (unknown, revoked, or for another app)")]
    InvalidToken,
    #[error("the access token has expired; exchange the client secret for a new one")]
    TokenExpired,
    #[error("wrong admin token")]
    InvalidAdminToken,
    #[error("wrong app id or client secret")]
    InvalidClientSecret,
    #[error("this route needs an app token, not one scoped to a user")]
    UserTokenNotAllowed,
    #[error("this token acts as another user")]
    Forbidden,
    #[error("no such {}", .0.name())]
    NotFound(Entity),
    #[error("the username is taken in this app and environment")]
    UsernameTaken,
    #[error("the user is already a participant of this channel")]
    AlreadyParticipant,
    #[error("the sender is not a participant of this channel")]
    NotParticipant,
    #[error("`reply_to` must name a message of the same channel")]
    InvalidReplyTo,
    #[error("this Idempotency-Key was used for a different message")]
    IdempotencyConflict,
    #[error("too many wrong secrets from your address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many open live connections from your address (at most {limit})")]
    TooManyConnections { limit: usize },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ChatError {
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::Invalid(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Disabled | Self::RouteNotFound | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidAdminToken
            | Self::InvalidClientSecret => StatusCode::UNAUTHORIZED,
            Self::UserTokenNotAllowed | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UsernameTaken | Self::AlreadyParticipant | Self::IdempotencyConflict => {
                StatusCode::CONFLICT
            }
            Self::NotParticipant | Self::InvalidReplyTo => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::TooManyConnections { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code (the list is in `docs/chat.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "chat_disabled",
            Self::RouteNotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Invalid(_) => "invalid_parameter",
            Self::InvalidJson(_) => "invalid_json",
            Self::BodyTooLarge => "body_too_large",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidAdminToken => "invalid_admin_token",
            Self::InvalidClientSecret => "invalid_client_secret",
            Self::UserTokenNotAllowed => "user_token_not_allowed",
            Self::Forbidden => "forbidden",
            Self::NotFound(Entity::Org) => "org_not_found",
            Self::NotFound(Entity::App) => "app_not_found",
            Self::NotFound(Entity::User) => "user_not_found",
            Self::NotFound(Entity::Channel) => "channel_not_found",
            Self::NotFound(Entity::Participant) => "participant_not_found",
            Self::NotFound(Entity::Message) => "message_not_found",
            Self::UsernameTaken => "username_taken",
            Self::AlreadyParticipant => "already_participant",
            Self::NotParticipant => "not_participant",
            Self::InvalidReplyTo => "invalid_reply_to",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyConnections { .. } => "too_many_connections",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for ChatError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<sqlx::migrate::MigrateError> for ChatError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(err.into())
    }
}

/// Whether `err` is a unique-constraint violation (a lost race on an insert).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

impl IntoResponse for ChatError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "chat: internal error");
        } else {
            // Expected: INFO for the client's mistakes, WARN for limits.
            if status.is_server_error() {
                tracing::warn!(status = status.as_u16(), code, "chat: request refused");
            } else {
                tracing::info!(status = status.as_u16(), code, "chat: request refused");
            }
        }
        let body = ErrorBody {
            error: self.to_string(),
            code: code.to_owned(),
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(RejectionCode(code));
        let retry_after = match self {
            Self::RateLimited { retry_after_secs } => Some(retry_after_secs),
            Self::TooManyConnections { .. } => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
