//! `malten pipe`: a secure pipe between exactly two ends, through a Malten
//! server, for text or a file (like croc or magic-wormhole).
//!
//! - `malten pipe new` makes the pipe (an encrypted, private stream created
//!   with `pipe=true`: the server admits two subscribers and keeps only
//!   what they have not both read) and prints its links.
//! - `malten pipe LINK` on both ends: standard input goes to the other end,
//!   the other end's data comes out on standard output.
//! - `--send` (`< file`) and `--recv` (`> file`) for one-way transfers.
//!
//! # Layout
//! - [`frame`]: the frames inside the envelopes: numbered chunks, the
//!   final count and digest, acknowledgements.
//! - [`transfer`]: one end: chunking standard input, flow control (at most
//!   [`transfer::WINDOW`] chunks unacknowledged), checking what arrives.

pub mod frame;
pub mod transfer;

use clap::Args;

use super::new::{create, print_links};
use super::stream::Opened;
use super::target::Target;
use super::{ClientError, StreamArgs};

#[derive(Debug, Clone, Args)]
pub struct PipeArgs {
    /// The pipe's link, or `new` to make a pipe and print its links.
    #[command(flatten)]
    pub stream: StreamArgs,

    /// Only send standard input; exit once the other end has all of it.
    #[arg(long, conflicts_with = "recv")]
    pub send: bool,

    /// Only receive: write the other end's data to standard output and exit
    /// once all of it has arrived and verified.
    #[arg(long)]
    pub recv: bool,

    /// With `new`: idle time-to-live in seconds before both ends connect.
    #[arg(long, value_name = "S")]
    pub ttl: Option<u64>,
}

pub async fn run(args: PipeArgs) -> Result<(), ClientError> {
    if args.stream.link == "new" {
        let made = create(
            &args.stream.server.url,
            false,
            args.ttl,
            &[("pipe", "true".to_owned())],
        )
        .await?;
        return print_links(&made, false);
    }
    let target = Target::resolve(&args.stream.link, &args.stream.server.url)?;
    let opened = Opened::open(&target, args.stream.passphrase_file.as_deref()).await?;
    if !opened.info.as_ref().is_some_and(|info| info.pipe) || !opened.encrypted() {
        return Err(ClientError::Usage(format!(
            "#{} is not a pipe: make one with `malten pipe new`",
            opened.stream
        )));
    }
    let (send, recv) = match (args.send, args.recv) {
        (true, _) => (true, false),
        (_, true) => (false, true),
        _ => (true, true),
    };
    transfer::End::new(&opened, send, recv).run().await
}
