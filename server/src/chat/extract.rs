//! Extractors whose rejections speak the chat error contract (as
//! [`ApiError::Chat`]), so a bad body
//! or query answers `{"error","code"}` JSON like every other failure rather
//! than axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ChatError;
use crate::error::ApiError;

/// A JSON body; a malformed one answers 400 `invalid_json`.
pub struct ChatJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ChatJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ChatError::BodyTooLarge.into())
            }
            Err(rejection) => Err(ChatError::InvalidJson(rejection.body_text()).into()),
        }
    }
}

/// Query parameters; malformed ones answer 400 `invalid_parameter`.
pub struct ChatQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ChatQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ChatError::Invalid(rejection.body_text()).into()),
        }
    }
}
