//! The JSON error contract for what is refused before a handler runs.
//!
//! Every 4xx/5xx carries `{"error", "code"}` (docs/api.md). Handlers get
//! that from `ApiError`; [`enforce`], one layer over every route (the
//! stream API and the chat API under `/v1` alike), gives it to the refusals
//! that would otherwise come from axum or hyper with an empty or text body,
//! and counts every refusal by code for `/metrics`:
//! - the request head: a URI over [`MAX_URI_BYTES`] is `414 uri_too_long`;
//!   more than [`MAX_HEADERS`] headers or over [`MAX_HEADER_BYTES`] of
//!   them is `431 headers_too_large`; a WebSocket upgrade whose
//!   `Sec-WebSocket-Key` is not 16 bytes of base64 is `400
//!   invalid_parameter`. hyper's own limits are set above these in
//!   `serve.rs`, so ours answer first; beyond hyper's (see there) the
//!   connection gets hyper's bare answer.
//! - axum's empty `405` becomes `405 method_not_allowed`, keeping its
//!   `Allow` header.
//!
//! One layer rather than one per rule: each `from_fn` layer boxes a future
//! per request, and this runs on every post of the hot path.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::ApiError;
use crate::metrics::{Metrics, RejectionCode};

/// Longest request URI (path and query) answered normally.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers answered normally: below hyper's own default
/// ceiling of 100 (see `serve.rs`), so a request over it gets this JSON
/// answer rather than hyper's bare one.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of header names and values (plus `": "` and CRLF each).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses request heads over our limits and broken WebSocket keys, gives
/// axum's `405` its JSON body, and counts every refusal.
pub async fn enforce(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = match check_head(&request) {
        Err(refused) => refused.into_response(),
        Ok(()) => with_json_405(next.run(request).await),
    };
    if let Some(RejectionCode(code)) = response.extensions().get::<RejectionCode>() {
        metrics.rejection(code);
    }
    response
}

fn check_head(request: &Request) -> Result<(), ApiError> {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        });
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge {
            bytes: MAX_HEADER_BYTES,
            count: MAX_HEADERS,
        });
    }
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let key_ok = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .and_then(|key| {
                base64::engine::general_purpose::STANDARD
                    .decode(key.as_bytes())
                    .ok()
            })
            .is_some_and(|key| key.len() == 16);
        if !key_ok {
            return Err(ApiError::invalid(
                "`Sec-WebSocket-Key` must be 16 bytes in base64 (RFC 6455)",
            ));
        }
    }
    Ok(())
}

/// Gives axum's bodiless `405` the JSON body, keeping `Allow`.
fn with_json_405(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.extensions().get::<RejectionCode>().is_some()
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut json = ApiError::MethodNotAllowed.into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json
}
