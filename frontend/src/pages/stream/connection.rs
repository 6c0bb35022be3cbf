//! The live connection: opening it after the history, handling its events
//! one at a time and in order, and what it says about the stream's
//! presence (how many are watching) and its own health (reconnecting).

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::wire::{Cursor, MessageKind};

use super::state::{Page, Phase};
use crate::components::message::Shown;
use crate::events::{Live, LiveStream};

/// The live subscription and what it reports.
#[derive(Clone, Copy)]
pub(super) struct Connection {
    /// Open while the page is; dropping it closes the connection.
    pub(super) live: StoredValue<Option<LiveStream>, LocalStorage>,
    /// Set while the browser reconnects after a network error.
    pub(super) reconnecting: RwSignal<bool>,
    /// How many are watching the stream, this tab included.
    pub(super) observers: RwSignal<usize>,
}

impl Connection {
    pub(super) fn new() -> Self {
        Self {
            live: StoredValue::new_local(None),
            reconnecting: RwSignal::new(false),
            observers: RwSignal::new(0),
        }
    }
}

impl Page {
    /// Subscribes after `after`; events are handled in the order they came.
    pub(super) fn connect(self, after: Cursor) {
        // Fed by the browser's `EventSource` callbacks, which cannot wait;
        // the queue only grows while an event is being decrypted.
        let (sender, mut receiver) = mpsc::unbounded::<Live>();
        let deliver = move |live: Live| {
            let _ = sender.unbounded_send(live);
        };
        match LiveStream::open(&self.name(), after, deliver) {
            Ok(live) => self.connection.live.set_value(Some(live)),
            Err(err) => return self.phase.set(Phase::Failed(err)),
        }
        spawn_local(async move {
            while let Some(event) = receiver.next().await {
                self.handle(event).await;
            }
        });
    }

    async fn handle(self, event: Live) {
        let history = self.history;
        match event {
            Live::Message(message) => {
                if history.has_seen(&message.id) {
                    return;
                }
                if message.kind == MessageKind::Reply {
                    self.llm.preview.set(None);
                }
                let shown = self.show(&message).await;
                history.append(shown);
            }
            Live::Presence(presence) => self.connection.observers.set(presence.observers),
            Live::Gap(gap) => history.append(Shown::notice(
                format!("gap-{}", gap.after),
                gap.available_from.unwrap_or(gap.after),
                "Some messages expired or were dropped before this page could receive them.",
            )),
            Live::System(notice) => history.append(Shown::notice(
                format!("system-{}", js_sys::Date::now()),
                Cursor::START,
                notice.text,
            )),
            Live::Partial(partial) => self.llm.preview_piece(&partial.delta, partial.done),
            Live::Reconnecting => self.connection.reconnecting.set(true),
            Live::Open => self.connection.reconnecting.set(false),
        }
    }
}
