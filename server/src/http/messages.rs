//! `/messages`: read pages of a stream, or post to it.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use malten_shared::wire::MessageKind;

use super::params::{ListMessages, Params, PostMessage, Query, Read};
use crate::error::ApiError;
use crate::AppState;

/// `GET /messages` (`stream`, `limit`, `direction`, `last`, `id`).
///
/// `direction=1` pages forward (`created > last`, oldest first);
/// `direction=-1`, the default, pages backward (`created < last`, newest
/// first, `last` absent or 0 meaning "from the newest"). `id` fetches one
/// message. An unknown stream is an empty page.
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListMessages>,
) -> Result<Response, ApiError> {
    let stream = params.stream.clone().unwrap_or_default();
    let limit = params.limit;
    let body = match params.read()? {
        Read::ById(id) => state.engine.by_id(&stream, &id).await?,
        Read::Page(page) => state.engine.page(&stream, page, limit).await?,
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /messages` (`stream`, `message`): stores a message and delivers it
/// to the stream's subscribers. Returns 201 with the message. In an
/// encrypted stream `message` must be an envelope (docs/crypto.md).
pub async fn post(
    State(state): State<AppState>,
    Params(params): Params<PostMessage>,
) -> Result<impl IntoResponse, ApiError> {
    let stream = params.stream.unwrap_or_default();
    let message = state
        .engine
        .post(&stream, params.message, MessageKind::Message)
        .await?;
    tracing::debug!(stream = %stream, encrypted = message.body.envelope().is_some(), "message stored");
    Ok((StatusCode::CREATED, Json(message)))
}
