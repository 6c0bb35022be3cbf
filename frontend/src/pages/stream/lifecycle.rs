//! Leaving the page and coming back through the back/forward cache.
//!
//! Chromium keeps a page it may come back to frozen in memory, and with it
//! the page's `EventSource`: the server then counts a reader that left for
//! 12 s or more, so the others see someone watching who is gone. The live
//! connection is closed on `pagehide` and reopened on `pageshow`, resuming
//! from the last event it had, through the same path as any reconnection:
//! messages posted meanwhile are replayed, a gap (messages that expired or
//! were dropped meanwhile) is said, and a cursor the server refuses (it
//! restarted) takes the usual reconnection path. A pipe is left as it is:
//! closing one end would tell the other that it left.

use leptos::prelude::*;

use super::state::Page;
use crate::events::LiveStream;

/// The page's `pagehide` and `pageshow` listeners; removed when the page is
/// left for another in the app.
pub(super) struct Lifecycle {
    hide: WindowListenerHandle,
    show: WindowListenerHandle,
}

impl Lifecycle {
    pub(super) fn remove(self) {
        self.hide.remove();
        self.show.remove();
    }
}

impl Page {
    /// Closes the live connection while the page is hidden away, reopens
    /// it when the page is shown again.
    pub(super) fn follow_lifecycle(self) -> Lifecycle {
        let hide = window_event_listener_untyped("pagehide", move |_| self.hidden_away());
        let show = window_event_listener_untyped("pageshow", move |_| self.shown_again());
        Lifecycle { hide, show }
    }

    fn hidden_away(self) {
        let connection = self.connection;
        if !self.is_open() || self.is_pipe() || connection.away.with_value(Option::is_some) {
            return;
        }
        // Nothing open (not unlocked yet, say): nothing to close or reopen.
        let Some(resume) = connection
            .live
            .with_value(|live| live.as_ref().map(LiveStream::resume_cursor))
        else {
            return;
        };
        // Dropping it closes the connection.
        connection.live.set_value(None);
        connection.away.set_value(Some(resume));
    }

    fn shown_again(self) {
        if !self.is_open() {
            return;
        }
        let Some(resume) = self.connection.away.get_value() else {
            return;
        };
        self.connection.away.set_value(None);
        self.connect(resume);
    }
}
