//! The one error type of the HTTP API, and the only place that maps errors
//! to HTTP.
//!
//! Domain modules return their own plain `thiserror` enums, with no HTTP in
//! them: [`StoreError`] and [`EngineError`] (`store/`, `engine/`),
//! [`LlmError`] and [`CommandError`] (`llm/`), [`LimitError`] (`limits`),
//! [`ChatError`] (`chat/`, the `/v1` API).
//! Each carries its stable `code()`, because codes also travel outside HTTP
//! (a failed reply's final `partial` event, `/ws` frames). Here each is
//! given its status once, and every failure becomes
//! `{"error": "<sentence>", "code": "<snake_case>"}` with `Retry-After` when
//! the client should wait. Internal errors (and an unreachable backend) are
//! logged at ERROR with their cause and shown to the client only as a
//! generic sentence; every other refusal is expected and logs at INFO (4xx)
//! or WARN (5xx: a limit reached, the model failing) with its code only. No variant carries message
//! text, so error bodies and logs never echo what someone wrote.
//!
//! Dependencies point inwards only: this module imports the domain errors
//! and `metrics::RejectionCode`; no domain module imports this one.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use malten_shared::crypto::EnvelopeError;
use malten_shared::wire::ErrorBody;
use malten_shared::{MessageTextError, StreamNameError};

use crate::chat::error::ChatError;
use crate::engine::EngineError;
use crate::limits::LimitError;
use crate::llm::command::CommandError;
use crate::llm::LlmError;
use crate::metrics::RejectionCode;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidStreamName(#[from] StreamNameError),
    /// A query, form or JSON field is missing or malformed; the text names it.
    #[error("{0}")]
    InvalidParameter(String),
    /// `encrypted=true` with a key-derivation parameter missing or not a
    /// number (malformed values are the store's `invalid_encryption`).
    #[error("invalid encryption parameters: {0}")]
    InvalidEncryption(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Llm(#[from] LlmError),
    #[error("{0}")]
    Limit(#[from] LimitError),
    /// Everything the chat API (`/v1`) refuses; its codes are its own.
    #[error("{0}")]
    Chat(#[from] ChatError),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The body could not be read as HTTP framed it: malformed chunked
    /// encoding, or fewer bytes than `Content-Length` announced.
    #[error("the request body is malformed or shorter than its Content-Length")]
    InvalidBody,
    #[error("this route does not answer that method; see the Allow header")]
    MethodNotAllowed,
    #[error("the request URI is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("the request headers are larger than {bytes} bytes or more than {count} headers")]
    HeadersTooLarge { bytes: usize, count: usize },
    #[error("no such route; see the API reference in the README")]
    RouteNotFound,
    #[error("no such stream")]
    StreamNotFound,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Engine(err.into())
    }
}

/// The chat API's queries fail with `sqlx` errors: `internal`.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::Chat(err.into())
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Llm(err) => Self::Llm(err),
            CommandError::Engine(err) => Self::Engine(err),
            lost @ CommandError::TaskLost => Self::Internal(lost.into()),
        }
    }
}

impl ApiError {
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidParameter(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidStreamName(_) | Self::InvalidParameter(_) | Self::InvalidEncryption(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Engine(err) => engine_status(err),
            Self::Llm(err) => llm_status(err),
            Self::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Chat(err) => chat_status(err),
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidBody => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RouteNotFound | Self::StreamNotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidStreamName(_) => "invalid_stream_name",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::InvalidEncryption(_) => "invalid_encryption",
            Self::Engine(err) => err.code(),
            Self::Llm(err) => err.code(),
            Self::Limit(err) => err.code(),
            Self::Chat(err) => err.code(),
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::InvalidBody => "invalid_body",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UriTooLong { .. } => "uri_too_long",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::RouteNotFound => "not_found",
            Self::StreamNotFound => "stream_not_found",
            Self::Internal(_) => "internal",
        }
    }

    /// How loudly this is logged: ERROR only for the server's own faults,
    /// WARN for the 5xx of a limit reached or the model failing, INFO for
    /// the client's mistakes.
    pub fn log_level(&self) -> tracing::Level {
        match self {
            Self::Internal(_)
            | Self::Chat(ChatError::Internal(_))
            | Self::Engine(EngineError::Unavailable(_)) => tracing::Level::ERROR,
            _ if self.status().is_server_error() => tracing::Level::WARN,
            _ => tracing::Level::INFO,
        }
    }

    /// Seconds to put in `Retry-After`, for refusals that pass with time.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Limit(err) => Some(err.retry_after_secs()),
            Self::Llm(err) => err.retry_after_secs(),
            Self::Chat(err) => err.retry_after_secs(),
            _ => None,
        }
    }
}

fn engine_status(err: &EngineError) -> StatusCode {
    match err {
        EngineError::Refused(err) => store_status(err),
        EngineError::Unavailable(_) | EngineError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        EngineError::PipesUnsupported => StatusCode::NOT_IMPLEMENTED,
    }
}

fn store_status(err: &StoreError) -> StatusCode {
    match err {
        StoreError::StreamExists(_) | StoreError::PipeFull => StatusCode::CONFLICT,
        StoreError::TtlOutOfRange { .. }
        | StoreError::InvalidText(MessageTextError::Blank)
        | StoreError::InvalidEncryption(_)
        | StoreError::InvalidCursor(_) => StatusCode::BAD_REQUEST,
        // The one envelope refusal that is about size, as for plain text.
        StoreError::NotAnEnvelope(EnvelopeError::TooLong) => StatusCode::PAYLOAD_TOO_LARGE,
        StoreError::NotAnEnvelope(_) => StatusCode::BAD_REQUEST,
        StoreError::InvalidText(_) => StatusCode::PAYLOAD_TOO_LARGE,
        StoreError::TooManyStreams(_) | StoreError::MemoryFull => StatusCode::SERVICE_UNAVAILABLE,
        StoreError::MessageNotFound => StatusCode::NOT_FOUND,
    }
}

fn chat_status(err: &ChatError) -> StatusCode {
    match err {
        ChatError::Disabled | ChatError::RouteNotFound | ChatError::NotFound(_) => {
            StatusCode::NOT_FOUND
        }
        ChatError::Invalid(_) | ChatError::InvalidJson(_) => StatusCode::BAD_REQUEST,
        ChatError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ChatError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ChatError::MissingToken
        | ChatError::InvalidToken
        | ChatError::TokenExpired
        | ChatError::InvalidAdminToken
        | ChatError::InvalidClientSecret => StatusCode::UNAUTHORIZED,
        ChatError::UserTokenNotAllowed | ChatError::Forbidden => StatusCode::FORBIDDEN,
        ChatError::UsernameTaken
        | ChatError::AlreadyParticipant
        | ChatError::IdempotencyConflict => StatusCode::CONFLICT,
        ChatError::NotParticipant | ChatError::InvalidReplyTo => StatusCode::UNPROCESSABLE_ENTITY,
        ChatError::RateLimited { .. } | ChatError::TooManyConnections { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ChatError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        ChatError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn llm_status(err: &LlmError) -> StatusCode {
    match err {
        LlmError::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        LlmError::FirstTokenTimeout { .. } | LlmError::TotalTimeout { .. } => {
            StatusCode::GATEWAY_TIMEOUT
        }
        LlmError::Provider(_) => StatusCode::BAD_GATEWAY,
        LlmError::RateLimited { .. } | LlmError::Busy { .. } | LlmError::StreamBusy => {
            StatusCode::TOO_MANY_REQUESTS
        }
        LlmError::PlaintextOptInRequired => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        match (&self, self.log_level()) {
            (Self::Internal(cause), _) => tracing::error!(error = %cause, "internal error"),
            (Self::Chat(ChatError::Internal(cause)), _) => {
                tracing::error!(error = %cause, "chat: internal error");
            }
            (Self::Engine(EngineError::Unavailable(cause)), _) => {
                tracing::error!(error = %cause, "message backend unavailable");
            }
            // Expected refusals: the client's mistake or the server at a
            // documented limit. Counted per code in `/metrics` (by
            // `http::contract::enforce`), and never with what was sent.
            (_, tracing::Level::WARN) => {
                tracing::warn!(status = status.as_u16(), code, "request refused");
            }
            _ => tracing::info!(status = status.as_u16(), code, "request refused"),
        }
        let retry_after = self.retry_after_secs();
        let body = ErrorBody {
            error: self.to_string(),
            code: code.to_owned(),
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(RejectionCode(code));
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ProviderFailure;

    #[test]
    fn every_llm_error_has_a_status_and_a_distinct_code_per_meaning() {
        let cases = [
            (LlmError::Disabled, 503, "llm_disabled"),
            (LlmError::FirstTokenTimeout { secs: 1 }, 504, "llm_timeout"),
            (LlmError::TotalTimeout { secs: 1 }, 504, "llm_timeout"),
            (
                LlmError::Provider(ProviderFailure::Status(500)),
                502,
                "llm_provider_error",
            ),
            (
                LlmError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "llm_rate_limited",
            ),
            (LlmError::Busy { limit: 2 }, 429, "llm_busy"),
            (LlmError::StreamBusy, 429, "llm_stream_busy"),
            (
                LlmError::PlaintextOptInRequired,
                400,
                "plaintext_opt_in_required",
            ),
        ];
        for (err, status, code) in cases {
            assert!(err.to_string().len() > 20, "{err:?} needs a sentence");
            let api = ApiError::from(err);
            assert_eq!(api.status().as_u16(), status, "{api:?}");
            assert_eq!(api.code(), code, "{api:?}");
        }
    }

    #[test]
    fn chat_errors_get_their_status_and_retry_after_here() {
        use crate::chat::error::Entity;
        let cases = [
            (ChatError::Disabled, 404, "chat_disabled", None),
            (ChatError::MethodNotAllowed, 405, "method_not_allowed", None),
            (ChatError::MissingToken, 401, "missing_token", None),
            (
                ChatError::UserTokenNotAllowed,
                403,
                "user_token_not_allowed",
                None,
            ),
            (
                ChatError::NotFound(Entity::Channel),
                404,
                "channel_not_found",
                None,
            ),
            (
                ChatError::IdempotencyConflict,
                409,
                "idempotency_conflict",
                None,
            ),
            (ChatError::InvalidReplyTo, 422, "invalid_reply_to", None),
            (ChatError::BodyTooLarge, 413, "body_too_large", None),
            (
                ChatError::RateLimited {
                    retry_after_secs: 7,
                },
                429,
                "rate_limited",
                Some("7"),
            ),
            (
                ChatError::TooManyConnections { limit: 2 },
                429,
                "too_many_connections",
                Some("1"),
            ),
            (
                ChatError::Internal(anyhow::anyhow!("disk on fire")),
                500,
                "internal",
                None,
            ),
        ];
        for (err, status, code, retry_after) in cases {
            let response = ApiError::from(err).into_response();
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                response.extensions().get::<RejectionCode>().map(|c| c.0),
                Some(code)
            );
            let header = response.headers().get(header::RETRY_AFTER);
            assert_eq!(header.map(|v| v.to_str().unwrap()), retry_after, "{code}");
        }
    }

    #[test]
    fn only_the_servers_own_faults_log_at_error() {
        use tracing::Level;
        let cases = [
            (ApiError::from(StoreError::MemoryFull), Level::WARN),
            (ApiError::from(StoreError::TooManyStreams(1)), Level::WARN),
            (ApiError::from(LlmError::Disabled), Level::WARN),
            (ApiError::invalid("`x` is required"), Level::INFO),
            (ApiError::RouteNotFound, Level::INFO),
            (
                ApiError::from(StoreError::InvalidText(MessageTextError::Blank)),
                Level::INFO,
            ),
            (ApiError::Internal(anyhow::anyhow!("bug")), Level::ERROR),
            (
                ApiError::from(ChatError::Internal(anyhow::anyhow!("db down"))),
                Level::ERROR,
            ),
            (ApiError::from(ChatError::MissingToken), Level::INFO),
            (
                ApiError::from(EngineError::Unavailable("down".into())),
                Level::ERROR,
            ),
        ];
        for (err, level) in cases {
            assert_eq!(err.log_level(), level, "{err:?}");
        }
    }

    /// What `into_response` writes to the log for `err`, at every level.
    fn logged(err: ApiError) -> String {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || err.into_response());
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    /// The level `log_level` promises is the level written, once, and a
    /// fault's cause goes with it (the operator needs it; the client never
    /// sees it).
    #[test]
    fn each_error_is_logged_once_at_its_level_and_faults_with_their_cause() {
        let cases = [
            (
                ApiError::Internal(anyhow::anyhow!("bug-17")),
                "ERROR",
                "bug-17",
            ),
            (
                ApiError::from(ChatError::Internal(anyhow::anyhow!("db-down-17"))),
                "ERROR",
                "db-down-17",
            ),
            (
                ApiError::from(EngineError::Unavailable("redis-gone-17".into())),
                "ERROR",
                "redis-gone-17",
            ),
            (
                ApiError::from(StoreError::MemoryFull),
                "WARN",
                "memory_full",
            ),
            (
                ApiError::invalid("`x` is required"),
                "INFO",
                "invalid_param",
            ),
        ];
        for (err, level, detail) in cases {
            let text = logged(err);
            assert_eq!(text.lines().count(), 1, "one line:\n{text}");
            assert!(
                text.contains(&format!(" {level} ")) && text.contains(detail),
                "expected {level} with {detail}:\n{text}"
            );
        }
    }

    #[test]
    fn an_unavailable_backend_is_a_503_without_its_cause_in_the_body() {
        let cause: Box<dyn std::error::Error + Send + Sync> =
            "connection refused at 10.0.0.9".into();
        let api = ApiError::from(EngineError::Unavailable(cause));
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code(), "backend_unavailable");
        assert!(!api.to_string().contains("10.0.0.9"));
    }
}
