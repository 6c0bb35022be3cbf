//! `malten send LINK [TEXT]`: post TEXT, or each line of standard input.
//!
//! A message holds at most 1024 characters (Unicode scalar values), so a
//! longer line becomes several messages, split between characters, never
//! inside one. Blank lines are skipped (the server refuses blank messages).

use clap::Args;
use malten_shared::limits::MAX_MESSAGE_CHARS;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::stream::Opened;
use super::target::Target;
use super::{ClientError, StreamArgs};

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub stream: StreamArgs,

    /// The message; without it, each line of standard input is one.
    pub text: Option<String>,

    /// A nick shown with the message (encrypted streams only: it travels
    /// inside the envelope; plain streams have none).
    #[arg(long)]
    pub nick: Option<String>,
}

pub async fn run(args: SendArgs) -> Result<(), ClientError> {
    let target = Target::resolve(&args.stream.link, &args.stream.server.url)?;
    let opened = Opened::open(&target, args.stream.passphrase_file.as_deref()).await?;
    if args.nick.is_some() && !opened.encrypted() {
        return Err(ClientError::Usage(
            "--nick needs an encrypted stream: a plain stream's messages have no nick".into(),
        ));
    }
    let nick = args.nick.as_deref();
    if let Some(text) = &args.text {
        return send_line(&opened, text, nick).await;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        send_line(&opened, &line, nick).await?;
    }
    Ok(())
}

async fn send_line(opened: &Opened, line: &str, nick: Option<&str>) -> Result<(), ClientError> {
    for piece in split(line.trim_end_matches('\r')) {
        if piece.trim().is_empty() {
            continue;
        }
        let body = opened.encode(piece, nick)?;
        opened.api.post(&opened.stream, &body).await?;
    }
    Ok(())
}

/// `text` in pieces of at most [`MAX_MESSAGE_CHARS`] characters.
pub fn split(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .nth(MAX_MESSAGE_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_split_between_characters() {
        let line = "é".repeat(MAX_MESSAGE_CHARS * 2 + 3);
        let pieces: Vec<&str> = split(&line).collect();
        assert_eq!(
            pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [MAX_MESSAGE_CHARS, MAX_MESSAGE_CHARS, 3]
        );
        assert_eq!(pieces.concat(), line);
        assert_eq!(split("hi").collect::<Vec<_>>(), ["hi"]);
        assert_eq!(split("").count(), 0);
    }
}
