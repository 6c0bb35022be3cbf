//! `/streams`, `/streams/{stream}` and `/new`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use malten_shared::crypto::{EncryptionParams, KDF_NAME};
use malten_shared::wire::StreamInfo;
use malten_shared::StreamName;

use super::Params;
use crate::engine::NewStream;
use crate::error::ApiError;
use crate::limits::ClientIp;
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
    client: ClientIp,
    params: Params,
) -> Result<impl IntoResponse, ApiError> {
    let name = params.stream_or(|| None)?;
    let private = params.boolean("private")?.unwrap_or(true);
    let ttl = params.unsigned("ttl")?;
    let encryption = encryption_params(&params)?;
    state.rate_limits.check(client)?;
    let info = state
        .engine
        .create(NewStream {
            name,
            private,
            ttl_secs: ttl,
            encryption,
        })
        .await?;
    tracing::info!(stream = %info.stream, private, ttl = info.ttl, encrypted = info.encrypted, "stream created");
    Ok((StatusCode::CREATED, Json(info)))
}

/// The key-derivation parameters of `POST /streams`, present exactly when
/// `encrypted=true`.
fn encryption_params(params: &Params) -> Result<Option<EncryptionParams>, ApiError> {
    let encrypted = params.boolean("encrypted")?.unwrap_or(false);
    let salt = params.text("salt")?;
    let iterations = params.unsigned("iterations")?;
    let check = params.text("check")?;
    if !encrypted {
        if salt.is_some() || iterations.is_some() || check.is_some() {
            return Err(ApiError::invalid(
                "`salt`, `iterations` and `check` only apply with `encrypted=true`",
            ));
        }
        return Ok(None);
    }
    let (Some(salt), Some(iterations), Some(check)) = (salt, iterations, check) else {
        return Err(ApiError::invalid(
            "`encrypted=true` needs `salt`, `iterations` and `check` (see docs/crypto.md)",
        ));
    };
    Ok(Some(EncryptionParams {
        kdf: params.text("kdf")?.unwrap_or_else(|| KDF_NAME.to_owned()),
        salt,
        // Out-of-range counts are refused by validation with a clear reason.
        iterations: u32::try_from(iterations).unwrap_or(u32::MAX),
        check,
    }))
}

/// `GET /streams/{stream}`: one stream's description, listed or not.
pub async fn info(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<Json<StreamInfo>, ApiError> {
    let name = StreamName::parse(&stream)?;
    let info = state.engine.describe(&name).await?;
    Ok(Json(info.ok_or(ApiError::StreamNotFound)?))
}

/// `GET /new`: creates a private stream with a random id and opens it.
pub async fn new_private(
    State(state): State<AppState>,
    client: ClientIp,
) -> Result<Redirect, ApiError> {
    state.rate_limits.check(client)?;
    let info = state
        .engine
        .create(NewStream {
            private: true,
            ..NewStream::default()
        })
        .await?;
    Ok(Redirect::to(&format!("/#{}", info.stream)))
}
