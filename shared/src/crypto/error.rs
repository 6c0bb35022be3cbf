//! What deriving a key, sealing and opening can fail with.

use super::envelope::EnvelopeError;
use super::plaintext::PlaintextError;

/// Why a key could not be derived or a message could not be sealed or opened.
///
/// No variant carries a passphrase, a key or any part of a message: errors get
/// logged and shown, and must not become a side channel for what they guard.
/// The messages are meant to be shown to users as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// An empty passphrase would give every such stream the same guessable
    /// key, so it is refused rather than silently accepted.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// The message breaks a rule of [`Plaintext`](super::Plaintext): refused
    /// before sealing, and after opening (a buggy or hostile client made it).
    #[error("invalid message: {0}")]
    Plaintext(#[from] PlaintextError),
    /// The serialized message does not fit the largest bucket. A message
    /// that passes [`Plaintext::validate`](super::Plaintext::validate) always
    /// fits, so this only happens on a bug.
    #[error("the message is too large to encrypt")]
    TooLarge,
    /// The envelope is not a well-formed v1 envelope at all.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Authentication failed. AES-GCM cannot tell these apart, so neither can
    /// we: the passphrase differs, the envelope belongs to another stream, or
    /// it was altered.
    #[error(
        "the message could not be decrypted: wrong passphrase, another stream's message, or altered"
    )]
    Undecryptable,
    /// The envelope is authentic but what it holds is not padded JSON of the
    /// v1 shape: whoever wrote it knew the passphrase but broke the format.
    #[error("the decrypted message is malformed")]
    Malformed,
    /// The platform gave no secure randomness, so no nonce or salt can be made.
    #[error("no secure random numbers available: {0}")]
    Random(getrandom::Error),
}
