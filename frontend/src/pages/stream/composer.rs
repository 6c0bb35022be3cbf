//! Sending: the draft, whether a send is under way, what went wrong, and
//! posting a message (sealed first in an encrypted stream).

use leptos::prelude::*;
use malten_shared::crypto::PlaintextKind;

use super::state::Page;
use crate::api;
use crate::command::llm_prompt;

/// What the composer shows and edits.
#[derive(Clone, Copy)]
pub(super) struct Compose {
    pub(super) draft: RwSignal<String>,
    /// A send (or an LLM command) is under way.
    pub(super) sending: RwSignal<bool>,
    /// Why the last send failed (also used for history that failed to load).
    pub(super) error: RwSignal<Option<String>>,
}

impl Compose {
    pub(super) fn new() -> Self {
        Self {
            draft: RwSignal::new(String::new()),
            sending: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }
}

impl Page {
    /// Sends the draft: sealed in an encrypted stream, as text otherwise;
    /// `/ai …` goes to the LLM. Nothing goes to a stream that is not the
    /// one the link is for.
    pub(super) async fn send(self, text: String, nick: String) {
        let composer = self.composer;
        if let Some(reason) = self.refusal() {
            return composer.error.set(Some(reason));
        }
        composer.error.set(None);
        if let Some(prompt) = llm_prompt(&text) {
            let prompt = prompt.to_owned();
            return self.ask(prompt, nick).await;
        }
        composer.sending.set(true);
        let outcome = self.post(&text, &nick, PlaintextKind::Message).await;
        composer.sending.set(false);
        match outcome {
            Ok(()) => composer.draft.set(String::new()),
            Err(err) => composer.error.set(Some(err)),
        }
    }

    /// Posts one message and shows it at once; refused (whatever the
    /// buttons say) when the stream is not the one the link is for.
    pub(super) async fn post(
        self,
        text: &str,
        nick: &str,
        kind: PlaintextKind,
    ) -> Result<(), String> {
        if let Some(reason) = self.refusal() {
            return Err(reason);
        }
        let body = self.seal(text, nick, kind).await?;
        let stored = api::post_message(&self.name(), &body)
            .await
            .map_err(|err| err.to_string())?;
        // Show it now, scrolled to; the live copy is recognised by its id
        // and skipped.
        if !self.history.has_seen(&stored.id) {
            let shown = self.show(&stored).await;
            self.history.append_own(shown);
        }
        Ok(())
    }
}
