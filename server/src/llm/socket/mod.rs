//! `GET /ws`: the WebSocket session protocol (frames in
//! `malten_shared::protocol`, described in `docs/llm-protocol.md`).
//!
//! One task per connection reads frames and answers them in order. A chat
//! prompt is generated in a task of its own that sends its frames back
//! through a channel, so the connection keeps reading while the model works:
//! a ping is answered at once, and a second prompt in the same session is
//! refused ("still processing") rather than queued.
//!
//! Frames that break the protocol itself (not JSON, binary, larger than
//! `--ws-max-frame-bytes`) close the connection with 1002; frames that are
//! JSON but wrong (unknown `msg`, missing or mistyped field, bad base64) get a
//! `success: false` answer and the connection stays open.
//!
//! # Backpressure
//! The channel from chat tasks to the connection holds [`RELAY_CAPACITY`]
//! frames. When it is full the chat task waits: a reply is paced by how fast
//! its client reads, and nothing is dropped. The wait is bounded because the
//! connection gives every frame it writes `--ws-write-timeout-secs`; a client
//! that stops reading for longer is disconnected, which closes the channel
//! and ends the wait (the reply is still kept in the session's history, for
//! a connection that resumes it).
//!
//! # Layout
//! - [`connection`]: the loop that reads frames, writes answers and pings.
//! - [`dispatch`]: what one text frame asks for, and the immediate answer.
//! - [`session`]: `session` requests (create, resume, status, destroy).
//! - [`relay`]: one prompt being answered, its frames sent back in order.

mod connection;
mod dispatch;
mod relay;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::limits::ClientIp;
use crate::AppState;
use connection::Setup;
use dispatch::Connection;

/// Close code for frames that break the protocol (RFC 6455 "protocol error").
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code when the server is shutting down ("going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Frames a connection's chat tasks may have waiting to be written. A reply
/// streams one frame per piece; a few dozen absorb a burst of small pieces
/// while the socket writes, and a full channel only means the client reads
/// slower than the model writes (see the module doc for what happens then).
pub const RELAY_CAPACITY: usize = 32;

/// `GET /ws`: upgrades, counting the connection against the client's cap.
pub async fn upgrade(
    State(state): State<AppState>,
    client: ClientIp,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
    let permit = state.connection_limits.acquire(client)?;
    let limit = state.config.ws_max_frame_bytes;
    // The transport's own cap is looser than ours, so that a frame just over
    // the limit is still read and answered with a clean 1002.
    let transport_cap = limit.saturating_mul(4).max(64 * 1024);
    let (outgoing, frames_out) = mpsc::channel(RELAY_CAPACITY);
    let connection = Connection {
        llm: Arc::clone(&state.llm),
        rate_limits: Arc::clone(&state.rate_limits),
        client,
        current: None,
        outgoing,
        max_frame_bytes: limit,
    };
    let setup = Setup {
        frames_out,
        _permit: permit,
        motd: state.config.motd.clone(),
        keepalive: state.config.keepalive(),
        write_timeout: Duration::from_secs_f64(state.config.ws_write_timeout_secs),
        shutdown: state.engine.watch_shutdown(),
    };
    tracing::debug!("session socket connected");
    Ok(upgrade
        .max_message_size(transport_cap)
        .max_frame_size(transport_cap)
        .on_upgrade(move |socket| connection::serve(socket, connection, setup)))
}
