//! The HTTP surface. Handlers are thin: parse parameters, call the engine,
//! turn the outcome into JSON. Rules live in `malten-shared` and the engine's
//! backends; no handler names a backend.

mod commands;
pub mod contract;
mod events;
mod messages;
mod params;
mod rate_limit;
pub(crate) mod sse;
mod streams;
mod websocket;

// The request parsers, public for the fuzz targets (fuzz/): they run the
// server's own code on arbitrary input, without a socket.
pub use params::{
    from_parts as parse_params, parse_cursor, CreateStream, ListMessages, PostMessage, Read,
    RunCommand, Subscribe,
};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use std::sync::Arc;

use crate::metrics::Metrics;
use crate::{assets, AppState};

pub fn router(state: AppState) -> Router {
    // The write rate limit, only on the routes that create or post.
    let rate_limited = middleware::from_fn_with_state(state.clone(), rate_limit::per_ip);
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics_text))
        .route(
            "/streams",
            get(streams::list).merge(post(streams::create).route_layer(rate_limited.clone())),
        )
        .route("/streams/{stream}", get(streams::info))
        .route(
            "/new",
            get(streams::new_private).route_layer(rate_limited.clone()),
        )
        .route(
            "/messages",
            get(messages::list).merge(post(messages::post).route_layer(rate_limited)),
        )
        .route("/events", get(events::subscribe))
        .route("/commands", get(commands::info).post(commands::post))
        .route("/ws", get(crate::llm::socket::upgrade))
        .route("/", get(assets::serve))
        .fallback(fallback)
        .with_state(state)
}

/// The layers every route shares, the chat API's included: the JSON error
/// contract (and refusal counting), security headers, and tracing.
pub fn with_shared_layers(router: Router, metrics: Arc<Metrics>) -> Router {
    router
        .layer(middleware::from_fn_with_state(metrics, contract::enforce))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // Statuses are logged once, by level, where the error
                // becomes a response (`error.rs`); tower-http's default
                // would log every 5xx, a full memory budget included, as
                // an ERROR.
                .on_failure(crate::http::log_failure),
        )
}

/// The span of a request: method and path only. The query string is left
/// out because parameters (`message`, `prompt`) may carry what people wrote,
/// and the chat API's `access_token`.
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// What tower-http's trace layer reports as a failure: a 5xx status (already
/// logged by the error that made it, at its level) or an error inside a
/// response body, which is the server's own fault.
pub(crate) fn log_failure(
    failure: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    if let ServerErrorsFailureClass::Error(error) = failure {
        tracing::error!(%error, latency_ms = latency.as_millis() as u64, "response failed");
    }
}

/// `GET /healthz`: the process is up and serving; `llm` says whether the
/// language model features are enabled.
async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "llm": state.llm.is_enabled()}))
}

/// `GET /metrics`: the Prometheus text, gauges read from the engine.
async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(state.engine.snapshot()),
    )
}

/// Files of the web app for `GET` and `HEAD`, the JSON 404 for the rest.
async fn fallback(state: State<AppState>, request: Request) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return assets::serve(state, request).await;
    }
    ApiError::RouteNotFound.into_response()
}
