//! `/streams`, `/streams/{stream}` and `/new`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use malten_shared::wire::StreamInfo;
use malten_shared::StreamName;

use super::Params;
use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::AppState;

/// `GET /streams`: the public streams, most recently active first.
pub async fn list(State(state): State<AppState>) -> Json<Vec<StreamInfo>> {
    Json(state.store.list_public())
}

/// `POST /streams` (`stream`, `private`, `ttl`): creates a stream.
///
/// Without a name the stream gets a random 128-bit id. Streams are private
/// (unlisted) unless `private=false` is given explicitly.
pub async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    params: Params,
) -> Result<impl IntoResponse, ApiError> {
    let name = params.stream_or(|| None)?;
    let private = params.boolean("private")?.unwrap_or(true);
    let ttl = params.unsigned("ttl")?;
    state.rate_limits.check(client)?;
    let info = state.store.create(name, private, ttl)?;
    tracing::info!(stream = %info.stream, private, ttl = info.ttl, "stream created");
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /streams/{stream}`: one stream's description, listed or not.
pub async fn info(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<Json<StreamInfo>, ApiError> {
    let name = StreamName::parse(&stream)?;
    let stream = state.store.get(&name).ok_or(ApiError::StreamNotFound)?;
    Ok(Json(stream.info()))
}

/// `GET /new`: creates a private stream with a random id and opens it.
pub async fn new_private(
    State(state): State<AppState>,
    client: ClientIp,
) -> Result<Redirect, ApiError> {
    state.rate_limits.check(client)?;
    let info = state.store.create(None, true, None)?;
    Ok(Redirect::to(&format!("/#{}", info.stream)))
}
