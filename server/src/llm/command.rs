//! `POST /commands`: a prompt to the model in a stream, answered in the
//! stream.
//!
//! On a plain stream the prompt is stored as a `command` message; the reply
//! is sent to the stream's subscribers as `partial` events while it is
//! generated, then stored once as a `reply` message (at most 1024
//! characters), which is what replay and late readers get. The caller also
//! receives everything as events ([`CommandEvent`]).
//!
//! On an end-to-end encrypted stream the server cannot take part without
//! seeing plaintext, so it refuses unless the caller opts in with
//! `plaintext=true`; then the reply goes to the caller only, and nothing is
//! stored or broadcast ([`Audience::CallerOnly`]). [`Audience::choose`] is
//! the whole rule.
//!
//! Generation runs in its own task once started: a caller who hangs up does
//! not stop the reply from reaching the stream.
//!
//! # The caller's channel is bounded
//! The caller's events go through a channel of [`CALLER_EVENTS`] slots, so a
//! caller who reads slowly (or not at all) cannot make the server buffer a
//! whole reply per request. Policy when it is full: the generation task never
//! waits for the caller; a `partial` that does not fit is skipped for this
//! caller (the stream's subscribers still get it), and the last slot is
//! reserved before generation starts for the final `reply` or `error`,
//! which carries the whole text, so a slow caller loses previews, never the
//! answer.

use std::sync::Arc;
use std::time::Instant;

use malten_shared::wire::{CommandEventKind, ErrorBody, Message, MessageKind, Partial};
use malten_shared::{check_message_text, StreamName};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::backend::ChatRequest;
use super::context::{conversation, history_budget, stream_turns};
use super::{Llm, LlmError, ProviderFailure};
use crate::engine::{Engine, EngineError};
use crate::limits::ClientIp;
use crate::store::StoreError;

/// Slots in the caller's event channel; see the module docs for the policy
/// when it is full. 64 previews cover a typical reply at the pace a
/// connected client reads them.
pub const CALLER_EVENTS: usize = 64;

/// Why a command could not start. The HTTP edge (`error.rs`) maps it.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the generation task ended without reporting")]
    TaskLost,
}

impl CommandError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Llm(err) => err.code(),
            Self::Engine(err) => err.code(),
            Self::TaskLost => "internal",
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(err: StoreError) -> Self {
        Self::Engine(err.into())
    }
}

/// Who gets to see a command and its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A plain stream: the prompt and the reply are stored and broadcast.
    Stream,
    /// An encrypted stream, plaintext agreed to: the reply goes back to the
    /// caller only; nothing is stored, nothing is broadcast.
    CallerOnly,
}

impl Audience {
    /// The rule for encrypted streams, in one place.
    pub fn choose(encrypted: bool, plaintext_opt_in: bool) -> Result<Self, LlmError> {
        if encrypted {
            return if plaintext_opt_in {
                Ok(Self::CallerOnly)
            } else {
                Err(LlmError::PlaintextOptInRequired)
            };
        }
        Ok(Self::Stream)
    }
}

/// A command as the caller asked it.
#[derive(Debug, Clone)]
pub struct Command {
    pub stream: StreamName,
    pub prompt: String,
    /// `plaintext=true`: needed on encrypted streams, ignored elsewhere.
    pub plaintext: bool,
}

/// A reply that was not stored (an encrypted stream's plaintext reply): the
/// text and where it belongs, without the id and time a message has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnstoredReply {
    pub stream: StreamName,
    pub text: String,
    #[serde(rename = "type")]
    pub kind: MessageKind,
}

/// The `reply` event's data: the stored message, or the unstored reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ReplyData {
    Stored(Message),
    Unstored(UnstoredReply),
}

/// What the caller of `POST /commands` receives, in order: `Command` (when
/// stored), `Partial`s, then `Reply` or `Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEvent {
    Command(Message),
    Partial(Partial),
    Reply(ReplyData),
    Error(ErrorBody),
}

impl CommandEvent {
    /// Which event this is (its SSE `event:` name).
    pub fn kind(&self) -> CommandEventKind {
        match self {
            Self::Command(_) => CommandEventKind::Command,
            Self::Partial(_) => CommandEventKind::Partial,
            Self::Reply(_) => CommandEventKind::Reply,
            Self::Error(_) => CommandEventKind::Error,
        }
    }

    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    pub fn data_json(&self) -> String {
        let json = match self {
            Self::Command(message) => serde_json::to_string(message),
            Self::Partial(partial) => serde_json::to_string(partial),
            Self::Reply(reply) => serde_json::to_string(reply),
            Self::Error(body) => serde_json::to_string(body),
        };
        json.expect("command events always serialize")
    }
}

fn error_body(code: &str, error: impl ToString) -> ErrorBody {
    ErrorBody {
        error: error.to_string(),
        code: code.to_owned(),
    }
}

/// Runs `command` for `client`. Returns once the first piece of the reply
/// has arrived, with the caller's events (the rest arrive as generated); an
/// error before that point, including a timeout or a provider failure, is
/// returned as such so the caller gets a proper status.
pub async fn run(
    llm: &Arc<Llm>,
    engine: &Engine,
    client: ClientIp,
    command: Command,
) -> Result<mpsc::Receiver<CommandEvent>, CommandError> {
    let encrypted = engine.stream_is_encrypted(&command.stream).await?;
    run_on(llm, engine, client, command, encrypted).await
}

/// [`run`] with the stream's encryption given, so the encrypted path can be
/// tested before streams can be encrypted.
async fn run_on(
    llm: &Arc<Llm>,
    engine: &Engine,
    client: ClientIp,
    command: Command,
    encrypted: bool,
) -> Result<mpsc::Receiver<CommandEvent>, CommandError> {
    llm.ensure_enabled()?;
    check_message_text(&command.prompt).map_err(StoreError::from)?;
    let audience = Audience::choose(encrypted, command.plaintext)?;
    let stream_permit = llm.admit_stream(&command.stream)?;
    let ip_permit = llm.admit(client)?;

    let settings = &llm.settings;
    let history = match audience {
        // The stream's messages are ciphertext the model could not read,
        // and must not leave for the provider in any case.
        Audience::CallerOnly => Vec::new(),
        Audience::Stream => stream_turns(
            &engine
                .recent(
                    &command.stream,
                    history_budget(settings.context_chars, &command.prompt),
                )
                .await?,
        ),
    };
    let request = ChatRequest {
        model: settings.model.clone(),
        messages: conversation(
            &settings.system_prompt,
            &history,
            &command.prompt,
            settings.context_chars,
        ),
        max_tokens: settings.max_tokens,
        temperature: None,
        seed: None,
    };
    let stored_command = match audience {
        Audience::Stream => Some(
            engine
                .post(&command.stream, command.prompt, MessageKind::Command)
                .await?,
        ),
        Audience::CallerOnly => None,
    };
    tracing::info!(
        stream = %command.stream,
        caller_only = audience == Audience::CallerOnly,
        history_turns = history.len(),
        "command accepted"
    );

    let (events, receiver) = mpsc::channel(CALLER_EVENTS);
    // The channel is new and empty: neither the slot for the final event
    // nor the command's slot can be refused.
    let last = events
        .clone()
        .try_reserve_owned()
        .expect("a new channel has free slots");
    if let Some(message) = &stored_command {
        let _ = events.try_send(CommandEvent::Command(message.clone()));
    }
    let (started_tx, started_rx) = oneshot::channel();
    let task = Task {
        llm: Arc::clone(llm),
        engine: engine.clone(),
        stream: command.stream,
        command_id: stored_command.map(|message| message.id),
        audience,
        events,
        last,
    };
    tokio::spawn(async move {
        let _permits = (stream_permit, ip_permit);
        task.generate(request, started_tx).await;
    });
    match started_rx.await {
        Ok(Ok(())) => Ok(receiver),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => Err(CommandError::TaskLost),
    }
}

/// The state of one command's generation task.
struct Task {
    llm: Arc<Llm>,
    engine: Engine,
    stream: StreamName,
    command_id: Option<String>,
    audience: Audience,
    /// The caller's events; previews are skipped when it is full.
    events: mpsc::Sender<CommandEvent>,
    /// The slot kept for the final `reply` or `error`.
    last: mpsc::OwnedPermit<CommandEvent>,
}

impl Task {
    async fn generate(self, request: ChatRequest, started: oneshot::Sender<Result<(), LlmError>>) {
        let clock = Instant::now();
        let mut generation = match self.llm.start(request).await {
            Ok(generation) => generation,
            Err(err) => {
                self.log_failure(&err, clock);
                self.broadcast_done(Some(err.code())).await;
                let _ = started.send(Err(err));
                return;
            }
        };
        let _ = started.send(Ok(()));
        while let Some(piece) = generation.next().await {
            match piece {
                Ok(delta) => self.partial(delta).await,
                Err(err) => return self.fail(&err, clock).await,
            }
        }
        let text = generation.into_text();
        if text.trim().is_empty() {
            return self
                .fail(&LlmError::Provider(ProviderFailure::Empty), clock)
                .await;
        }
        let chars = text.chars().count();
        let reply = match self.audience {
            Audience::CallerOnly => ReplyData::Unstored(UnstoredReply {
                stream: self.stream.clone(),
                text,
                kind: MessageKind::Reply,
            }),
            Audience::Stream => match self
                .engine
                .post(&self.stream, text, MessageKind::Reply)
                .await
            {
                Ok(message) => ReplyData::Stored(message),
                Err(err) => {
                    tracing::warn!(stream = %self.stream, code = err.code(), "reply could not be stored");
                    self.broadcast_done(Some(err.code())).await;
                    self.last
                        .send(CommandEvent::Error(error_body(err.code(), &err)));
                    return;
                }
            },
        };
        self.broadcast_done(None).await;
        tracing::info!(
            stream = %self.stream,
            chars,
            elapsed_ms = clock.elapsed().as_millis() as u64,
            "command answered"
        );
        self.last.send(CommandEvent::Reply(reply));
    }

    async fn partial(&self, delta: String) {
        let partial = Partial {
            stream: self.stream.clone(),
            command: self.command_id.clone(),
            delta,
            done: false,
            error: None,
        };
        if self.audience == Audience::Stream {
            self.publish(partial.clone()).await;
        }
        // Full: this caller skips the preview (module docs); closed: gone.
        let _ = self.events.try_send(CommandEvent::Partial(partial));
    }

    /// Previews are best-effort: a backend that cannot take one is logged,
    /// and the stored reply still follows.
    async fn publish(&self, partial: Partial) {
        if let Err(err) = self.engine.publish_partial(partial).await {
            tracing::warn!(stream = %self.stream, code = err.code(), "partial not published");
        }
    }

    /// Tells the stream's subscribers the preview is over (the stored reply,
    /// if any, was delivered before this through the ring).
    async fn broadcast_done(&self, error: Option<&str>) {
        if self.audience == Audience::Stream {
            self.publish(Partial {
                stream: self.stream.clone(),
                command: self.command_id.clone(),
                delta: String::new(),
                done: true,
                error: error.map(str::to_owned),
            })
            .await;
        }
    }

    async fn fail(self, err: &LlmError, clock: Instant) {
        self.log_failure(err, clock);
        self.broadcast_done(Some(err.code())).await;
        self.last
            .send(CommandEvent::Error(error_body(err.code(), err)));
    }

    fn log_failure(&self, err: &LlmError, clock: Instant) {
        tracing::warn!(
            stream = %self.stream,
            code = err.code(),
            elapsed_ms = clock.elapsed().as_millis() as u64,
            "command failed"
        );
    }
}

#[cfg(test)]
mod tests;
