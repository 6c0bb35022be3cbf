//! `malten read` (the latest messages, then exit) and `malten follow`
//! (retained, then live, until interrupted).

use clap::Args;
use malten_shared::limits::MAX_MESSAGES_PER_STREAM;

use super::events::{Incoming, Subscription};
use super::output::{notice, Printer};
use super::stream::Opened;
use super::target::Target;
use super::{ClientError, StreamArgs};

#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub stream: StreamArgs,

    /// How many of the latest messages, 1 to 1024.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub limit: u16,

    /// One JSON object a line: id, created, nick, text, encrypted.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub stream: StreamArgs,

    /// Only new messages, not those the stream already holds.
    #[arg(long)]
    pub new: bool,

    /// One JSON object a line: id, created, nick, text, encrypted. Notices
    /// (reconnecting, messages dropped unread) go to standard error.
    #[arg(long)]
    pub json: bool,
}

pub async fn run_read(args: ReadArgs) -> Result<(), ClientError> {
    let target = Target::resolve(&args.stream.link, &args.stream.server.url)?;
    let opened = Opened::open(&target, args.stream.passphrase_file.as_deref()).await?;
    if opened.info.is_none() {
        return Ok(());
    }
    let limit = usize::from(args.limit).min(MAX_MESSAGES_PER_STREAM);
    let mut messages = opened.api.messages(&opened.stream, limit).await?;
    messages.reverse();
    let printer = Printer { json: args.json };
    for message in &messages {
        show(&opened, printer, message)?;
    }
    Ok(())
}

pub async fn run_follow(args: FollowArgs) -> Result<(), ClientError> {
    let target = Target::resolve(&args.stream.link, &args.stream.server.url)?;
    let opened = Opened::open(&target, args.stream.passphrase_file.as_deref()).await?;
    let printer = Printer { json: args.json };
    let mut subscription = Subscription::new(&opened, !args.new, true);
    loop {
        match subscription.next().await? {
            Incoming::Message(message) => show(&opened, printer, &message)?,
            Incoming::Gap(gap) => notice(&match gap.available_from {
                Some(from) => format!(
                    "messages after {} were dropped before they could be read; continuing from {from}",
                    gap.after
                ),
                None => format!(
                    "messages after {} were dropped before they could be read",
                    gap.after
                ),
            }),
            Incoming::Presence(_) => {}
        }
    }
}

/// Prints a message, or says on standard error why it is not shown.
fn show(
    opened: &Opened,
    printer: Printer,
    message: &malten_shared::wire::Message,
) -> Result<(), ClientError> {
    match opened.decode(message) {
        Ok(shown) => printer.print(&shown),
        Err(why) => {
            notice(&why);
            Ok(())
        }
    }
}
