//! Logging set-up. Logs go to stderr only: the server writes no files.
//!
//! Nothing in this crate logs message text, passphrases or envelopes; log
//! lines carry stream names, sizes, counts and error codes.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. `RUST_LOG` overrides the default level.
/// Safe to call more than once (later calls are ignored), which tests rely on.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        "json" => builder.json().try_init(),
        _ => builder.try_init(),
    };
}
