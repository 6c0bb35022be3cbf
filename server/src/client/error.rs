//! What the client can fail with, and the exit status of each.
//!
//! Every message is one line for people. Refusals (exit 2) are what the
//! web app also refuses; failures (exit 1) are the network, the server or
//! the machine; exit 3 is a pipe whose data did not verify.

use malten_shared::link::{LinkError, PinMismatch};
use malten_shared::StreamName;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("not a link: {0}")]
    Link(#[from] LinkError),
    #[error("{0}")]
    Pin(#[from] PinMismatch),
    #[error("wrong passphrase for #{0}: it does not unlock the stream's key check, so nothing was read or sent")]
    WrongPassphrase(StreamName),
    #[error("#{0} is end-to-end encrypted and no passphrase was given: put it in the link, in --passphrase-file or in MALTEN_PASSPHRASE, or run from a terminal to be asked")]
    NoPassphrase(StreamName),
    #[error("#{0} does not exist (it may have expired), and the link is for an encrypted stream: nothing was sent")]
    Gone(StreamName),
    #[error("cannot read the passphrase: {0}")]
    Passphrase(std::io::Error),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused: {error} ({code})")]
    Server {
        status: u16,
        code: String,
        error: String,
    },
    #[error("the server's answer is not what Malten sends: {0}")]
    Protocol(String),
    #[error("{0}")]
    Crypto(#[from] malten_shared::crypto::CryptoError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Standard output was closed (`malten follow | head`): not an error.
    #[error("standard output closed")]
    StdoutClosed,
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Integrity(String),
}

impl ClientError {
    /// 1: failed, 2: refused, 3: data did not verify.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::Link(_)
            | Self::Pin(_)
            | Self::WrongPassphrase(_)
            | Self::NoPassphrase(_)
            | Self::Gone(_) => 2,
            Self::Server { code, .. } if code == "pipe_full" || code == "not_an_envelope" => 2,
            Self::Integrity(_) => 3,
            _ => 1,
        }
    }

    /// Whether trying again later may succeed: the connection broke or the
    /// server is briefly unable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
