//! Why the in-memory store refused an operation.
//!
//! A plain domain error: no HTTP here. The status each variant gets is
//! decided once, at the HTTP edge (`error.rs`). The stable code of each
//! variant lives here because it is also part of the stream protocol (a
//! failed LLM reply carries it in its final `partial` event), not only of
//! HTTP responses.

use malten_shared::crypto::{EnvelopeError, ParamsError};
use malten_shared::wire::Cursor;
use malten_shared::{MessageTextError, StreamName};

/// Why the store refused an operation. A refused operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("stream {0} already exists")]
    StreamExists(StreamName),
    #[error("ttl must be between {min} and {max} seconds")]
    TtlOutOfRange { min: u64, max: u64 },
    #[error("the server holds its maximum of {0} streams; try again later")]
    TooManyStreams(usize),
    #[error("the server's message memory is full; try again later")]
    MemoryFull,
    #[error(transparent)]
    InvalidText(#[from] MessageTextError),
    #[error("no message with that id in this stream")]
    MessageNotFound,
    #[error(
        "this stream is end-to-end encrypted and accepts only envelopes (docs/crypto.md): {0}"
    )]
    NotAnEnvelope(#[from] EnvelopeError),
    #[error("invalid encryption parameters: {0}")]
    InvalidEncryption(#[from] ParamsError),
    /// A cursor newer than anything this stream has issued (a cursor from
    /// the future would otherwise silently withhold every later post).
    #[error("the cursor {0} is newer than anything this stream has issued; resume without it, or with `last=0` to replay what is retained")]
    InvalidCursor(Cursor),
    /// A third subscriber to a pipe, which admits exactly two ends.
    #[error("this pipe already has its two ends connected")]
    PipeFull,
}

impl StoreError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::StreamExists(_) => "stream_exists",
            Self::TtlOutOfRange { .. } => "invalid_ttl",
            Self::TooManyStreams(_) => "too_many_streams",
            Self::MemoryFull => "memory_full",
            Self::InvalidText(MessageTextError::Blank) => "empty_message",
            Self::InvalidText(_) => "message_too_long",
            Self::MessageNotFound => "message_not_found",
            Self::NotAnEnvelope(EnvelopeError::TooLong) => "message_too_long",
            Self::NotAnEnvelope(_) => "not_an_envelope",
            Self::InvalidEncryption(_) => "invalid_encryption",
            Self::InvalidCursor(_) => "invalid_cursor",
            Self::PipeFull => "pipe_full",
        }
    }
}
