//! The live connection to a stream: a browser `EventSource` on
//! `/events?stream=…&last=…`.
//!
//! `EventSource` reconnects by itself after a network error and sends the
//! last event id it saw as `Last-Event-ID`, so the server resumes exactly
//! where this tab left off: no loss, no duplicates. It does not reconnect
//! when the server answers with an error status (a `400 invalid_cursor` for
//! a cursor the server cannot have issued, say after it restarted): it
//! closes for good. That is reported as [`Live::Refused`], with the cursor
//! it would have resumed from ([`LiveStream::resume_cursor`]), so the page
//! can open a new connection. The connection closes when the returned
//! [`LiveStream`] is dropped.
//!
//! The browser parses the frames; the event names it listens for are
//! `malten_shared::wire::EventKind`'s, the same the server writes.

use std::cell::Cell;
use std::rc::Rc;

use malten_shared::link::percent_encode;
use malten_shared::wire::{Cursor, EventKind, Gap, Message, Partial, Presence, SystemNotice};
use malten_shared::StreamName;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, MessageEvent};

/// What arrives on the live connection.
#[derive(Debug, Clone)]
pub enum Live {
    Message(Message),
    Presence(Presence),
    Gap(Gap),
    System(SystemNotice),
    /// A piece of an LLM reply being generated (a preview; the reply itself
    /// arrives as a message).
    Partial(Partial),
    /// The connection dropped; the browser is reconnecting.
    Reconnecting,
    /// The server refused the connection and the browser gave up on it;
    /// only a new [`LiveStream`] continues.
    Refused,
    /// The connection is (again) open.
    Open,
}

/// The `/events` URL for `stream`, resuming after `after` when given
/// (without it the server starts with the next new message).
pub fn events_url(stream: &StreamName, after: Option<Cursor>) -> String {
    let mut url = format!("/events?stream={}", percent_encode(stream.as_str()));
    if let Some(after) = after {
        url.push_str(&format!("&last={after}"));
    }
    url
}

/// An open subscription; dropping it closes the connection.
pub struct LiveStream {
    source: EventSource,
    /// The cursor the browser would resume from: the last event id seen, or
    /// the one the connection was opened with.
    resume: Rc<Cell<Option<Cursor>>>,
    _handlers: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

impl LiveStream {
    /// Subscribes after `after` (everything newer is replayed first), or
    /// from the next new message when `None`.
    pub fn open(
        stream: &StreamName,
        after: Option<Cursor>,
        mut deliver: impl FnMut(Live) + Clone + 'static,
    ) -> Result<Self, String> {
        let source = EventSource::new(&events_url(stream, after))
            .map_err(|_| "This browser cannot open a live connection.".to_owned())?;
        let resume = Rc::new(Cell::new(after));
        let mut handlers = Vec::new();
        for kind in EventKind::ALL {
            let mut deliver = deliver.clone();
            let resume = Rc::clone(&resume);
            let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Ok(cursor) = event.last_event_id().parse::<Cursor>() {
                    resume.set(Some(cursor));
                }
                let Some(data) = event.data().as_string() else {
                    return;
                };
                let parsed = match kind {
                    EventKind::Message => serde_json::from_str(&data).map(Live::Message),
                    EventKind::Presence => serde_json::from_str(&data).map(Live::Presence),
                    EventKind::Gap => serde_json::from_str(&data).map(Live::Gap),
                    EventKind::Partial => serde_json::from_str(&data).map(Live::Partial),
                    EventKind::System => serde_json::from_str(&data).map(Live::System),
                };
                if let Ok(live) = parsed {
                    deliver(live);
                }
            });
            source
                .add_event_listener_with_callback(kind.as_str(), handler.as_ref().unchecked_ref())
                .map_err(|_| "Cannot listen for events.".to_owned())?;
            handlers.push(handler);
        }
        let mut on_error_deliver = deliver.clone();
        let watched = source.clone();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // CONNECTING: the browser retries by itself. CLOSED: it never will.
            if watched.ready_state() == EventSource::CLOSED {
                on_error_deliver(Live::Refused)
            } else {
                // The browser retries; meanwhile, the app may be offline.
                crate::offline::server_unreachable();
                on_error_deliver(Live::Reconnecting)
            }
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| deliver(Live::Open));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        Ok(Self {
            source,
            resume,
            _handlers: handlers,
            _on_error: on_error,
            _on_open: on_open,
        })
    }

    /// Where a new connection should resume: the last event id seen, or the
    /// cursor this one was opened with.
    pub fn resume_cursor(&self) -> Option<Cursor> {
        self.resume.get()
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.source.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_url_carries_a_cursor_only_when_resuming() {
        let stream = StreamName::parse("room").unwrap();
        assert_eq!(
            events_url(&stream, Some(Cursor(42))),
            "/events?stream=room&last=42"
        );
        assert_eq!(events_url(&stream, None), "/events?stream=room");
    }
}
