//! The per-IP write rate limit (`--rate-per-second`, `--rate-burst`) as a
//! tower layer, put on the routes it guards in `http/mod.rs`: `POST
//! /messages`, `POST /streams` and `GET /new`.
//!
//! A refused request gets the API's `429 rate_limited` with `Retry-After`
//! and never reaches its handler. Because the layer runs first, every
//! request to a guarded route spends a unit, including one the handler
//! would then refuse as malformed, as any rate limiter in front of a route
//! does.
//!
//! # Why not `tower_governor`
//! It is the same `governor` keyed limiter underneath, but its key
//! extractors (peer address, or "smart" header parsing) do not follow our
//! trust rule for `X-Forwarded-For` (only with `--trust-forwarded-for`, and
//! then only its last entry, in [`ClientIp`]), and its refusal body is its
//! own. `axum::middleware::from_fn_with_state` over the limiter we already
//! have is a tower `Layer` with our [`ClientIp`] and our error body, in a
//! few lines and no new dependency.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::AppState;

/// Spends one unit of `client`'s rate, or answers 429 without running the
/// route. Used with `axum::middleware::from_fn_with_state`.
pub async fn per_ip(
    State(state): State<AppState>,
    client: ClientIp,
    request: Request,
    next: Next,
) -> Response {
    match state.rate_limits.check(client) {
        Ok(()) => next.run(request).await,
        Err(refused) => ApiError::from(refused).into_response(),
    }
}
