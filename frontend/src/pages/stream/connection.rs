//! The live connection: opening it after the history, handling its events
//! one at a time and in order, and what it says about the stream's
//! presence (how many are watching) and its own health (reconnecting).
//!
//! When the server refuses the connection (the browser then gives up for
//! good), the page opens a new one: from the same cursor if the server still
//! accepts it (after a pause that grows with each refusal), or, if the
//! server answers `invalid_cursor` (it cannot have issued that cursor, as
//! after a restart), from the next new message, saying that messages sent
//! meanwhile may be missing. It is never left silently dead.

use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::wire::{Cursor, MessageKind};

use super::presence::Presence;
use super::state::{Page, Phase};
use crate::api;
use crate::components::message::Shown;
use crate::events::{Live, LiveStream};

/// Shown when the live connection has to start again from new messages.
pub(super) const RESTARTED: &str = "The server could not resume the live connection where this \
page left off (it may have restarted). New messages show again from now on; messages sent \
meanwhile may be missing: reload the page to see them.";

/// The pause before the `n`-th reconnection in a row after a refusal.
pub(super) fn backoff(refusals: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << refusals.min(6)).min(30_000))
}

/// The live subscription and what it reports.
#[derive(Clone, Copy)]
pub(super) struct Connection {
    /// Open while the page is; dropping it closes the connection.
    pub(super) live: StoredValue<Option<LiveStream>, LocalStorage>,
    /// Set while the browser reconnects after a network error.
    pub(super) reconnecting: RwSignal<bool>,
    /// How many are watching the stream, this tab included.
    pub(super) observers: RwSignal<usize>,
    /// What the last change of `observers` was.
    pub(super) presence: Presence,
    /// Refusals in a row since the connection was last open.
    pub(super) refusals: StoredValue<u32>,
    /// Set while the page is hidden in the back/forward cache, with where
    /// to resume when it is shown again (see `lifecycle.rs`).
    pub(super) away: StoredValue<Option<Option<Cursor>>>,
}

impl Connection {
    pub(super) fn new() -> Self {
        Self {
            live: StoredValue::new_local(None),
            reconnecting: RwSignal::new(false),
            observers: RwSignal::new(0),
            presence: Presence::new(),
            refusals: StoredValue::new(0),
            away: StoredValue::new(None),
        }
    }
}

impl Page {
    /// Subscribes after `after` (from the next new message when `None`);
    /// events are handled in the order they came. While the page is in the
    /// back/forward cache it only notes where to resume.
    pub(super) fn connect(self, after: Option<Cursor>) {
        if self.connection.away.with_value(Option::is_some) {
            return self.connection.away.set_value(Some(after));
        }
        self.connection.presence.connected();
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
        if self.is_pipe() {
            return self.pipe_event(event).await;
        }
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
                self.arrived_unseen();
            }
            Live::Presence(presence) => self.presence_changed(presence.observers),
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
            Live::Refused => self.reconnect().await,
            Live::Open => {
                self.connection.refusals.set_value(0);
                self.connection.reconnecting.set(false);
            }
        }
    }

    /// After a refusal: a new connection, from the same cursor if the
    /// server still accepts it, otherwise from now on, with a notice.
    pub(super) async fn reconnect(self) {
        let connection = self.connection;
        connection.reconnecting.set(true);
        let resume = connection
            .live
            .with_value(|live| live.as_ref().and_then(LiveStream::resume_cursor));
        connection.live.set_value(None);
        let refusals = connection.refusals.get_value();
        connection.refusals.set_value(refusals.saturating_add(1));
        let after = match resume {
            Some(cursor) => {
                let probe = api::probe_cursor(&self.name(), cursor).await;
                if !self.is_open() {
                    return;
                }
                match probe {
                    Err(failure) if failure.code.as_deref() == Some("invalid_cursor") => {
                        self.history.append(Shown::notice(
                            format!("restart-{}", js_sys::Date::now()),
                            Cursor::START,
                            RESTARTED,
                        ));
                        return self.connect(None);
                    }
                    _ => Some(cursor),
                }
            }
            None => None,
        };
        set_timeout(
            move || {
                // Not if the page was left during the pause.
                if self.is_open() {
                    self.connect(after);
                }
            },
            backoff(refusals),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_back_off_up_to_half_a_minute() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(6), Duration::from_secs(30));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(30));
    }
}
