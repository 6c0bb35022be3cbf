//! The one error type of the HTTP API.
//!
//! Every failure becomes `{"error": "<sentence>", "code": "<snake_case>"}`
//! with the matching status. Internal errors are logged with their cause and
//! shown to the client only as a generic sentence. No variant carries message
//! text, so error bodies and logs never echo what someone wrote.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use malten_shared::wire::ErrorBody;
use malten_shared::StreamNameError;

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
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Llm(#[from] LlmError),
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("no such route; see the API reference in the README")]
    RouteNotFound,
    #[error("no such stream")]
    StreamNotFound,
    #[error("too many requests from your address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many open real-time connections from your address (at most {limit})")]
    TooManyConnections { limit: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidParameter(what.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidStreamName(_) | Self::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            Self::Store(err) => err.status(),
            Self::Llm(err) => err.status(),
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RouteNotFound | Self::StreamNotFound => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } | Self::TooManyConnections { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidStreamName(_) => "invalid_stream_name",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::Store(err) => err.code(),
            Self::Llm(err) => err.code(),
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::RouteNotFound => "not_found",
            Self::StreamNotFound => "stream_not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyConnections { .. } => "too_many_connections",
            Self::ShuttingDown => "shutting_down",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        } else {
            tracing::debug!(status = status.as_u16(), code, "request rejected");
        }
        let retry_after = match &self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::TooManyConnections { .. } => Some(1),
            Self::Llm(err) => err.retry_after_secs(),
            _ => None,
        };
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
