//! One prompt being answered in a `/ws` session: the reply is generated and
//! its frames (pieces when the client asked for `stream`, then the whole
//! reply or the failure) are sent back through the connection's bounded
//! channel, in order.
//!
//! A full channel makes the task wait (the client reads slower than the
//! model writes); the connection's write deadline bounds that wait (see the
//! parent module). A closed channel (the client left) does not stop the
//! reply: it is still kept in the session's history for a connection that
//! resumes the session.

use std::net::IpAddr;
use std::sync::Arc;

use malten_shared::protocol::{ChatResponse, ServerPacket};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::limits::SlotPermit;
use crate::llm::backend::ChatRequest;
use crate::llm::frames::encode;
use crate::llm::{Llm, LlmError, ProviderFailure};

/// One prompt being answered in a session.
pub(super) struct ChatTask {
    pub llm: Arc<Llm>,
    pub session_id: String,
    pub sender: String,
    pub cid: Value,
    pub stream: bool,
    pub outgoing: mpsc::Sender<String>,
    /// The client's slot among its concurrent replies, held until done.
    pub _permit: SlotPermit<IpAddr>,
}

impl ChatTask {
    pub async fn run(self, request: ChatRequest, prompt: String) {
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
        self.relay(content).await;
    }

    async fn generate(&self, request: ChatRequest) -> Result<String, LlmError> {
        let mut generation = self.llm.start(request).await?;
        while let Some(piece) = generation.next().await {
            let piece = piece?;
            if self.stream {
                self.relay(ChatResponse::text(&self.sender, &piece, true))
                    .await;
            }
        }
        let reply = generation.into_text();
        if reply.trim().is_empty() {
            return Err(LlmError::Provider(ProviderFailure::Empty));
        }
        Ok(reply)
    }

    /// Sends one frame to the connection, waiting for room; a connection
    /// that has closed is not an error (see the module doc).
    async fn relay(&self, content: ChatResponse) {
        let frame = encode(self.cid.clone(), ServerPacket::Chat(content));
        let _ = self.outgoing.send(frame).await;
    }
}
