//! The terminal client: `malten new`, `send`, `read`, `follow` and `pipe`.
//!
//! It speaks the same HTTP API and the same end-to-end encryption as the web
//! app, through `malten-shared` for everything on the wire (links and their
//! pin, key derivation and key check, envelopes, plaintext JSON, padding),
//! so a message sent from a terminal opens in a browser and the other way
//! round. It refuses what the app refuses, before sending anything: a
//! stream that is not the one the link was made for, a wrong passphrase,
//! plaintext for an encrypted stream.
//!
//! # Layout
//! - [`error`]: [`ClientError`] and the exit status of each failure.
//! - [`target`]: which server and stream a LINK argument names.
//! - [`passphrase`]: where the passphrase comes from (never argv by us).
//! - [`api`]: the HTTP calls, with JSON errors read as the server sends them.
//! - [`events`]: a live subscription (SSE) that reconnects with `Last-Event-ID`.
//! - [`stream`]: opening a stream: the pin check, the key, sealing and opening.
//! - [`output`]: how messages are printed (`--json` or for people).
//! - [`new`], [`send`], [`read`]: the commands; `read` also has `follow`.
//! - [`pipe`]: secure pipes between two ends.

pub mod api;
pub mod error;
pub mod events;
pub mod new;
pub mod output;
pub mod passphrase;
pub mod pipe;
pub mod read;
pub mod send;
pub mod stream;
pub mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use error::ClientError;

use crate::cli::EXIT_CODES;

/// The server a bare stream name or `malten new` talks to by default.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9090";

/// The terminal client's subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Make a private stream (end-to-end encrypted unless --plain) and print
    /// its share links, with and without the passphrase, as the web app's
    /// Share gives them.
    #[command(after_help = EXIT_CODES)]
    New(new::NewArgs),
    /// Post TEXT, or each line of standard input as one message (a line
    /// over 1024 characters becomes several messages, split between
    /// characters).
    #[command(after_help = EXIT_CODES)]
    Send(send::SendArgs),
    /// Print the stream's latest messages, oldest first, decrypted.
    #[command(after_help = EXIT_CODES)]
    Read(read::ReadArgs),
    /// Print the stream's messages, retained then live, decrypted;
    /// reconnects by itself and says when messages were dropped unread.
    #[command(after_help = EXIT_CODES)]
    Follow(read::FollowArgs),
    /// A secure pipe between exactly two ends: standard input goes to the
    /// other end, what it sends comes out on standard output. `malten pipe
    /// new` makes one; `--send < file` and `--recv > file` move a file.
    #[command(after_help = EXIT_CODES)]
    Pipe(pipe::PipeArgs),
}

/// How to reach a stream: the LINK argument and what completes it.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// The share link (`http://host/#stream/secret!pin`, as the web app's
    /// Share gives it), or a bare stream name with --server. A link with the
    /// passphrase shows it to other users of this machine (`ps`): prefer the
    /// link without it and --passphrase-file or MALTEN_PASSPHRASE.
    pub link: String,

    #[command(flatten)]
    pub server: ServerArg,

    /// Read the passphrase from this file (its first line). Without it, and
    /// without one in the link, MALTEN_PASSPHRASE, else a prompt that does
    /// not echo.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// The server's base URL.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The server's URL, for a bare stream name (a full link names its own).
    #[arg(long = "server", env = "MALTEN_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    pub url: String,
}

/// Runs a client command to its end; errors are one line on stderr.
pub async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::New(args) => new::run(args).await,
        ClientCommand::Send(args) => send::run(args).await,
        ClientCommand::Read(args) => read::run_read(args).await,
        ClientCommand::Follow(args) => read::run_follow(args).await,
        ClientCommand::Pipe(args) => pipe::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ClientError::StdoutClosed) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("malten: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
