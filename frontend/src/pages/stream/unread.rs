//! The unread count in the tab title while the tab is hidden:
//! `(3) #room · Malten`, back to `#room · Malten` when the tab is shown.
//!
//! Only the count and the stream's name (already in the address) go into
//! the title, never a message's text or a nickname: the title is shown by
//! the operating system's task switcher and kept in the browser's history,
//! outside the page, and in an encrypted stream the text is only ever meant
//! for the page itself.

use leptos::prelude::*;
use malten_shared::StreamName;

use super::state::Page;

/// What the tab title says when the app shows no stream.
const APP_TITLE: &str = "Malten";

/// Messages that arrived while the tab was hidden.
#[derive(Clone, Copy)]
pub(super) struct Unread {
    count: RwSignal<usize>,
}

impl Unread {
    pub(super) fn new() -> Self {
        Self {
            count: RwSignal::new(0),
        }
    }
}

/// The tab title for `stream` with `unread` messages.
pub(super) fn title(stream: &StreamName, unread: usize) -> String {
    match unread {
        0 => format!("#{stream} · {APP_TITLE}"),
        n => format!("({n}) #{stream} · {APP_TITLE}"),
    }
}

fn set_title(text: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(text);
    }
}

fn tab_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|document| document.hidden())
}

impl Page {
    /// Keeps the title in step with the count, and clears the count when
    /// the tab is shown; undone when the page is left.
    pub(super) fn follow_unread(self) -> WindowListenerHandle {
        let count = self.unread.count;
        let name = self.name();
        Effect::new(move || set_title(&title(&name, count.get())));
        on_cleanup(|| set_title(APP_TITLE));
        // `visibilitychange` is fired at the document and bubbles to the window.
        window_event_listener_untyped("visibilitychange", move |_| {
            if !tab_hidden() {
                count.set(0);
            }
        })
    }

    /// A new message arrived on the live connection.
    pub(super) fn arrived_unseen(self) {
        if tab_hidden() {
            self.unread.count.update(|count| *count += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_has_the_count_only_while_there_is_one() {
        let room = StreamName::parse("room").unwrap();
        assert_eq!(title(&room, 0), "#room · Malten");
        assert_eq!(title(&room, 3), "(3) #room · Malten");
    }
}
