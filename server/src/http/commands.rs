//! `/commands`: ask the language model in a stream (`llm::command` does
//! the work), and say whether it is available.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use futures_util::stream;
use malten_shared::limits::MAX_MESSAGE_CHARS;
use malten_shared::sse;
use malten_shared::wire::CommandsInfo;
use tokio::sync::mpsc;

use super::params::{Params, RunCommand};
use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::llm::command::{self, Command, CommandEvent};
use crate::llm::DISABLED_SENTENCE;
use crate::AppState;

/// `GET /commands`: whether the LLM is enabled, so the web app can show its
/// commands as unavailable rather than fail when they are used.
pub async fn info(State(state): State<AppState>) -> Json<CommandsInfo> {
    let enabled = state.llm.is_enabled();
    Json(CommandsInfo {
        enabled,
        model: enabled.then(|| state.llm.settings.model.clone()),
        max_reply_chars: MAX_MESSAGE_CHARS,
        disabled_reason: (!enabled).then(|| DISABLED_SENTENCE.to_owned()),
    })
}

/// `POST /commands` (`stream`, `prompt`, `plaintext`): sends the prompt to
/// the model and streams the reply back as Server-Sent Events once its first
/// piece has arrived; failures before that are ordinary JSON errors.
///
/// Whether the LLM is enabled is checked before the parameters, so every
/// request to a server without one gets `llm_disabled`.
pub async fn post(
    State(state): State<AppState>,
    client: ClientIp,
    params: Result<Params<RunCommand>, ApiError>,
) -> Result<Response, ApiError> {
    state.llm.ensure_enabled()?;
    let Params(params) = params?;
    let command = Command {
        stream: params.stream.unwrap_or_default(),
        prompt: params.prompt,
        plaintext: params.plaintext.unwrap_or(false),
    };
    let events = command::run(&state.llm, &state.engine, client, command).await?;
    Ok(event_stream(events))
}

/// The caller's events as an SSE body. No `id:` fields: this response is
/// not resumable (the stream's own `/events` is).
fn event_stream(events: mpsc::Receiver<CommandEvent>) -> Response {
    let body = stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        let chunk = sse::event(None, event.kind(), &event.data_json());
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), events))
    });
    super::sse::event_stream_response(Body::from_stream(body))
}
