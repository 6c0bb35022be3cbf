//! Why the engine refused or failed an operation.

use crate::store::StoreError;

/// The one error of every engine operation. `Refused` is a rule saying no
/// (the operation changed nothing); `Unavailable` is the backend itself
/// failing (a network backend that cannot reach its server). The in-memory
/// backend never returns `Unavailable`; the variant exists so a network
/// backend fits without touching `http/`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Refused(#[from] StoreError),
    /// The cause is for logs only; clients get a generic sentence.
    #[error("the message backend is unavailable; try again later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server has begun shutting down: nothing new is accepted, so
    /// nothing accepted is lost with the process.
    #[error("the server is shutting down; try again in a moment")]
    ShuttingDown,
}

impl EngineError {
    /// The stable machine-readable code (also sent in a failed reply's
    /// final `partial` event, so it lives here rather than at the HTTP edge).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(err) => err.code(),
            Self::Unavailable(_) => "backend_unavailable",
            Self::ShuttingDown => "shutting_down",
        }
    }
}
