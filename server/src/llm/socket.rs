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
use malten_shared::check_message_text;
use malten_shared::protocol::{
    decode_text, msg, ChatRequest as ChatFrame, ChatResponse, ErrorContent, Frame, SessionRequest,
    SessionResponse, SessionSettings, SystemMessage,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::backend::ChatRequest;
use super::context::conversation;
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
    let connection = Connection {
        llm: Arc::clone(&state.llm),
        rate_limits: Arc::clone(&state.rate_limits),
        client,
        current: None,
        outgoing: mpsc::unbounded_channel().0,
        max_frame_bytes: limit,
    };
    let motd = state.config.motd.clone();
    let keepalive = state.config.keepalive();
    let shutdown = state.store.watch_shutdown();
    tracing::debug!("session socket connected");
    Ok(upgrade
        .max_message_size(transport_cap)
        .max_frame_size(transport_cap)
        .on_upgrade(move |socket| serve(socket, connection, permit, motd, keepalive, shutdown)))
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

async fn serve(
    mut socket: WebSocket,
    mut connection: Connection,
    _permit: ConnectionPermit,
    motd: String,
    keepalive: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let (outgoing, mut frames_out) = mpsc::unbounded_channel();
    connection.outgoing = outgoing;
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
                        tracing::debug!(reason = violation.reason(connection.max_frame_bytes).as_str(), "session socket closed for a protocol error");
                        let close = CloseFrame {
                            code: CLOSE_PROTOCOL_ERROR,
                            reason: violation.reason(connection.max_frame_bytes).into(),
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

/// A frame that ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    TooLarge,
    NotJson,
    Binary,
    Unreadable,
}

impl Violation {
    /// The close reason (at most 123 bytes, as close frames require).
    fn reason(self, limit: usize) -> String {
        match self {
            Self::TooLarge => format!("frame larger than {limit} bytes"),
            Self::NotJson => "frames must be JSON".into(),
            Self::Binary => "frames must be JSON text, not binary".into(),
            Self::Unreadable => "unreadable or oversized frame".into(),
        }
    }
}

/// A frame as understood, before acting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Ping {
        cid: Value,
        content: Value,
    },
    Session {
        cid: Value,
        request: SessionRequest,
    },
    Chat {
        cid: Value,
        prompt: String,
        stream: bool,
    },
    /// JSON, but not a valid request: answered with `success: false` under
    /// `msg` (the packet type when known, else `error`).
    Invalid {
        msg: &'static str,
        cid: Value,
        error: String,
    },
}

/// Reads one text frame. Never panics, whatever the input.
pub fn interpret(text: &str, max_frame_bytes: usize) -> Result<Incoming, Violation> {
    if text.len() > max_frame_bytes {
        return Err(Violation::TooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| Violation::NotJson)?;
    let Value::Object(mut frame) = value else {
        return Ok(invalid(
            msg::ERROR,
            Value::Null,
            "a frame must be a JSON object {\"msg\", \"cid\", \"content\"}",
        ));
    };
    let cid = frame.remove("cid").unwrap_or(Value::Null);
    let content = frame.remove("content").unwrap_or(Value::Null);
    let kind = match frame.get("msg") {
        None | Some(Value::Null) => return Ok(invalid(msg::ERROR, cid, "`msg` is required")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Ok(invalid(msg::ERROR, cid, "`msg` must be a string")),
    };
    Ok(match kind {
        msg::PING => Incoming::Ping { cid, content },
        msg::SESSION => match serde_json::from_value::<SessionRequest>(content) {
            Ok(request) => Incoming::Session { cid, request },
            Err(err) => invalid(
                msg::SESSION,
                cid,
                &format!("invalid session request: {}", describe(&err)),
            ),
        },
        msg::CHAT => match read_chat(content) {
            Ok((prompt, stream)) => Incoming::Chat {
                cid,
                prompt,
                stream,
            },
            Err(error) => invalid(msg::CHAT, cid, &format!("invalid chat request: {error}")),
        },
        msg::SYSTEM => invalid(
            msg::ERROR,
            cid,
            "`system` frames are sent by the server only",
        ),
        other => {
            let shown: String = other.chars().take(32).collect();
            invalid(
                msg::ERROR,
                cid,
                &format!("unknown `msg` {shown:?}; expected ping, session or chat"),
            )
        }
    })
}

fn invalid(msg: &'static str, cid: Value, error: &str) -> Incoming {
    Incoming::Invalid {
        msg,
        cid,
        error: error.to_owned(),
    }
}

/// serde's message without its position suffix (frames are one line).
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// The prompt of a chat frame's content, checked like any message.
fn read_chat(content: Value) -> Result<(String, bool), String> {
    if content.is_null() {
        return Err("`content` with `type` and `data` is required".into());
    }
    let chat: ChatFrame = serde_json::from_value(content).map_err(|err| describe(&err))?;
    let prompt = decode_text(&chat.data).map_err(|err| err.to_string())?;
    check_message_text(&prompt).map_err(|err| err.to_string())?;
    Ok((prompt, chat.stream))
}

/// A frame as text.
fn encode<C: Serialize>(kind: &str, cid: Value, content: C) -> String {
    serde_json::to_string(&Frame::new(kind, cid, content)).expect("frames always serialize")
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const LIMIT: usize = 1024;

    fn failure(text: &str) -> (&'static str, Value, String) {
        match interpret(text, LIMIT) {
            Ok(Incoming::Invalid { msg, cid, error }) => (msg, cid, error),
            other => panic!("{text} should be answered with a failure, got {other:?}"),
        }
    }

    #[test]
    fn frames_that_break_the_protocol_close_the_connection() {
        let cases = [
            ("not json", Violation::NotJson),
            ("{\"msg\": \"ping\"", Violation::NotJson),
            ("", Violation::NotJson),
        ];
        for (text, violation) in cases {
            assert_eq!(interpret(text, LIMIT), Err(violation), "for {text:?}");
        }
        let big = json!({"msg": "ping", "cid": "x", "content": "a".repeat(LIMIT)}).to_string();
        assert_eq!(interpret(&big, LIMIT), Err(Violation::TooLarge));
    }

    #[test]
    fn bad_requests_get_a_clear_failure_that_echoes_the_cid() {
        let cases = [
            (json!([1, 2]), "error", "JSON object"),
            (json!({"cid": "c1"}), "error", "`msg` is required"),
            (
                json!({"msg": 7, "cid": "c1"}),
                "error",
                "`msg` must be a string",
            ),
            (
                json!({"msg": "dance", "cid": "c1"}),
                "error",
                "unknown `msg` \"dance\"",
            ),
            (
                json!({"msg": "system", "cid": "c1", "content": {}}),
                "error",
                "server only",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {}}),
                "session",
                "missing field `request`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "fly"}}),
                "session",
                "unknown variant `fly`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "resume"}}),
                "session",
                "missing field `session_id`",
            ),
            (
                json!({"msg": "session", "cid": "c1", "content": {"request": "create", "settings": {"seed": "x"}}}),
                "session",
                "invalid type",
            ),
            (
                json!({"msg": "chat", "cid": "c1"}),
                "chat",
                "`content` with `type` and `data` is required",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text"}}),
                "chat",
                "missing field `data`",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "image", "data": "aGk="}}),
                "chat",
                "unknown variant `image`",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "%%%"}}),
                "chat",
                "not valid base64",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "//79"}}),
                "chat",
                "not of UTF-8 text",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": "ICA="}}),
                "chat",
                "must not be empty",
            ),
            (
                json!({"msg": "chat", "cid": "c1", "content": {"type": "text", "data": 5}}),
                "chat",
                "invalid type",
            ),
        ];
        for (frame, expected_msg, expected_error) in cases {
            let (msg, cid, error) = failure(&frame.to_string());
            assert_eq!(msg, expected_msg, "for {frame}");
            assert!(
                error.contains(expected_error),
                "for {frame}: {error:?} should mention {expected_error:?}"
            );
            if frame.get("cid").is_some() {
                assert_eq!(cid, json!("c1"), "for {frame}");
            }
        }
    }

    #[test]
    fn good_frames_are_understood() {
        assert_eq!(
            interpret(r#"{"msg":"ping","cid":"1a2b3c4d","content":null}"#, LIMIT),
            Ok(Incoming::Ping {
                cid: json!("1a2b3c4d"),
                content: Value::Null
            })
        );
        assert_eq!(
            interpret(
                r#"{"msg":"chat","cid":7,"content":{"type":"text","data":"aGk=","stream":true}}"#,
                LIMIT
            ),
            Ok(Incoming::Chat {
                cid: json!(7),
                prompt: "hi".into(),
                stream: true
            })
        );
    }
}
