//! The page as a whole: which stream, what the server says about it, which
//! phase the page is in, and the order things start in. Each concern's
//! signals and behaviour live in their own module (see `mod.rs`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::link::Link;
use malten_shared::wire::{Cursor, StreamInfo};
use malten_shared::StreamName;

use super::composer::Compose;
use super::connection::Connection;
use super::dom::scroll_to_bottom;
use super::history::{History, Older, PAGE};
use super::keys::Keys;
use super::llm::Llm;
use super::pipe::Pipe;
use super::unread::Unread;
use crate::api;
use crate::storage;
use crate::trust::{Expected, Verdict};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    Loading,
    /// The stream is not the one the link is for: nothing is decrypted,
    /// shown or sent (the sentence says why).
    Refused(String),
    Locked {
        error: Option<String>,
    },
    Unlocking,
    Ready,
    Failed(String),
}

/// The page's state: signals are `Copy`, so handlers capture it freely.
#[derive(Clone, Copy)]
pub(super) struct Page {
    pub(super) name: StoredValue<StreamName>,
    /// What the stream must be (from the link's pin, its secret, or the
    /// pin remembered with the passphrase); fixed when the page starts.
    pub(super) expected: StoredValue<Expected>,
    pub(super) info: RwSignal<Option<StreamInfo>>,
    pub(super) phase: RwSignal<Phase>,
    pub(super) keys: Keys,
    pub(super) history: History,
    pub(super) connection: Connection,
    pub(super) composer: Compose,
    pub(super) llm: Llm,
    pub(super) pipe: Pipe,
    pub(super) unread: Unread,
}

impl Page {
    pub(super) fn new(link: &Link) -> Self {
        let remembered = storage::pin(&link.stream);
        Self {
            name: StoredValue::new(link.stream.clone()),
            expected: StoredValue::new(Expected::of(link, remembered)),
            info: RwSignal::new(None),
            phase: RwSignal::new(Phase::Loading),
            keys: Keys::new(),
            history: History::new(),
            connection: Connection::new(),
            composer: Compose::new(),
            llm: Llm::new(),
            pipe: Pipe::new(),
            unread: Unread::new(),
        }
    }

    /// Whether the page is still shown (its state is dropped when it is
    /// left), for work that resumes after a pause.
    pub(super) fn is_open(&self) -> bool {
        self.name.try_with_value(|_| ()).is_some()
    }

    pub(super) fn name(&self) -> StreamName {
        self.name.get_value()
    }

    pub(super) fn encrypted(&self) -> bool {
        self.info
            .with_untracked(|info| info.as_ref().is_some_and(|info| info.encrypted))
    }

    /// Why nothing may be sent to or trusted from this stream, if so: it is
    /// not the one the page's link is for. Checked when the page starts and
    /// again on every post.
    pub(super) fn refusal(&self) -> Option<String> {
        let verdict = self
            .info
            .with_untracked(|info| self.expected.with_value(|e| e.verdict(info.as_ref())));
        match verdict {
            Verdict::Trusted => None,
            Verdict::Refused(reason) => Some(reason),
        }
    }

    /// The stream could not be opened; if the server did not answer, it is
    /// opened again once it does ([`crate::offline`]).
    fn failed(self, err: api::ApiFailure) {
        if err.unanswered {
            crate::offline::reopen_when_back();
        }
        self.phase.set(Phase::Failed(err.to_string()));
    }

    /// Loads the stream's description, checks it against the link, and
    /// unlocks it if it can.
    pub(super) async fn start(self, secret: Option<String>) {
        let name = self.name();
        spawn_local(self.llm.load());
        let info = match api::stream_info(&name).await {
            Ok(info) => info,
            Err(err) => return self.failed(err),
        };
        let encrypted = info.as_ref().is_some_and(|info| info.encrypted);
        if let Some(info) = &info {
            self.connection.observers.set(info.observers);
        }
        self.info.set(info);
        if let Some(reason) = self.refusal() {
            return self.phase.set(Phase::Refused(reason));
        }
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

    /// History first, then live events after the newest message loaded
    /// (a pipe has no history: it is joined as one of its two ends).
    pub(super) async fn open(self) {
        if self.is_pipe() {
            return self.open_pipe();
        }
        let name = self.name();
        let page = match api::older_messages(&name, None, PAGE).await {
            Ok(page) => page,
            Err(err) => return self.failed(err),
        };
        if page.len() < PAGE {
            self.history.older.set(Older::Exhausted);
        }
        let newest = page
            .first()
            .map_or(Cursor::START, |message| message.created);
        let shown = self.show_all(page.into_iter().rev().collect()).await;
        self.history
            .seen
            .update_value(|seen| seen.extend(shown.iter().map(|m| m.id.clone())));
        self.history.messages.set(shown);
        self.phase.set(Phase::Ready);
        scroll_to_bottom(self.history.list);
        self.connect(Some(newest));
    }
}
