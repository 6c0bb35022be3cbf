//! The live connection to a stream: a browser `EventSource` on
//! `/events?stream=…&last=…`.
//!
//! `EventSource` reconnects by itself after a network error and sends the
//! last event id it saw as `Last-Event-ID`, so the server resumes exactly
//! where this tab left off: no loss, no duplicates. The connection closes
//! when the returned [`LiveStream`] is dropped.
//!
//! The browser parses the frames; the event names it listens for are
//! `malten_shared::wire::EventKind`'s, the same the server writes.

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
    /// The connection is (again) open.
    Open,
}

/// An open subscription; dropping it closes the connection.
pub struct LiveStream {
    source: EventSource,
    _handlers: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
}

impl LiveStream {
    /// Subscribes after `last` (everything newer is replayed first).
    pub fn open(
        stream: &StreamName,
        last: Cursor,
        mut deliver: impl FnMut(Live) + Clone + 'static,
    ) -> Result<Self, String> {
        let url = format!(
            "/events?stream={}&last={}",
            percent_encode(stream.as_str()),
            last.0
        );
        let source = EventSource::new(&url)
            .map_err(|_| "This browser cannot open a live connection.".to_owned())?;
        let mut handlers = Vec::new();
        for kind in EventKind::ALL {
            let mut deliver = deliver.clone();
            let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
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
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            on_error_deliver(Live::Reconnecting)
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| deliver(Live::Open));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        Ok(Self {
            source,
            _handlers: handlers,
            _on_error: on_error,
            _on_open: on_open,
        })
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.source.close();
    }
}
