//! The stream key: unlocking with a passphrase, and what it is used for,
//! opening envelopes into what the page shows and sealing what it posts.

use leptos::prelude::*;
use malten_shared::crypto::{Plaintext, PlaintextKind};
use malten_shared::link::{Link, Pin};
use malten_shared::wire::{Body, Message, MessageKind};

use super::dom::hide_secret_from_address_bar;
use super::state::{Page, Phase};
use crate::components::message::{Role, Shown};
use crate::components::privacy_badge::Privacy;
use crate::keys::Key;
use crate::storage;

/// The key of an encrypted stream, once unlocked.
#[derive(Clone, Copy)]
pub(super) struct Keys {
    pub(super) key: StoredValue<Option<Key>, LocalStorage>,
    /// The passphrase it came from, for the share panel.
    pub(super) passphrase: RwSignal<Option<String>>,
}

impl Keys {
    pub(super) fn new() -> Self {
        Self {
            key: StoredValue::new_local(None),
            passphrase: RwSignal::new(None),
        }
    }
}

impl Page {
    /// Derives the key and checks it before anything is shown or posted.
    pub(super) async fn unlock(self, passphrase: String, remember: bool, from_link: bool) {
        let Some(info) = self
            .info
            .get_untracked()
            .filter(|_| self.refusal().is_none())
        else {
            return;
        };
        let Some(params) = info.encryption.clone() else {
            return self.phase.set(Phase::Failed(
                "The stream has no encryption parameters.".into(),
            ));
        };
        self.phase.set(Phase::Unlocking);
        match Key::unlock(&passphrase, &params).await {
            Ok(key) => {
                storage::keep_passphrase(&self.name(), &passphrase, &Pin::of(&info), remember);
                self.keys.passphrase.set(Some(passphrase));
                self.keys.key.set_value(Some(key));
                if from_link {
                    // Keeps the pin (adding it to a link made before pins).
                    hide_secret_from_address_bar(&Link::pinned(&info, None));
                }
                self.open().await;
            }
            Err(err) => {
                storage::forget_passphrase(&self.name());
                self.phase.set(Phase::Locked {
                    error: Some(err.to_string()),
                });
            }
        }
    }

    /// A message as shown: plain text, or decrypted with the stream key.
    pub(super) async fn show(self, message: &Message) -> Shown {
        let (role, privacy) = match message.kind {
            MessageKind::Message => (Role::Message, Privacy::Plain),
            MessageKind::Command => (Role::Prompt, Privacy::Llm),
            MessageKind::Reply => (Role::Reply, Privacy::Llm),
        };
        let mut shown = Shown {
            id: message.id.clone(),
            created: message.created,
            text: String::new(),
            nick: None,
            privacy,
            role,
        };
        match &message.body {
            Body::Text(text) => shown.text = text.clone(),
            Body::Envelope(envelope) => {
                let key = self.keys.key.get_value();
                match key {
                    Some(key) => match key.open(message.stream.as_str(), envelope).await {
                        Ok(plaintext) => {
                            (shown.role, shown.privacy) = match plaintext.kind {
                                PlaintextKind::Message => (Role::Message, Privacy::EndToEnd),
                                PlaintextKind::LlmPrompt => (Role::Prompt, Privacy::Llm),
                                PlaintextKind::LlmReply => (Role::Reply, Privacy::Llm),
                            };
                            shown.text = plaintext.text;
                            shown.nick = plaintext.nick;
                        }
                        Err(_) => {
                            shown.role = Role::Unreadable;
                            shown.privacy = Privacy::EndToEnd;
                            shown.text =
                                "This message cannot be decrypted with this stream's key.".into();
                        }
                    },
                    None => {
                        shown.role = Role::Unreadable;
                        shown.text = "Encrypted message.".into();
                    }
                }
            }
        }
        shown
    }

    /// What to post for `text`: sealed in an encrypted stream, as it is
    /// otherwise.
    pub(super) async fn seal(
        self,
        text: &str,
        nick: &str,
        kind: PlaintextKind,
    ) -> Result<String, String> {
        if !self.encrypted() {
            return Ok(text.to_owned());
        }
        let Some(key) = self.keys.key.get_value() else {
            return Err("Unlock the stream first.".into());
        };
        let mut plaintext = Plaintext::new(text, kind, js_sys::Date::now() as u64);
        if !nick.trim().is_empty() {
            plaintext = plaintext.with_nick(nick.trim());
        }
        key.seal(self.name().as_str(), &plaintext)
            .await
            .map_err(|err| err.to_string())
    }
}
