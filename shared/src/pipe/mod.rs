//! Secure pipes (`docs/api.md` "Pipes", `docs/crypto.md` section 9b): an
//! encrypted stream between exactly two ends, whose messages are frames.
//!
//! # Layout
//! - [`frame`]: the frames (numbered chunks, the final count and digest,
//!   acknowledgements), used by the terminal client and the web app alike.
//! - [`chat`]: one end of a pipe used as a two-party chat (the web app):
//!   what it sends, and the checks on what arrives, without any I/O.

pub mod chat;
pub mod frame;

pub use chat::{Chat, ChatError, Received};
pub use frame::{digest, Frame, ACK_EVERY, CHUNK_BYTES, MAX_SEQ, WINDOW};
