//! `/streams`, `/streams/{stream}` and `/new`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use malten_shared::wire::StreamInfo;
use malten_shared::StreamName;

use super::params::{CreateStream, Params};
use crate::engine::NewStream;
use crate::error::ApiError;
use crate::AppState;

/// `GET /streams`: the public streams, most recently active first.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<StreamInfo>>, ApiError> {
    Ok(Json(state.engine.list_public().await?))
}

/// `POST /streams` (`stream`, `private`, `ttl`, and for an end-to-end
/// encrypted stream `encrypted=true` with `salt`, `iterations`, `check`):
/// creates a stream.
///
/// Without a name the stream gets a random 128-bit id. Streams are private
/// (unlisted) unless `private=false` is given explicitly. The encryption
/// parameters are public metadata for clients (docs/crypto.md); the server
/// checks their shape and never receives a passphrase or key.
pub async fn create(
    State(state): State<AppState>,
    Params(params): Params<CreateStream>,
) -> Result<impl IntoResponse, ApiError> {
    let name = params.stream.clone();
    let private = params.private.unwrap_or(true);
    let ttl_secs = params.ttl;
    let pipe = params.pipe.unwrap_or(false);
    let encryption = params.encryption()?;
    if pipe && (encryption.is_none() || !private) {
        return Err(ApiError::invalid(
            "`pipe=true` needs an end-to-end encrypted, private stream (`encrypted=true` and its parameters, `private` not false)",
        ));
    }
    let info = state
        .engine
        .create(NewStream {
            name,
            private,
            ttl_secs,
            encryption,
            pipe,
        })
        .await?;
    tracing::info!(stream = %info.stream, private, ttl = info.ttl, encrypted = info.encrypted, pipe, "stream created");
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /streams/{stream}`: one stream's description, listed or not.
pub async fn info(
    State(state): State<AppState>,
    stream: Result<Path<String>, PathRejection>,
) -> Result<Json<StreamInfo>, ApiError> {
    // The only way the path fails to extract is bytes that are not UTF-8.
    let Path(stream) =
        stream.map_err(|_| ApiError::invalid("the stream name in the path is not valid UTF-8"))?;
    let name = StreamName::parse(&stream)?;
    let info = state.engine.describe(&name).await?;
    Ok(Json(info.ok_or(ApiError::StreamNotFound)?))
}

/// `GET /new`: creates a private stream with a random id and opens it.
pub async fn new_private(State(state): State<AppState>) -> Result<Redirect, ApiError> {
    let info = state
        .engine
        .create(NewStream {
            private: true,
            ..NewStream::default()
        })
        .await?;
    Ok(Redirect::to(&format!("/#{}", info.stream)))
}
