//! LLM commands (`/ai …`): whether the server offers them, the reply being
//! generated, and asking (with the user's consent first in an encrypted
//! stream, since the prompt then leaves the encryption).

use leptos::prelude::*;
use malten_shared::crypto::PlaintextKind;
use malten_shared::wire::CommandsInfo;

use super::dom::confirm;
use super::state::Page;
use crate::api;

const LEAVES_ENCRYPTION: &str =
    "This prompt will leave the end-to-end encryption: the server and the \
LLM provider will read it in plaintext. The prompt and the reply are then posted into this stream \
encrypted. Send it?";

/// What the page knows about the LLM.
#[derive(Clone, Copy)]
pub(super) struct Llm {
    /// Whether the server has an LLM (`None` until known).
    pub(super) info: RwSignal<Option<CommandsInfo>>,
    /// The LLM reply being generated, shown until the reply arrives.
    pub(super) preview: RwSignal<Option<String>>,
}

impl Llm {
    pub(super) fn new() -> Self {
        Self {
            info: RwSignal::new(None),
            preview: RwSignal::new(None),
        }
    }

    /// Asks the server whether it has an LLM.
    pub(super) async fn load(self) {
        if let Ok(info) = api::commands_info().await {
            self.info.set(Some(info));
        }
    }

    /// A piece of the reply being generated; `done` ends the preview.
    pub(super) fn preview_piece(self, delta: &str, done: bool) {
        if done {
            self.preview.set(None);
        } else {
            self.preview
                .update(|preview| preview.get_or_insert_with(String::new).push_str(delta));
        }
    }
}

impl Page {
    /// An LLM command. In a plain stream the server stores and broadcasts
    /// the prompt and reply. In an encrypted one the user first agrees that
    /// the prompt leaves the encryption; the reply comes back to this tab
    /// only, and both are then posted encrypted.
    pub(super) async fn ask(self, prompt: String, nick: String) {
        let (composer, llm) = (self.composer, self.llm);
        match llm.info.get_untracked() {
            Some(info) if info.enabled => {}
            Some(info) => {
                let reason = info.disabled_reason.unwrap_or_default();
                return composer.error.set(Some(format!(
                    "LLM commands are unavailable on this server. {reason}"
                )));
            }
            None => {
                return composer
                    .error
                    .set(Some("LLM commands are unavailable right now.".into()))
            }
        }
        let encrypted = self.encrypted();
        if encrypted && !confirm(LEAVES_ENCRYPTION) {
            return;
        }
        composer.sending.set(true);
        llm.preview.set(Some(String::new()));
        let outcome = async {
            let reply = api::run_command(&self.name(), &prompt, encrypted)
                .await
                .map_err(|err| err.to_string())?;
            if encrypted {
                self.post(&prompt, &nick, PlaintextKind::LlmPrompt).await?;
                self.post(&reply, "", PlaintextKind::LlmReply).await?;
            }
            Ok::<(), String>(())
        }
        .await;
        composer.sending.set(false);
        if encrypted {
            llm.preview.set(None);
        }
        match outcome {
            Ok(()) => composer.draft.set(String::new()),
            Err(err) => {
                llm.preview.set(None);
                composer.error.set(Some(err));
            }
        }
    }
}
