//! `GET /events`: real-time delivery of a stream, as Server-Sent Events or,
//! when the request asks to upgrade, as a WebSocket carrying the same events.
//!
//! Resuming: the `Last-Event-ID` header (sent by browsers on reconnect) or a
//! `last=` parameter names the cursor to resume after; the header wins, since
//! a reconnecting `EventSource` repeats the original URL. Without either,
//! delivery starts with the next new message; `last=0` replays everything
//! retained.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use malten_shared::wire::Cursor;

use super::params::{parse_cursor, Query, Subscribe};
use super::{sse, websocket};
use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::AppState;

pub async fn subscribe(
    State(state): State<AppState>,
    client: ClientIp,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let Query(mut params) = Query::<Subscribe>::from_query(parts.uri.query())?;
    let stream = params.stream.take().unwrap_or_default();
    let resume = resume_cursor(&parts.headers, params)?;
    let wants_websocket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let upgrade = if wants_websocket {
        Some(
            WebSocketUpgrade::from_request_parts(&mut parts, &state)
                .await
                .map_err(|rejection| ApiError::invalid(rejection.body_text()))?,
        )
    } else {
        None
    };

    let permit = state.connection_limits.acquire(client)?;
    let subscription = state.engine.subscribe(&stream, resume).await?;
    let keepalive = state.config.keepalive();
    tracing::debug!(stream = %stream, websocket = wants_websocket, "subscriber connected");
    Ok(match upgrade {
        Some(upgrade) => upgrade
            .max_message_size(4096)
            .read_buffer_size(websocket::READ_BUFFER_BYTES)
            .on_upgrade(move |socket| websocket::serve(socket, subscription, permit, keepalive))
            .into_response(),
        None => sse::response(subscription, permit, keepalive),
    })
}

fn resume_cursor(
    headers: &axum::http::HeaderMap,
    params: Subscribe,
) -> Result<Option<Cursor>, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let raw = value
            .to_str()
            .map_err(|_| ApiError::invalid("`Last-Event-ID` must be a message cursor"))?;
        if let Some(cursor) = parse_cursor("Last-Event-ID", raw)? {
            return Ok(Some(cursor));
        }
    }
    params.last()
}
