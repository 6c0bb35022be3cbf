//! The vocabulary shared by every engine backend and both real-time
//! transports: what a subscription yields, and the shape of a paged read.
//!
//! A message is handed over as an `Arc<Stored>`: encoded once when stored,
//! so fan-out to N subscribers costs N reference-count increments. A backend
//! fed from the network (Redis pub/sub) builds one `Stored` per message it
//! receives and shares it among that node's subscribers the same way.
//!
//! `Stored` and `PartialEvent` are defined next to the in-memory stream
//! (`store/stream.rs`), which builds them today; they carry no reference to
//! the store itself.

use std::sync::Arc;

use malten_shared::wire::{Cursor, Gap, Presence, SystemNotice};

pub use crate::store::{PartialEvent, Stored};

/// What a subscriber receives next.
#[derive(Debug)]
pub enum Delivery {
    /// New messages in order; the cursor is now the last one's `created`.
    Messages(Vec<Arc<Stored>>),
    /// Messages were dropped before this subscriber read them.
    Gap(Gap),
    /// The number of subscribers changed (sent first, then on every change).
    Presence(Presence),
    /// A piece of an LLM reply being generated (ephemeral, may be skipped).
    Partial(Arc<PartialEvent>),
    /// The server is shutting down; nothing follows.
    Shutdown(SystemNotice),
}

/// What every subscriber is told when the server stops (the stream API's
/// subscriptions on either backend, and the LLM socket, which adds a word
/// about its sessions).
pub const SHUTDOWN_NOTICE: &str = "The server is shutting down; reconnect in a moment.";

impl Delivery {
    /// The last delivery of every subscription when the server stops.
    pub fn shutdown() -> Self {
        Self::Shutdown(SystemNotice {
            code: "shutdown".into(),
            text: SHUTDOWN_NOTICE.into(),
        })
    }
}

/// Which way `GET /messages` pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Messages with `created > after`, oldest first.
    Forward { after: Cursor },
    /// Messages with `created < before`, newest first; `None` is "from the newest".
    Backward { before: Option<Cursor> },
}
