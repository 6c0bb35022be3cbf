//! One `/ws` connection's loop: reads frames and answers them in order,
//! writes the frames chat tasks send back, pings, and says goodbye on
//! shutdown.
//!
//! Every write has a deadline (`--ws-write-timeout-secs`). A client that
//! takes no frame for that long is not reading: it is disconnected without a
//! close frame (the write that would carry one is the one that is stuck),
//! which frees its slot in the per-address cap and closes the channel its
//! chat tasks may be waiting on.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use malten_shared::protocol::{ServerPacket, SystemMessage};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::dispatch::Connection;
use super::{CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR};
use crate::engine::SHUTDOWN_NOTICE;
use crate::limits::ConnectionPermit;
use crate::llm::frames::{encode, Violation};

/// The notice sent before the server stops.
const SESSIONS_LOST: &str = "Sessions are kept in memory only and will be lost.";

/// What the connection loop needs besides the connection's state.
pub(super) struct Setup {
    /// Frames from chat tasks, to write out.
    pub frames_out: mpsc::Receiver<String>,
    /// The connection's slot in the per-IP cap, held until it closes.
    pub _permit: ConnectionPermit,
    pub motd: String,
    pub keepalive: Duration,
    /// How long one write may wait for the client to take it.
    pub write_timeout: Duration,
    pub shutdown: watch::Receiver<bool>,
}

/// The socket with its write deadline.
struct Writer {
    socket: WebSocket,
    timeout: Duration,
}

/// A write did not happen (the client left, or took too long): the
/// connection is over.
struct Gone;

impl Writer {
    async fn send(&mut self, message: WsMessage) -> Result<(), Gone> {
        match tokio::time::timeout(self.timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Gone),
            Err(_) => {
                tracing::debug!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "session socket dropped: the client stopped reading"
                );
                Err(Gone)
            }
        }
    }

    async fn text(&mut self, frame: String) -> Result<(), Gone> {
        self.send(WsMessage::Text(frame.into())).await
    }

    async fn close(&mut self, code: u16, reason: String) {
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.send(WsMessage::Close(Some(close))).await;
    }
}

pub(super) async fn serve(socket: WebSocket, mut connection: Connection, setup: Setup) {
    let Setup {
        mut frames_out,
        _permit,
        motd,
        keepalive,
        write_timeout,
        mut shutdown,
    } = setup;
    let mut socket = Writer {
        socket,
        timeout: write_timeout,
    };
    if !motd.trim().is_empty() {
        let hello = encode(
            Value::Null,
            ServerPacket::System(SystemMessage::text("motd", &motd)),
        );
        if socket.text(hello).await.is_err() {
            return;
        }
    }
    let mut ping = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow_and_update() {
            return goodbye(&mut socket).await;
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            Some(frame) = frames_out.recv() => {
                if socket.text(frame).await.is_err() {
                    return;
                }
            }
            incoming = socket.socket.recv() => {
                let reply = match incoming {
                    None | Some(Ok(WsMessage::Close(_))) => return,
                    // Too large for the transport, or broken: say why if we still can.
                    Some(Err(_)) => Err(Violation::Unreadable),
                    Some(Ok(WsMessage::Text(text))) => connection.handle(&text),
                    Some(Ok(WsMessage::Binary(_))) => Err(Violation::Binary),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Ok(None),
                };
                match reply {
                    Ok(None) => {}
                    Ok(Some(frame)) => {
                        if socket.text(frame).await.is_err() {
                            return;
                        }
                    }
                    Err(violation) => {
                        let reason = violation.reason(connection.max_frame_bytes);
                        tracing::debug!(reason = reason.as_str(), "session socket closed for a protocol error");
                        socket.close(CLOSE_PROTOCOL_ERROR, reason).await;
                        return;
                    }
                }
            }
            _ = ping.tick() => {
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The shutdown notice, then a clean close.
async fn goodbye(socket: &mut Writer) {
    let notice = encode(
        Value::Null,
        ServerPacket::System(SystemMessage::text(
            "shutdown",
            &format!("{SHUTDOWN_NOTICE} {SESSIONS_LOST}"),
        )),
    );
    let _ = socket.text(notice).await;
    socket
        .close(CLOSE_GOING_AWAY, "server shutting down".into())
        .await;
}
