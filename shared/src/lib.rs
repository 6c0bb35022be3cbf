//! Malten's shared vocabulary: what goes over the wire, and the rules both
//! sides must agree on.
//!
//! The server validates with these rules and the web app validates with the
//! same code before it sends anything, so the two can never disagree about
//! what a valid stream name or message is. This crate does no I/O and depends
//! on neither axum nor web-sys, so it compiles for native targets and for
//! `wasm32-unknown-unknown`.
//!
//! # Layout
//! - [`crypto`]: end-to-end encryption format v1 (keys, envelopes, the
//!   server's keyless envelope check); see `docs/crypto.md`.
//! - [`link`]: share links (`#stream/secret!pin`) and the pin that refuses
//!   a squatted or recreated stream.
//! - [`limits`]: the numbers (1024 messages, 1024 characters, TTL bounds).
//! - [`name`]: [`StreamName`], a stream name that is valid by construction.
//! - [`text`]: the rule for a plain message's text.
//! - [`wire`]: the JSON shapes of messages, stream listings, events and errors.
//! - [`protocol`]: the frames of the WebSocket session protocol at `/ws`.
//! - [`sse`]: Server-Sent Events framing, written by the server and read by
//!   the tests and the benchmark.

pub mod crypto;
pub mod limits;
pub mod link;
pub mod name;
pub mod protocol;
pub mod sse;
pub mod text;
pub mod wire;

pub use name::{StreamName, StreamNameError};
pub use text::{check_message_text, MessageTextError};
