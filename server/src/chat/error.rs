//! The errors of the chat API: a plain domain enum, with no HTTP in it.
//!
//! Each variant has a stable `code()` (listed in `docs/chat.md`), because
//! codes also travel outside HTTP responses: a live stream's final `end`
//! event carries one. `crate::error` gives each its status and
//! `Retry-After` once, as for every other domain error, and makes it
//! `{"error": "<sentence>", "code": "<snake_case>"}`. Database failures are
//! shown only as `internal` and logged there with their cause. No variant
//! carries a secret, a token or message text, so bodies and logs never echo
//! them.

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
    /// The end of a live connection when the server stops.
    #[error("the server is shutting down; reconnect with Last-Event-ID")]
    ShuttingDown,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ChatError {
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::Invalid(what.into())
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
            Self::ShuttingDown => "shutting_down",
            Self::Internal(_) => "internal",
        }
    }

    /// Seconds to put in `Retry-After`, for refusals that pass with time.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::TooManyConnections { .. } => Some(1),
            _ => None,
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
