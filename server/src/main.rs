//! The `malten` binary: parse the configuration, set up logging, bind, serve.

use anyhow::Context;
use clap::Parser;
use malten_server::{config::Config, run, shutdown_signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    malten_server::telemetry::init(&config.log_format);
    let shutdown = shutdown_signal();
    let listener = malten_server::serve::bind(config.addr)
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    tracing::info!(addr = %listener.local_addr()?, "malten listening");
    run(listener, config, shutdown).await
}
