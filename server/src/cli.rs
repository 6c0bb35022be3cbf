//! The command line of the `malten` binary: serving, and the terminal client.
//!
//! Bare `malten` with the server's flags serves, as it always has, so every
//! existing deployment keeps working; `malten serve` says the same
//! explicitly. The other subcommands are the terminal client
//! ([`crate::client`]), which talks to a server over HTTP like the web app.

use clap::{Parser, Subcommand};

use crate::client::ClientCommand;
use crate::config::Config;

/// Exit statuses, shown by `malten --help` and each client subcommand's.
pub const EXIT_CODES: &str = "\
Exit status:
  0  done
  1  failed: the server could not be reached or answered with an error, an
     I/O error, a connection lost for good, a pipe whose other end left
  2  refused: bad arguments or link, a wrong passphrase, a stream that is
     not the one the link was made for (plain instead of encrypted, another
     key), plaintext for an encrypted stream, a full pipe
  3  a pipe's data did not verify: a chunk lost, reordered, altered, or the
     transfer cut short";

/// Malten: anonymous, ephemeral, end-to-end encrypted message streams, kept
/// only in memory.
///
/// Without a subcommand, `malten` serves (the same as `malten serve`).
#[derive(Debug, Parser)]
#[command(
    name = "malten",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The server's flags, for bare `malten`.
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve streams and the web app (what bare `malten` does).
    Serve(Box<Config>),
    #[command(flatten)]
    Client(ClientCommand),
}

impl Cli {
    /// What to do: serve with this configuration, or run a client command.
    pub fn into_action(self) -> Action {
        match self.command {
            None => Action::Serve(Box::new(self.serve)),
            Some(Command::Serve(config)) => Action::Serve(config),
            Some(Command::Client(command)) => Action::Client(command),
        }
    }
}

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Action {
    Serve(Box<Config>),
    Client(ClientCommand),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn bare_flags_serve_and_subcommands_are_recognized() {
        let cli = Cli::parse_from(["malten", "--addr", "127.0.0.1:1"]);
        assert!(matches!(cli.into_action(), Action::Serve(c) if c.addr.port() == 1));
        let cli = Cli::parse_from(["malten", "serve", "--addr", "127.0.0.1:2"]);
        assert!(matches!(cli.into_action(), Action::Serve(c) if c.addr.port() == 2));
        let cli = Cli::parse_from(["malten", "read", "http://h/#s"]);
        assert!(matches!(cli.into_action(), Action::Client(_)));
        Cli::command().debug_assert();
    }
}
