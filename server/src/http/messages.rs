//! `/messages`: read pages of a stream, or post to it.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use malten_shared::limits::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use malten_shared::wire::{Cursor, MessageKind};

use super::Params;
use crate::engine::Page;
use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::AppState;

/// `GET /messages` (`stream`, `limit`, `direction`, `last`, `id`).
///
/// `direction=1` pages forward (`created > last`, oldest first);
/// `direction=-1`, the default, pages backward (`created < last`, newest
/// first, `last` absent or 0 meaning "from the newest"). `id` fetches one
/// message. An unknown stream is an empty page.
pub async fn list(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let params = Params::from_query(request.uri().query());
    let stream = params.stream()?;
    let limit = match params.unsigned("limit")? {
        None => DEFAULT_PAGE_LIMIT,
        Some(limit @ 1..) if limit <= MAX_PAGE_LIMIT as u64 => limit as usize,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "`limit` must be between 1 and {MAX_PAGE_LIMIT}"
            )))
        }
    };
    let last = params.cursor("last")?;
    let body = if let Some(id) = params.text("id")?.filter(|id| !id.is_empty()) {
        state.engine.by_id(&stream, &id).await?
    } else {
        let page = match params.signed("direction")? {
            Some(1) => Page::Forward {
                after: last.unwrap_or(Cursor::START),
            },
            None | Some(-1) => Page::Backward {
                before: last.filter(|cursor| *cursor != Cursor::START),
            },
            Some(_) => return Err(ApiError::invalid("`direction` must be 1 or -1")),
        };
        state.engine.page(&stream, page, limit).await?
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /messages` (`stream`, `message`): stores a message and delivers it
/// to the stream's subscribers. Returns 201 with the message. In an
/// encrypted stream `message` must be an envelope (docs/crypto.md).
pub async fn post(
    State(state): State<AppState>,
    client: ClientIp,
    params: Params,
) -> Result<impl IntoResponse, ApiError> {
    let stream = params.stream()?;
    let text = params
        .text("message")?
        .ok_or_else(|| ApiError::invalid("`message` is required"))?;
    state.rate_limits.check(client)?;
    let message = state
        .engine
        .post(&stream, text, MessageKind::Message)
        .await?;
    tracing::debug!(stream = %stream, encrypted = message.body.envelope().is_some(), "message stored");
    Ok((StatusCode::CREATED, Json(message)))
}
