//! Reading a stream without subscribing: pages, one message by id, the
//! recent run the LLM gets as context, and the public listing.
//!
//! Every read first drops the stream's expired messages, so what a client
//! sees never depends on when the sweeper last ran.

use std::sync::Arc;

use bytes::Bytes;
use malten_shared::wire::{Cursor, Message, StreamInfo};
use malten_shared::StreamName;

use super::{unix_nanos, Store, StoreError, Stream};
use crate::engine::Page;

impl Store {
    /// A cursor a client sent back: refused if it is newer than anything
    /// the stream (or, for a stream that does not exist, the clock) can have
    /// issued. Cursors only grow, so checking before locking is exact.
    pub(super) fn check_cursor(&self, name: &StreamName, cursor: Cursor) -> Result<(), StoreError> {
        let mut newest = unix_nanos();
        if let Some(stream) = self.get(name) {
            newest = newest.max(stream.lock().newest);
        }
        if cursor > newest {
            return Err(StoreError::InvalidCursor(cursor));
        }
        Ok(())
    }

    /// A page of messages as a JSON array. An unknown stream is an empty page.
    pub fn page(&self, name: &StreamName, page: Page, limit: usize) -> Result<Bytes, StoreError> {
        let cursor = match page {
            Page::Forward { after } => Some(after),
            Page::Backward { before } => before,
        };
        if let Some(cursor) = cursor {
            self.check_cursor(name, cursor)?;
        }
        let Some(stream) = self.get(name) else {
            return Ok(Bytes::from_static(b"[]"));
        };
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let items = match page {
            Page::Forward { after } => state.ring.after(after, limit).items,
            Page::Backward { before } => state.ring.before(before, limit),
        };
        Ok(json_array(items.into_iter().map(|stored| stored.json())))
    }

    /// One message by id, as a one-element JSON array.
    pub fn by_id(&self, name: &StreamName, id: &str) -> Result<Bytes, StoreError> {
        let stream = self.get(name).ok_or(StoreError::MessageNotFound)?;
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let found = state.ring.iter().find(|stored| stored.message.id == id);
        found
            .map(|stored| json_array([stored.json()]))
            .ok_or(StoreError::MessageNotFound)
    }

    /// The newest messages of a stream, oldest first, as many as fit in
    /// `max_chars` characters of text (a message that does not fit ends the
    /// selection, so the result is always a contiguous recent run).
    pub fn recent(&self, name: &StreamName, max_chars: usize) -> Vec<Message> {
        let Some(stream) = self.get(name) else {
            return Vec::new();
        };
        let mut state = stream.lock();
        self.expire_old(&stream, &mut state);
        let mut budget = max_chars;
        let mut newest_first = Vec::new();
        for stored in state.ring.iter().rev() {
            // Envelopes are not text the server could give anyone.
            let Some(text) = stored.message.body.text() else {
                break;
            };
            let chars = text.chars().count();
            if chars > budget {
                break;
            }
            budget -= chars;
            newest_first.push(stored.message.clone());
        }
        drop(state);
        newest_first.reverse();
        newest_first
    }

    /// The public streams, most recently active first.
    pub fn list_public(&self) -> Vec<StreamInfo> {
        let streams: Vec<Arc<Stream>> = self
            .read_map()
            .values()
            .filter(|stream| !stream.private)
            .cloned()
            .collect();
        let mut infos: Vec<StreamInfo> = streams.iter().map(|stream| stream.info()).collect();
        infos.sort_by(|a, b| {
            b.updated
                .cmp(&a.updated)
                .then_with(|| a.stream.cmp(&b.stream))
        });
        infos
    }
}

fn json_array(items: impl IntoIterator<Item = Bytes>) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item);
    }
    out.push(b']');
    Bytes::from(out)
}
