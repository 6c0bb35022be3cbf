//! The frames inside a pipe's envelopes: `malten_shared::pipe::frame`, the
//! one codec the terminal client and the web app share (`docs/crypto.md`
//! section 9b).

pub use malten_shared::pipe::frame::*;
