//! The `malten` binary: parse the command line, then serve (bare `malten`
//! or `malten serve`) or run a client subcommand (`malten new`, `send`,
//! `read`, `follow`).
//!
//! A failure to start the server (the address is taken, the chat database
//! cannot be opened) is one line on stderr and exit status 1; the client's
//! exit statuses are listed by `malten --help`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use malten_server::cli::{Action, Cli};
use malten_server::{config::Config, run, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().into_action() {
        Action::Serve(config) => serve_and_report(*config).await,
        Action::Client(command) => malten_server::client::run(command).await,
    }
}

async fn serve_and_report(config: Config) -> ExitCode {
    malten_server::telemetry::init(&config.log_format);
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("malten: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let listener = malten_server::serve::bind(config.addr)
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    run(listener, config, shutdown).await
}

/// The error and its causes on one line, each said once: some errors (an
/// I/O error wrapped by sqlx) repeat their source in their own text.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
