//! The messages shown: what has been seen (so a live copy of a message
//! already shown is skipped), appending, and loading older pages.

use std::collections::HashSet;

use leptos::html::Ol;
use leptos::prelude::*;
use malten_shared::wire::Message;

use super::dom::{is_near_bottom, keep_scroll_position, scroll_to_bottom};
use super::jump::Below;
use super::state::{Page, Phase};
use crate::api;
use crate::components::message::{Role, Shown};

/// Messages per history request.
pub(super) const PAGE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Older {
    Idle,
    Loading,
    Exhausted,
}

/// The list of messages and how much of the stream it covers.
#[derive(Clone, Copy)]
pub(super) struct History {
    pub(super) messages: RwSignal<Vec<Shown>>,
    /// Ids already shown, from history, the live connection or a post.
    pub(super) seen: StoredValue<HashSet<String>>,
    pub(super) older: RwSignal<Older>,
    pub(super) list: NodeRef<Ol>,
    /// New messages below the view while it is scrolled up (see `jump.rs`).
    pub(super) below: Below,
}

impl History {
    pub(super) fn new() -> Self {
        Self {
            messages: RwSignal::new(Vec::new()),
            seen: StoredValue::new(HashSet::new()),
            older: RwSignal::new(Older::Idle),
            list: NodeRef::new(),
            below: Below::new(),
        }
    }

    pub(super) fn has_seen(&self, id: &str) -> bool {
        self.seen.with_value(|seen| seen.contains(id))
    }

    /// Adds a message at the end, following it if the view was at the
    /// bottom; otherwise it is counted as new below the view.
    pub(super) fn append(self, shown: Shown) {
        let stick = is_near_bottom(self.list);
        let counts = shown.role != Role::Notice;
        self.seen.update_value(|seen| {
            seen.insert(shown.id.clone());
        });
        self.messages.update(|messages| messages.push(shown));
        if stick {
            scroll_to_bottom(self.list);
        } else if counts {
            self.below.count.update(|count| *count += 1);
        }
    }

    /// Adds what this page just sent, and shows it.
    pub(super) fn append_own(self, shown: Shown) {
        self.seen.update_value(|seen| {
            seen.insert(shown.id.clone());
        });
        self.messages.update(|messages| messages.push(shown));
        self.jump_to_newest();
    }
}

impl Page {
    /// Loads the page before the oldest message shown, keeping the view in place.
    pub(super) async fn load_older(self) {
        let history = self.history;
        if history.older.get_untracked() != Older::Idle
            || self.phase.get_untracked() != Phase::Ready
        {
            return;
        }
        history.older.set(Older::Loading);
        let oldest = history
            .messages
            .with_untracked(|m| m.iter().find(|m| m.role != Role::Notice).map(|m| m.created));
        match api::older_messages(&self.name(), oldest, PAGE).await {
            Ok(page) => {
                let exhausted = page.len() < PAGE;
                let span = time_batch(page.len());
                let shown = self.show_all(page.into_iter().rev().collect()).await;
                let before = history
                    .list
                    .get_untracked()
                    .map(|list| list.scroll_height());
                history
                    .seen
                    .update_value(|seen| seen.extend(shown.iter().map(|m| m.id.clone())));
                history.messages.update(|messages| {
                    messages.splice(0..0, shown);
                });
                keep_scroll_position(history.list, before);
                span.end_after_render();
                history.older.set(if exhausted {
                    Older::Exhausted
                } else {
                    Older::Idle
                });
            }
            Err(err) => {
                history.older.set(Older::Idle);
                self.composer.error.set(Some(err.to_string()));
            }
        }
    }

    /// Decrypts (where needed) a batch of messages, concurrently, in order.
    pub(super) async fn show_all(self, messages: Vec<Message>) -> Vec<Shown> {
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
}

/// Starts timing a batch that is about to be decrypted and rendered.
fn time_batch(len: usize) -> crate::perf::Span {
    crate::perf::Span::start(format!("malten:show:{len}"))
}
