//! The numbers that define a Malten stream.
//!
//! They come from the original Malten ("1024 seconds, 1024 messages, 1024
//! characters") and are the defaults; the server may lower or raise the
//! operational ones with flags, but the per-message character limit is part of
//! the product and fixed.

/// Messages retained per stream; the oldest is dropped first.
pub const MAX_MESSAGES_PER_STREAM: usize = 1024;

/// Characters per plain message, counted as Unicode scalar values.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Default idle time-to-live of a stream, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 1024;

/// Longest stream name, in characters.
pub const MAX_STREAM_NAME_LEN: usize = 64;

/// The stream used when a request names none, as in the original Malten.
pub const DEFAULT_STREAM: &str = "_";

/// Default page size of `GET /messages`.
pub const DEFAULT_PAGE_LIMIT: usize = 25;

/// Largest page `GET /messages` returns.
pub const MAX_PAGE_LIMIT: usize = MAX_MESSAGES_PER_STREAM;

/// Bytes of randomness in a generated stream id (128 bits).
pub const GENERATED_ID_BYTES: usize = 16;
