//! How messages are printed: one JSON object a line for scripts (`--json`),
//! or `HH:MM:SS nick: text` for people.
//!
//! Every line is flushed as soon as it is written, so `malten follow` can
//! feed another program live. A closed standard output
//! (`malten follow | head -1`) ends the command quietly.

use std::io::Write;

use serde::Serialize;

use super::stream::Shown;
use super::ClientError;

/// The `--json` form of a message: `{"id","created","nick","text","encrypted"}`.
#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    id: &'a str,
    /// Unix nanoseconds as a decimal string, as on the wire.
    created: String,
    nick: Option<&'a str>,
    text: &'a str,
    encrypted: bool,
}

/// Writes messages to standard output.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
}

impl Printer {
    pub fn print(&self, message: &Shown) -> Result<(), ClientError> {
        let line = if self.json {
            serde_json::to_string(&JsonLine {
                id: &message.id,
                created: message.created.to_string(),
                nick: message.nick.as_deref(),
                text: &message.text,
                encrypted: message.encrypted,
            })
            .map_err(|err| ClientError::Failed(err.to_string()))?
        } else {
            human(message)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::BrokenPipe => ClientError::StdoutClosed,
                _ => ClientError::Io(err),
            })
    }
}

/// `HH:MM:SS nick: text` in UTC, the nick left out when there is none.
fn human(message: &Shown) -> String {
    let secs = message.created.0 / 1_000_000_000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let who = match (&message.nick, message.llm) {
        (Some(nick), _) => format!("{nick}: "),
        (None, true) => "llm: ".to_owned(),
        (None, false) => String::new(),
    };
    format!("{h:02}:{m:02}:{s:02} {who}{}", message.text)
}

/// A notice for people on standard error (gaps, reconnects, skipped
/// messages); never on standard output, which is the data.
pub fn notice(text: &str) {
    eprintln!("malten: {text}");
}

#[cfg(test)]
mod tests {
    use malten_shared::wire::Cursor;

    use super::*;

    #[test]
    fn people_get_the_time_nick_and_text() {
        let shown = Shown {
            id: "a".into(),
            created: Cursor(3_723_000_000_000), // 01:02:03
            nick: Some("ana".into()),
            text: "hi".into(),
            encrypted: true,
            llm: false,
        };
        assert_eq!(human(&shown), "01:02:03 ana: hi");
        let plain = Shown {
            nick: None,
            ..shown
        };
        assert_eq!(human(&plain), "01:02:03 hi");
    }
}
