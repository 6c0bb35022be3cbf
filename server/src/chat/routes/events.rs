//! `GET /v1/channels/{channel_id}/events`: a channel's live events as
//! Server-Sent Events, or as a WebSocket when the request asks to upgrade.
//!
//! Events: `message` (with `id:` = its `seq`), `typing`, `join`, `leave`,
//! `gap`, and a final `end` saying why the server closed the stream
//! (`token_expired`, `invalid_token`, `channel_not_found`, `shutting_down`
//! when the server stops…).
//!
//! Resuming: `Last-Event-ID` (or `?last_event_id=`) names the last `seq`
//! seen; the messages after it are replayed from the database, so nothing
//! is lost while the database holds it. A position the server does not know
//! (beyond the channel's newest message, as after an in-memory database
//! restarted) gets an explicit `gap` event. Live messages come through the
//! [`Hub`](crate::chat::realtime::Hub); one that arrives out of order, or a
//! lagging subscription, triggers the same replay, so delivery never skips.
//!
//! The token is checked when connecting and again every few seconds, and the
//! stream ends when the token expires or stops being valid (a rotated
//! secret, a deleted user). Browsers cannot set headers on `EventSource`,
//! so `?access_token=` is accepted here, and only here; the trade-off (a
//! URL may end up in proxy logs or browser history) is why tokens are
//! short-lived and why this server never logs query strings.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message as WsFrame, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use malten_shared::sse;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use utoipa::IntoParams;

use crate::chat::auth::{authenticate, bearer, Caller, ClientAddr};
use crate::chat::db::now_ms;
use crate::chat::error::ChatError;
use crate::chat::extract::ChatQuery;
use crate::chat::realtime::ChatEvent;
use crate::chat::ChatState;
use crate::error::ApiError;
use crate::http::sse::event_stream_response;
use crate::limits::{ClientIp, ConnectionPermit};

/// How often a live connection re-checks its token and channel.
const RECHECK: Duration = Duration::from_secs(2);
/// Messages per replay query.
const REPLAY_PAGE: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The access token, for clients that cannot set `Authorization`
    /// (browsers' `EventSource`). Prefer the header elsewhere.
    pub access_token: Option<String>,
    /// Resume after this `seq`, like the `Last-Event-ID` header (which wins).
    pub last_event_id: Option<i64>,
}

/// One thing to send, whatever the transport.
#[derive(Debug)]
enum Frame {
    Event {
        id: Option<i64>,
        name: &'static str,
        data: Value,
    },
    KeepAlive,
}

#[utoipa::path(get, path = "/v1/channels/{channel_id}/events", tag = "realtime",
    security(("access_token" = [])), params(("channel_id" = String, Path), EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this seq")),
    responses((status = 200, content_type = "text/event-stream",
        description = "Events `message`, `typing`, `join`, `leave`, `gap`, `end`; a WebSocket with the same events as JSON on upgrade")))]
pub async fn subscribe(
    State(state): State<ChatState>,
    ClientAddr(ip): ClientAddr,
    Path(channel_id): Path<String>,
    ChatQuery(query): ChatQuery<EventsQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _body) = request.into_parts();
    let token = bearer(&parts.headers)
        .map(str::to_owned)
        .or(query.access_token)
        .ok_or(ChatError::MissingToken)?;
    let caller = authenticate(&state, &token).await?;
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let resume = resume_position(&parts.headers)?.or(query.last_event_id);
    let upgrade = if wants_websocket(&parts.headers) {
        Some(
            WebSocketUpgrade::from_request_parts(&mut parts, &state)
                .await
                .map_err(|rejection| ChatError::invalid(rejection.body_text()))?,
        )
    } else {
        None
    };

    let permit =
        state
            .connections()
            .acquire(ClientIp(ip))
            .map_err(|_| ChatError::TooManyConnections {
                limit: state.connection_limit(),
            })?;
    // Subscribe before reading the position, so nothing falls in between.
    let events = state.hub().subscribe(&channel.id);
    let (last_seq,): (i64,) = sqlx::query_as("SELECT last_seq FROM chat_channels WHERE id = $1")
        .bind(&channel.id)
        .fetch_one(state.pool())
        .await?;
    let (tx, rx) = mpsc::channel(64);
    let connection = Connection {
        state: state.clone(),
        token,
        caller,
        channel_id: channel.id,
        delivered: resume.unwrap_or(last_seq),
        tx,
        _permit: permit,
    };
    tokio::spawn(connection.run(events, resume.map(|_| last_seq)));
    tracing::debug!(channel = %channel_id, websocket = upgrade.is_some(), "chat: subscriber connected");
    Ok(match upgrade {
        Some(upgrade) => upgrade
            .on_upgrade(move |socket| serve_websocket(socket, rx))
            .into_response(),
        None => sse_response(rx),
    })
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

fn resume_position(headers: &HeaderMap) -> Result<Option<i64>, ChatError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .map(Some)
        .ok_or_else(|| ChatError::invalid("`Last-Event-ID` must be a message `seq`"))
}

/// The producer side of one subscriber: replays, forwards live events,
/// watches the token, and stops when the transport's receiver is gone.
struct Connection {
    state: ChatState,
    token: String,
    caller: Caller,
    channel_id: String,
    /// The `seq` of the last message sent (or skipped as already seen).
    delivered: i64,
    tx: mpsc::Sender<Frame>,
    /// Frees the connection slot when the connection ends.
    _permit: ConnectionPermit,
}

impl Connection {
    /// `replay_to`: the channel's newest `seq` when the client resumes.
    async fn run(mut self, mut events: broadcast::Receiver<ChatEvent>, replay_to: Option<i64>) {
        if let Some(last_seq) = replay_to {
            if self.delivered > last_seq {
                let gap = json!({"reason": "unknown_position", "last_event_id": self.delivered, "last_seq": last_seq});
                self.delivered = last_seq;
                if self.send(None, "gap", gap).await.is_err() {
                    return;
                }
            }
        }
        let end = match self.serve(&mut events).await {
            Ok(end) => end,
            Err(Gone) => return,
        };
        let _ = self
            .send(
                None,
                "end",
                json!({"code": end.code(), "error": end.to_string()}),
            )
            .await;
        tracing::debug!(channel = %self.channel_id, code = end.code(), "chat: subscriber ended");
    }

    async fn serve(
        &mut self,
        events: &mut broadcast::Receiver<ChatEvent>,
    ) -> Result<ChatError, Gone> {
        self.replay().await?;
        let left_ms = (self.caller.expires_at - now_ms()).max(0) as u64;
        let expiry = tokio::time::sleep_until(Instant::now() + Duration::from_millis(left_ms));
        tokio::pin!(expiry);
        let keepalive_period = self.state.keepalive();
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + keepalive_period, keepalive_period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK, RECHECK);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut shutdown = self.state.watch_shutdown();
        loop {
            tokio::select! {
                // Said at once, so shutdown need not wait out its grace period.
                // (The guard `wait_for` returns is not `Send`: drop it here.)
                _ = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                    return Ok(ChatError::ShuttingDown);
                }
                _ = &mut expiry => return Ok(ChatError::TokenExpired),
                // The transport dropped its end: the client is gone.
                _ = self.tx.closed() => return Err(Gone),
                _ = recheck.tick() => {
                    if let Err(err) = self.still_allowed().await {
                        return Ok(err);
                    }
                }
                _ = keepalive.tick() => {
                    self.tx.send(Frame::KeepAlive).await.map_err(|_| Gone)?;
                }
                event = events.recv() => match event {
                    Ok(ChatEvent::Message(message)) if message.seq <= self.delivered => {}
                    Ok(ChatEvent::Message(message)) if message.seq == self.delivered + 1 => {
                        self.delivered = message.seq;
                        self.send(Some(message.seq), "message", json!(message)).await?;
                    }
                    // Out of order, or events lost: catch up from the database.
                    Ok(ChatEvent::Message(_) | ChatEvent::Resync)
                    | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.replay().await?;
                    }
                    Ok(ChatEvent::Typing { user_id, participant_id }) => {
                        self.send(None, "typing", json!({"user_id": user_id, "participant_id": participant_id})).await?;
                    }
                    Ok(ChatEvent::Join(participant)) => self.send(None, "join", json!(participant)).await?,
                    Ok(ChatEvent::Leave(participant)) => {
                        let own = self.caller.user_id.as_deref() == Some(participant.user_id.as_str());
                        self.send(None, "leave", json!(participant)).await?;
                        if own {
                            return Ok(ChatError::Forbidden);
                        }
                    }
                    Ok(ChatEvent::Deleted) | Err(broadcast::error::RecvError::Closed) => {
                        return Ok(ChatError::NotFound(crate::chat::error::Entity::Channel));
                    }
                },
            }
        }
    }

    /// The token is still valid and the channel still visible to it.
    async fn still_allowed(&self) -> Result<(), ChatError> {
        let caller = authenticate(&self.state, &self.token).await?;
        super::channels::visible(&self.state, &caller, &self.channel_id).await?;
        Ok(())
    }

    /// Sends every stored message after `delivered`, page by page.
    async fn replay(&mut self) -> Result<(), Gone> {
        loop {
            let page = match super::messages::page(
                self.state.pool(),
                &self.channel_id,
                Some(self.delivered),
                None,
                REPLAY_PAGE,
            )
            .await
            {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(channel = %self.channel_id, error = ?err, "chat: replay failed");
                    return Ok(());
                }
            };
            for message in page.data {
                self.delivered = message.seq;
                self.send(Some(message.seq), "message", json!(message))
                    .await?;
            }
            if !page.has_more {
                return Ok(());
            }
        }
    }

    async fn send(&self, id: Option<i64>, name: &'static str, data: Value) -> Result<(), Gone> {
        self.tx
            .send(Frame::Event { id, name, data })
            .await
            .map_err(|_| Gone)
    }
}

/// The subscriber went away.
struct Gone;

/// The frames as a `text/event-stream` body, built like the stream API's
/// (`http::sse`): the same preamble, keep-alive comment and headers.
fn sse_response(rx: mpsc::Receiver<Frame>) -> Response {
    let preamble = futures_util::stream::once(async { Bytes::from(sse::retry(2000)) });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let frame = rx.recv().await?;
        Some((sse_bytes(&frame), rx))
    });
    let body = preamble.chain(frames).map(Ok::<_, Infallible>);
    event_stream_response(Body::from_stream(body))
}

fn sse_bytes(frame: &Frame) -> Bytes {
    match frame {
        Frame::KeepAlive => Bytes::from_static(sse::KEEPALIVE.as_bytes()),
        Frame::Event { id, name, data } => {
            let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
            Bytes::from(format!("{id}event: {name}\ndata: {data}\n\n"))
        }
    }
}

/// The same events as JSON text frames `{"event","id"?,"data"}`; keep-alives
/// become pings. What the client sends is ignored except a close.
async fn serve_websocket(socket: WebSocket, mut rx: mpsc::Receiver<Frame>) {
    let (mut sender, mut receiver) = socket.split();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let outgoing = match frame {
                    None => {
                        let _ = sender.send(WsFrame::Close(None)).await;
                        return;
                    }
                    Some(Frame::KeepAlive) => WsFrame::Ping(Bytes::new()),
                    Some(Frame::Event { id, name, data }) => {
                        let mut envelope = json!({"event": name, "data": data});
                        if let Some(id) = id {
                            envelope["id"] = json!(id);
                        }
                        WsFrame::Text(envelope.to_string().into())
                    }
                };
                if sender.send(outgoing).await.is_err() {
                    return;
                }
            }
            incoming = receiver.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(WsFrame::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
