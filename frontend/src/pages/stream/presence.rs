//! Presence as it changes: the count of who is watching, and a short note
//! when it goes up or down while the page watches.
//!
//! The server knows how many live connections a stream has and nothing
//! else about them (a nickname in an encrypted stream travels inside the
//! envelope and never reaches it), so that is all the page says: "someone
//! joined", "2 left". It invents nothing: no names, no guesses. The first
//! count of each connection only sets the number, since the page cannot
//! tell what changed while it was not connected (and its own arrival is not
//! news to the reader).

use std::time::Duration;

use leptos::prelude::*;

use super::state::Page;

/// How long a note stays before it clears itself.
const NOTE_FOR: Duration = Duration::from_secs(6);

/// The note about the last change of the count (the count itself is
/// `Connection::observers`).
#[derive(Clone, Copy)]
pub(super) struct Presence {
    /// "Someone joined" and the like, for a few seconds after a change.
    pub(super) note: RwSignal<Option<String>>,
    /// Whether the current connection has reported a count yet.
    counted: StoredValue<bool>,
    /// Which note is shown, so an old timer does not clear a newer one.
    serial: StoredValue<u64>,
}

impl Presence {
    pub(super) fn new() -> Self {
        Self {
            note: RwSignal::new(None),
            counted: StoredValue::new(false),
            serial: StoredValue::new(0),
        }
    }

    /// A new connection: its first count is not a change.
    pub(super) fn connected(&self) {
        self.counted.set_value(false);
    }
}

impl Page {
    /// A count reported by the live connection.
    pub(super) fn presence_changed(self, observers: usize) {
        let count = self.connection.observers;
        let presence = self.connection.presence;
        let before = count.get_untracked();
        count.set(observers);
        presence.note_change(before, observers);
    }
}

impl Presence {
    fn note_change(self, before: usize, observers: usize) {
        if !self.counted.get_value() {
            self.counted.set_value(true);
            return;
        }
        let Some(note) = change_note(before, observers) else {
            return;
        };
        let serial = self.serial.get_value().wrapping_add(1);
        self.serial.set_value(serial);
        self.note.set(Some(note));
        set_timeout(
            move || {
                if self.serial.try_get_value() == Some(serial) {
                    self.note.set(None);
                }
            },
            NOTE_FOR,
        );
    }
}

/// What to say when the count goes from `before` to `after`.
pub(super) fn change_note(before: usize, after: usize) -> Option<String> {
    match after.abs_diff(before) {
        0 => None,
        1 if after > before => Some("Someone joined".into()),
        1 => Some("Someone left".into()),
        n if after > before => Some(format!("{n} joined")),
        n => Some(format!("{n} left")),
    }
}

/// The count, and the note as a polite status for screen readers.
#[component]
pub(super) fn PresenceView(page: Page) -> impl IntoView {
    let observers = page.connection.observers;
    let presence = page.connection.presence;
    view! {
        <span class="observers" data-testid="observers">
            {move || format!("{} watching", observers.get())}
        </span>
        <span class="presence-note" role="status" data-testid="presence-note">
            {move || presence.note.get()}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_said_without_saying_who() {
        assert_eq!(change_note(2, 2), None);
        assert_eq!(change_note(1, 2).as_deref(), Some("Someone joined"));
        assert_eq!(change_note(2, 1).as_deref(), Some("Someone left"));
        assert_eq!(change_note(1, 4).as_deref(), Some("3 joined"));
        assert_eq!(change_note(4, 2).as_deref(), Some("2 left"));
    }
}
