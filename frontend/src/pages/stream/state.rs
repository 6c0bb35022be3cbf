//! The state and behaviour of the stream page: unlocking, history, the live
//! connection, sending and LLM commands. The view is in `mod.rs`.

use std::collections::HashSet;

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::html::Ol;
use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::crypto::{Plaintext, PlaintextKind};
use malten_shared::wire::{Body, CommandsInfo, Cursor, Message, MessageKind, StreamInfo};
use malten_shared::StreamName;

use super::dom::{
    confirm, hide_secret_from_address_bar, is_near_bottom, keep_scroll_position, scroll_to_bottom,
};
use crate::api;
use crate::command::llm_prompt;
use crate::components::message::{Role, Shown};
use crate::components::privacy_badge::Privacy;
use crate::events::{Live, LiveStream};
use crate::keys::Key;
use crate::storage;

/// Messages per history request.
const PAGE: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    Loading,
    Locked { error: Option<String> },
    Unlocking,
    Ready,
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Older {
    Idle,
    Loading,
    Exhausted,
}

/// The page's state: signals are `Copy`, so handlers capture it freely.
#[derive(Clone, Copy)]
pub(super) struct Page {
    pub(super) name: StoredValue<StreamName>,
    pub(super) info: RwSignal<Option<StreamInfo>>,
    pub(super) phase: RwSignal<Phase>,
    pub(super) key: StoredValue<Option<Key>, LocalStorage>,
    pub(super) passphrase: RwSignal<Option<String>>,
    pub(super) messages: RwSignal<Vec<Shown>>,
    pub(super) seen: StoredValue<HashSet<String>>,
    pub(super) observers: RwSignal<usize>,
    pub(super) reconnecting: RwSignal<bool>,
    pub(super) live: StoredValue<Option<LiveStream>, LocalStorage>,
    pub(super) older: RwSignal<Older>,
    pub(super) draft: RwSignal<String>,
    pub(super) sending: RwSignal<bool>,
    pub(super) send_error: RwSignal<Option<String>>,
    pub(super) list: NodeRef<Ol>,
    /// Whether the server has an LLM (`None` until known).
    pub(super) llm: RwSignal<Option<CommandsInfo>>,
    /// The LLM reply being generated, shown until the reply arrives.
    pub(super) preview: RwSignal<Option<String>>,
}

const LEAVES_ENCRYPTION: &str =
    "This prompt will leave the end-to-end encryption: the server and the \
LLM provider will read it in plaintext. The prompt and the reply are then posted into this stream \
encrypted. Send it?";

impl Page {
    pub(super) fn new(name: StreamName) -> Self {
        Self {
            name: StoredValue::new(name),
            info: RwSignal::new(None),
            phase: RwSignal::new(Phase::Loading),
            key: StoredValue::new_local(None),
            passphrase: RwSignal::new(None),
            messages: RwSignal::new(Vec::new()),
            seen: StoredValue::new(HashSet::new()),
            observers: RwSignal::new(0),
            reconnecting: RwSignal::new(false),
            live: StoredValue::new_local(None),
            older: RwSignal::new(Older::Idle),
            draft: RwSignal::new(String::new()),
            sending: RwSignal::new(false),
            send_error: RwSignal::new(None),
            list: NodeRef::new(),
            llm: RwSignal::new(None),
            preview: RwSignal::new(None),
        }
    }

    fn name(&self) -> StreamName {
        self.name.get_value()
    }

    pub(super) fn encrypted(&self) -> bool {
        self.info
            .with_untracked(|info| info.as_ref().is_some_and(|info| info.encrypted))
    }

    /// Loads the stream's description and unlocks it if it can.
    pub(super) async fn start(self, secret: Option<String>) {
        let name = self.name();
        spawn_local(async move {
            if let Ok(info) = api::commands_info().await {
                self.llm.set(Some(info));
            }
        });
        let info = match api::stream_info(&name).await {
            Ok(info) => info,
            Err(err) => return self.phase.set(Phase::Failed(err.to_string())),
        };
        let encrypted = info.as_ref().is_some_and(|info| info.encrypted);
        if let Some(info) = &info {
            self.observers.set(info.observers);
        }
        self.info.set(info);
        if !encrypted {
            return self.open().await;
        }
        let from_link = secret.is_some();
        match secret.or_else(|| storage::passphrase(&name)) {
            Some(passphrase) => {
                self.unlock(passphrase, storage::is_remembered(&name), from_link)
                    .await
            }
            None => self.phase.set(Phase::Locked { error: None }),
        }
    }

    /// Derives the key and checks it before anything is shown or posted.
    pub(super) async fn unlock(self, passphrase: String, remember: bool, from_link: bool) {
        let Some(params) = self
            .info
            .with_untracked(|info| info.as_ref().and_then(|i| i.encryption.clone()))
        else {
            return self.phase.set(Phase::Failed(
                "The stream has no encryption parameters.".into(),
            ));
        };
        self.phase.set(Phase::Unlocking);
        match Key::unlock(&passphrase, &params).await {
            Ok(key) => {
                storage::keep_passphrase(&self.name(), &passphrase, remember);
                self.passphrase.set(Some(passphrase));
                self.key.set_value(Some(key));
                if from_link {
                    hide_secret_from_address_bar(&self.name());
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

    /// History first, then live events after the newest message loaded.
    async fn open(self) {
        let name = self.name();
        let page = match api::older_messages(&name, None, PAGE).await {
            Ok(page) => page,
            Err(err) => return self.phase.set(Phase::Failed(err.to_string())),
        };
        if page.len() < PAGE {
            self.older.set(Older::Exhausted);
        }
        let newest = page
            .first()
            .map_or(Cursor::START, |message| message.created);
        let shown = self.show_all(page.into_iter().rev().collect()).await;
        self.seen
            .update_value(|seen| seen.extend(shown.iter().map(|m| m.id.clone())));
        self.messages.set(shown);
        self.phase.set(Phase::Ready);
        scroll_to_bottom(self.list);
        self.connect(newest);
    }

    fn connect(self, after: Cursor) {
        let (sender, mut receiver) = mpsc::unbounded::<Live>();
        let deliver = move |live: Live| {
            let _ = sender.unbounded_send(live);
        };
        match LiveStream::open(&self.name(), after, deliver) {
            Ok(live) => self.live.set_value(Some(live)),
            Err(err) => return self.phase.set(Phase::Failed(err)),
        }
        spawn_local(async move {
            while let Some(event) = receiver.next().await {
                self.handle(event).await;
            }
        });
    }

    async fn handle(self, event: Live) {
        match event {
            Live::Message(message) => {
                if self.seen.with_value(|seen| seen.contains(&message.id)) {
                    return;
                }
                if message.kind == MessageKind::Reply {
                    self.preview.set(None);
                }
                let shown = self.show(&message).await;
                self.append(shown);
            }
            Live::Presence(presence) => self.observers.set(presence.observers),
            Live::Gap(gap) => self.append(Shown::notice(
                format!("gap-{}", gap.after),
                gap.available_from.unwrap_or(gap.after),
                "Some messages expired or were dropped before this page could receive them.",
            )),
            Live::System(notice) => self.append(Shown::notice(
                format!("system-{}", js_sys::Date::now()),
                Cursor::START,
                notice.text,
            )),
            Live::Partial(partial) => {
                if partial.done {
                    self.preview.set(None);
                } else {
                    self.preview.update(|preview| {
                        preview
                            .get_or_insert_with(String::new)
                            .push_str(&partial.delta)
                    });
                }
            }
            Live::Reconnecting => self.reconnecting.set(true),
            Live::Open => self.reconnecting.set(false),
        }
    }

    fn append(self, shown: Shown) {
        let stick = is_near_bottom(self.list);
        self.seen.update_value(|seen| {
            seen.insert(shown.id.clone());
        });
        self.messages.update(|messages| messages.push(shown));
        if stick {
            scroll_to_bottom(self.list);
        }
    }

    /// Loads the page before the oldest message shown, keeping the view in place.
    pub(super) async fn load_older(self) {
        if self.older.get_untracked() != Older::Idle || self.phase.get_untracked() != Phase::Ready {
            return;
        }
        self.older.set(Older::Loading);
        let oldest = self
            .messages
            .with_untracked(|m| m.iter().find(|m| m.role != Role::Notice).map(|m| m.created));
        match api::older_messages(&self.name(), oldest, PAGE).await {
            Ok(page) => {
                let exhausted = page.len() < PAGE;
                let span = self.time_batch(page.len());
                let shown = self.show_all(page.into_iter().rev().collect()).await;
                let before = self.list.get_untracked().map(|list| list.scroll_height());
                self.seen
                    .update_value(|seen| seen.extend(shown.iter().map(|m| m.id.clone())));
                self.messages.update(|messages| {
                    messages.splice(0..0, shown);
                });
                keep_scroll_position(self.list, before);
                span.end_after_render();
                self.older.set(if exhausted {
                    Older::Exhausted
                } else {
                    Older::Idle
                });
            }
            Err(err) => {
                self.older.set(Older::Idle);
                self.send_error.set(Some(err.to_string()));
            }
        }
    }

    /// Decrypts (where needed) a batch of messages, concurrently, in order.
    async fn show_all(self, messages: Vec<Message>) -> Vec<Shown> {
        let span = crate::perf::Span::start(format!(
            "malten:decrypt:{}:{}",
            messages.len(),
            js_sys::Date::now()
        ));
        let out =
            futures::future::join_all(messages.iter().map(|message| self.show(message))).await;
        span.end();
        out
    }

    /// Starts timing a batch that is about to be decrypted and rendered.
    fn time_batch(self, len: usize) -> crate::perf::Span {
        crate::perf::Span::start(format!("malten:show:{len}"))
    }

    /// A message as shown: plain text, or decrypted with the stream key.
    async fn show(self, message: &Message) -> Shown {
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
                let key = self.key.get_value();
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

    /// Sends the draft: sealed in an encrypted stream, as text otherwise;
    /// `/ai …` goes to the LLM.
    pub(super) async fn send(self, text: String, nick: String) {
        self.send_error.set(None);
        if let Some(prompt) = llm_prompt(&text) {
            let prompt = prompt.to_owned();
            return self.ask(prompt, nick).await;
        }
        self.sending.set(true);
        let outcome = self.post(&text, &nick, PlaintextKind::Message).await;
        self.sending.set(false);
        match outcome {
            Ok(()) => self.draft.set(String::new()),
            Err(err) => self.send_error.set(Some(err)),
        }
    }

    /// An LLM command. In a plain stream the server stores and broadcasts
    /// the prompt and reply. In an encrypted one the user first agrees that
    /// the prompt leaves the encryption; the reply comes back to this tab
    /// only, and both are then posted encrypted.
    async fn ask(self, prompt: String, nick: String) {
        match self.llm.get_untracked() {
            Some(info) if info.enabled => {}
            Some(info) => {
                let reason = info.disabled_reason.unwrap_or_default();
                return self.send_error.set(Some(format!(
                    "LLM commands are unavailable on this server. {reason}"
                )));
            }
            None => {
                return self
                    .send_error
                    .set(Some("LLM commands are unavailable right now.".into()))
            }
        }
        let encrypted = self.encrypted();
        if encrypted && !confirm(LEAVES_ENCRYPTION) {
            return;
        }
        self.sending.set(true);
        self.preview.set(Some(String::new()));
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
        self.sending.set(false);
        if encrypted {
            self.preview.set(None);
        }
        match outcome {
            Ok(()) => self.draft.set(String::new()),
            Err(err) => {
                self.preview.set(None);
                self.send_error.set(Some(err));
            }
        }
    }

    async fn post(self, text: &str, nick: &str, kind: PlaintextKind) -> Result<(), String> {
        let name = self.name();
        let body = if self.encrypted() {
            let Some(key) = self.key.get_value() else {
                return Err("Unlock the stream first.".into());
            };
            let mut plaintext = Plaintext::new(text, kind, js_sys::Date::now() as u64);
            if !nick.trim().is_empty() {
                plaintext = plaintext.with_nick(nick.trim());
            }
            key.seal(name.as_str(), &plaintext)
                .await
                .map_err(|err| err.to_string())?
        } else {
            text.to_owned()
        };
        let stored = api::post_message(&name, &body)
            .await
            .map_err(|err| err.to_string())?;
        // Show it now; the live copy is recognised by its id and skipped.
        if !self.seen.with_value(|seen| seen.contains(&stored.id)) {
            let shown = self.show(&stored).await;
            self.append(shown);
        }
        Ok(())
    }
}
