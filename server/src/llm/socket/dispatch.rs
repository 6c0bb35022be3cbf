//! What one `/ws` text frame asks for: answered at once (ping, session
//! requests, failures), or handed to a chat task that answers later.

use std::sync::Arc;

use malten_shared::protocol::{ChatResponse, ServerPacket};
use serde_json::Value;
use tokio::sync::mpsc;

use super::relay::ChatTask;
use crate::limits::{ClientIp, RateLimits};
use crate::llm::backend::ChatRequest;
use crate::llm::context::conversation;
use crate::llm::frames::{encode, interpret, Incoming, Violation};
use crate::llm::{Llm, DEFAULT_BOT_NAME};

/// The answer to a frame that needs a session when the connection has none.
pub(super) const NO_SESSION: &str =
    "no session on this connection; send a session create or resume first";

/// One connection's state.
pub(super) struct Connection {
    pub llm: Arc<Llm>,
    pub rate_limits: Arc<RateLimits>,
    pub client: ClientIp,
    /// The session created or resumed on this connection.
    pub current: Option<String>,
    /// Where chat tasks send their frames; the loop writes them out.
    pub outgoing: mpsc::Sender<String>,
    pub max_frame_bytes: usize,
}

impl Connection {
    /// Answers one text frame: `Ok(Some(frame))` to send now, `Ok(None)`
    /// when a task will answer, `Err` to close the connection.
    pub fn handle(&mut self, text: &str) -> Result<Option<String>, Violation> {
        Ok(match interpret(text, self.max_frame_bytes)? {
            Incoming::Ping { cid, content } => Some(encode(cid, ServerPacket::Ping(content))),
            Incoming::Session { cid, request } => {
                Some(encode(cid, ServerPacket::Session(self.session(request))))
            }
            Incoming::Chat {
                cid,
                prompt,
                stream,
            } => self.chat(cid, prompt, stream),
            Incoming::Invalid { cid, reply } => Some(encode(cid, reply)),
        })
    }

    /// Starts answering a prompt, or says at once why not.
    fn chat(&mut self, cid: Value, prompt: String, stream: bool) -> Option<String> {
        let refuse = |sender: Option<&str>, error: String| {
            Some(encode(
                cid.clone(),
                ServerPacket::Chat(ChatResponse::failed(sender, error)),
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
