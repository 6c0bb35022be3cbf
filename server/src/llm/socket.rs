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

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use malten_shared::protocol::{
    msg, ChatResponse, ErrorContent, SessionRequest, SessionResponse, SessionSettings,
    SystemMessage,
};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::backend::ChatRequest;
use super::context::conversation;
use super::frames::{encode, interpret, Incoming, Violation};
use super::{Llm, LlmError, ProviderFailure, DEFAULT_BOT_NAME};
use crate::error::ApiError;
use crate::limits::{ClientIp, ConnectionPermit, RateLimits, SlotPermit};
use crate::AppState;

/// Close code for frames that break the protocol (RFC 6455 "protocol error").
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code when the server is shutting down ("going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The notice sent before the server stops.
const SHUTDOWN_TEXT: &str = "The server is shutting down; reconnect in a moment. \
    Sessions are kept in memory only and will be lost.";

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
    let (outgoing, frames_out) = mpsc::unbounded_channel();
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
        shutdown: state.engine.watch_shutdown(),
    };
    tracing::debug!("session socket connected");
    Ok(upgrade
        .max_message_size(transport_cap)
        .max_frame_size(transport_cap)
        .on_upgrade(move |socket| serve(socket, connection, setup)))
}

/// What the connection loop needs besides the connection's state.
struct Setup {
    /// Frames from chat tasks, to write out.
    frames_out: mpsc::UnboundedReceiver<String>,
    /// The connection's slot in the per-IP cap, held until it closes.
    _permit: ConnectionPermit,
    motd: String,
    keepalive: Duration,
    shutdown: watch::Receiver<bool>,
}

/// One connection's state.
struct Connection {
    llm: Arc<Llm>,
    rate_limits: Arc<RateLimits>,
    client: ClientIp,
    /// The session created or resumed on this connection.
    current: Option<String>,
    /// Where chat tasks send their frames; the loop writes them out.
    outgoing: mpsc::UnboundedSender<String>,
    max_frame_bytes: usize,
}

async fn serve(mut socket: WebSocket, mut connection: Connection, setup: Setup) {
    let Setup {
        mut frames_out,
        _permit,
        motd,
        keepalive,
        mut shutdown,
    } = setup;
    if !motd.trim().is_empty() {
        let hello = encode(msg::SYSTEM, Value::Null, SystemMessage::text("motd", &motd));
        if socket.send(WsMessage::Text(hello.into())).await.is_err() {
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
                if socket.send(WsMessage::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
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
                        if socket.send(WsMessage::Text(frame.into())).await.is_err() {
                            return;
                        }
                    }
                    Err(violation) => {
                        let reason = violation.reason(connection.max_frame_bytes);
                        tracing::debug!(reason = reason.as_str(), "session socket closed for a protocol error");
                        let close = CloseFrame {
                            code: CLOSE_PROTOCOL_ERROR,
                            reason: reason.into(),
                        };
                        let _ = socket.send(WsMessage::Close(Some(close))).await;
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
async fn goodbye(socket: &mut WebSocket) {
    let notice = encode(
        msg::SYSTEM,
        Value::Null,
        SystemMessage::text("shutdown", SHUTDOWN_TEXT),
    );
    let _ = socket.send(WsMessage::Text(notice.into())).await;
    let close = CloseFrame {
        code: CLOSE_GOING_AWAY,
        reason: "server shutting down".into(),
    };
    let _ = socket.send(WsMessage::Close(Some(close))).await;
}

impl Connection {
    /// Answers one text frame: `Ok(Some(frame))` to send now, `Ok(None)`
    /// when a task will answer, `Err` to close the connection.
    fn handle(&mut self, text: &str) -> Result<Option<String>, Violation> {
        Ok(match interpret(text, self.max_frame_bytes)? {
            Incoming::Ping { cid, content } => Some(encode(msg::PING, cid, content)),
            Incoming::Session { cid, request } => {
                Some(encode(msg::SESSION, cid, self.session(request)))
            }
            Incoming::Chat {
                cid,
                prompt,
                stream,
            } => self.chat(cid, prompt, stream),
            Incoming::Invalid {
                msg: kind,
                cid,
                error,
            } => Some(match kind {
                msg::SESSION => encode(kind, cid, SessionResponse::failed(error)),
                msg::CHAT => encode(kind, cid, ChatResponse::failed(None, error)),
                _ => encode(
                    msg::ERROR,
                    cid,
                    ErrorContent {
                        success: false,
                        error,
                    },
                ),
            }),
        })
    }

    fn session(&mut self, request: SessionRequest) -> SessionResponse {
        let sessions = &self.llm.sessions;
        match request {
            SessionRequest::Create { settings } => {
                if let Err(err) = self.llm.ensure_enabled() {
                    return SessionResponse::failed(err.to_string());
                }
                if let Err(err) = self.rate_limits.check(self.client) {
                    return SessionResponse::failed(err.to_string());
                }
                let settings = match self.effective_settings(settings) {
                    Ok(settings) => settings,
                    Err(error) => return SessionResponse::failed(error),
                };
                match sessions.create(settings) {
                    Ok(id) => {
                        self.current = Some(id.clone());
                        tracing::debug!(sessions = sessions.len(), "session created");
                        SessionResponse {
                            session_id: Some(id),
                            ..SessionResponse::ok()
                        }
                    }
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
            SessionRequest::Resume { session_id } => match sessions.resume(&session_id) {
                Ok(()) => {
                    self.current = Some(session_id);
                    SessionResponse::ok()
                }
                Err(err) => SessionResponse::failed(err.to_string()),
            },
            SessionRequest::Status { session_id } => {
                let Some(id) = session_id.or_else(|| self.current.clone()) else {
                    return SessionResponse::failed(NO_SESSION);
                };
                match sessions.status(&id) {
                    Ok((status, settings)) => SessionResponse {
                        status: Some(status),
                        settings: Some(settings),
                        ..SessionResponse::ok()
                    },
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
            SessionRequest::Destroy { session_id } => {
                let Some(current) = self.current.clone() else {
                    return SessionResponse::failed(NO_SESSION);
                };
                if session_id.is_some_and(|id| id != current) {
                    return SessionResponse::failed(
                        "only the session this connection is using can be destroyed",
                    );
                }
                self.current = None;
                match sessions.destroy(&current) {
                    Ok(()) => SessionResponse::ok(),
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
        }
    }

    /// The settings a new session gets: the request's, checked, with the
    /// server's defaults for what it leaves out.
    fn effective_settings(&self, requested: SessionSettings) -> Result<SessionSettings, String> {
        let model = match requested.model.as_deref().map(str::trim) {
            None | Some("") => self.llm.settings.model.clone(),
            Some(model) if self.llm.allows_model(model) => model.to_owned(),
            Some(_) => {
                return Err(format!(
                    "`settings.model` is not offered by this server; leave it out to use {}",
                    self.llm.settings.model
                ))
            }
        };
        if let Some(temperature) = requested.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return Err("`settings.temperature` must be between 0 and 2".into());
            }
        }
        let name = match requested.name.as_deref().map(str::trim) {
            None => DEFAULT_BOT_NAME.to_owned(),
            Some(name)
                if (1..=64).contains(&name.chars().count())
                    && !name.chars().any(char::is_control) =>
            {
                name.to_owned()
            }
            Some(_) => return Err("`settings.name` must be 1 to 64 printable characters".into()),
        };
        Ok(SessionSettings {
            model: Some(model),
            temperature: requested.temperature,
            seed: requested.seed,
            name: Some(name),
        })
    }

    /// Starts answering a prompt, or says at once why not.
    fn chat(&mut self, cid: Value, prompt: String, stream: bool) -> Option<String> {
        let refuse = |sender: Option<&str>, error: String| {
            Some(encode(
                msg::CHAT,
                cid.clone(),
                ChatResponse::failed(sender, error),
            ))
        };
        if let Err(err) = self.llm.ensure_enabled() {
            return refuse(None, err.to_string());
        }
        let Some(session_id) = self.current.clone() else {
            return refuse(None, NO_SESSION.to_owned());
        };
        let turn = match self.llm.sessions.begin_turn(&session_id) {
            Ok(turn) => turn,
            Err(err) => return refuse(None, err.to_string()),
        };
        let sender = turn
            .settings
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_BOT_NAME.to_owned());
        let permit = match self.llm.admit(self.client) {
            Ok(permit) => permit,
            Err(err) => {
                self.llm.sessions.end_turn(&session_id, None);
                return refuse(Some(&sender), err.to_string());
            }
        };
        let settings = &self.llm.settings;
        let request = ChatRequest {
            model: turn
                .settings
                .model
                .clone()
                .unwrap_or_else(|| settings.model.clone()),
            messages: conversation(
                &settings.system_prompt,
                &turn.history,
                &prompt,
                settings.context_chars,
            ),
            max_tokens: settings.max_tokens,
            temperature: turn.settings.temperature,
            seed: turn.settings.seed,
        };
        let reply = ChatTask {
            llm: Arc::clone(&self.llm),
            session_id,
            sender,
            cid,
            stream,
            outgoing: self.outgoing.clone(),
            _permit: permit,
        };
        tokio::spawn(reply.run(request, prompt));
        None
    }
}

const NO_SESSION: &str = "no session on this connection; send a session create or resume first";

/// One prompt being answered in a session.
struct ChatTask {
    llm: Arc<Llm>,
    session_id: String,
    sender: String,
    cid: Value,
    stream: bool,
    outgoing: mpsc::UnboundedSender<String>,
    _permit: SlotPermit<IpAddr>,
}

impl ChatTask {
    async fn run(self, request: ChatRequest, prompt: String) {
        let clock = Instant::now();
        let outcome = self.generate(request).await;
        // The session is idle again before the reply is sent, so a client
        // may send its next prompt as soon as it reads this one's answer.
        let content = match outcome {
            Ok(reply) => {
                tracing::info!(
                    chars = reply.chars().count(),
                    elapsed_ms = clock.elapsed().as_millis() as u64,
                    "session chat answered"
                );
                let content = ChatResponse::text(&self.sender, &reply, false);
                self.llm
                    .sessions
                    .end_turn(&self.session_id, Some((prompt, reply)));
                content
            }
            Err(err) => {
                tracing::warn!(
                    code = err.code(),
                    elapsed_ms = clock.elapsed().as_millis() as u64,
                    "session chat failed"
                );
                self.llm.sessions.end_turn(&self.session_id, None);
                ChatResponse::failed(Some(&self.sender), err.to_string())
            }
        };
        let _ = self
            .outgoing
            .send(encode(msg::CHAT, self.cid.clone(), content));
    }

    async fn generate(&self, request: ChatRequest) -> Result<String, LlmError> {
        let mut generation = self.llm.start(request).await?;
        while let Some(piece) = generation.next().await {
            let piece = piece?;
            if self.stream {
                let partial = ChatResponse::text(&self.sender, &piece, true);
                let _ = self
                    .outgoing
                    .send(encode(msg::CHAT, self.cid.clone(), partial));
            }
        }
        let reply = generation.into_text();
        if reply.trim().is_empty() {
            return Err(LlmError::Provider(ProviderFailure::Empty));
        }
        Ok(reply)
    }
}
