//! Server-Sent Events framing: the one place that knows how an event is
//! laid out on the wire (`id:`, `event:`, `data:` lines, a blank line;
//! comments start with `:`), for the server that writes events and for the
//! programs that read them (the tests, the benchmark).
//!
//! Event names come from [`EventKind`] (a stream's `/events`) and
//! [`CommandEventKind`] (the response of `POST /commands`); nothing else
//! spells them. Browsers parse the frames themselves (`EventSource`), so the
//! web app needs only the names.
//!
//! No I/O here: [`write_event`] appends to a `String` the caller owns (the
//! server encodes a message once, when it is stored, and shares the bytes
//! with every subscriber), and [`Decoder`] is fed bytes as they arrive and
//! hands out borrowed [`Block`]s, copying nothing for one-line data.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

use crate::wire::{CommandEventKind, Cursor, EventKind};

/// A name that can appear in an `event:` field.
pub trait EventName: Copy {
    fn as_str(self) -> &'static str;
}

impl EventName for EventKind {
    fn as_str(self) -> &'static str {
        EventKind::as_str(self)
    }
}

impl EventName for CommandEventKind {
    fn as_str(self) -> &'static str {
        CommandEventKind::as_str(self)
    }
}

/// A comment that keeps an idle connection open; clients ignore it.
pub const KEEPALIVE: &str = ": keep-alive\n\n";

/// The block that tells clients how long to wait before reconnecting.
pub fn retry(millis: u64) -> String {
    format!("retry: {millis}\n\n")
}

/// Appends one event to `out`. Returns where `data` sits in `out` when it
/// was written verbatim, that is when it has no line break (JSON from
/// `serde_json::to_string` never has one); `None` when it was split into
/// several `data:` lines.
pub fn write_event(
    out: &mut String,
    id: Option<Cursor>,
    event: impl EventName,
    data: &str,
) -> Option<Range<usize>> {
    out.reserve(event_len(id, event, data));
    if let Some(id) = id {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "id: {id}");
    }
    out.push_str("event: ");
    out.push_str(event.as_str());
    out.push('\n');
    let verbatim = !data.contains(['\n', '\r']);
    let mut range = None;
    if verbatim {
        out.push_str("data: ");
        let start = out.len();
        out.push_str(data);
        range = Some(start..out.len());
        out.push('\n');
    } else {
        for line in split_lines(data) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    range
}

/// One event as a new `String`, sized to fit.
pub fn event(id: Option<Cursor>, event: impl EventName, data: &str) -> String {
    let mut out = String::new();
    write_event(&mut out, id, event, data);
    out
}

/// The length of a one-line event (a lower bound otherwise).
fn event_len(id: Option<Cursor>, event: impl EventName, data: &str) -> usize {
    // "id: " + up to 20 digits + "\n", "event: " + name + "\n", "data: " + data + "\n\n".
    let id_len = if id.is_some() { 4 + 20 + 1 } else { 0 };
    id_len + 7 + event.as_str().len() + 1 + 6 + data.len() + 2
}

/// Lines as SSE ends them: `\r\n`, `\n` or `\r`.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        // Both are ASCII, so the byte offset is a char boundary.
        match memchr::memchr2(b'\n', b'\r', text.as_bytes()) {
            Some(end) => {
                let skip = if text[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&text[end + skip..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// One block of an event stream: the fields before a blank line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block<'a> {
    pub id: Option<&'a str>,
    /// The `event:` field; absent means `message`, see [`Block::event_name`].
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`; `None` when there were none,
    /// in which case the block is not an event.
    pub data: Option<Cow<'a, str>>,
    /// The text of the last `:` comment line, without the colon and the
    /// space after it.
    pub comment: Option<&'a str>,
    /// A `retry:` field that is a number.
    pub retry: Option<u64>,
}

impl<'a> Block<'a> {
    /// Reads one block (its lines, with or without the blank line).
    pub fn parse(text: &'a str) -> Self {
        let mut block = Block::default();
        for line in split_lines(text) {
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix(':') {
                block.comment = Some(comment.strip_prefix(' ').unwrap_or(comment));
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "id" => block.id = Some(value),
                "event" => block.event = Some(value),
                "retry" => block.retry = value.parse().ok().or(block.retry),
                "data" => {
                    block.data = Some(match block.data.take() {
                        None => Cow::Borrowed(value),
                        Some(previous) => Cow::Owned(format!("{previous}\n{value}")),
                    });
                }
                _ => {}
            }
        }
        block
    }

    /// Whether this block is an event (it has data), as opposed to a
    /// comment or a `retry:` setting.
    pub fn is_event(&self) -> bool {
        self.data.is_some()
    }

    /// The event's name: the `event:` field, `message` without one.
    pub fn event_name(&self) -> &'a str {
        self.event.unwrap_or("message")
    }

    /// The kind of a stream event, when the name is one.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::from_name(self.event_name())
    }

    /// The data, `""` when there is none.
    pub fn data(&self) -> &str {
        self.data.as_deref().unwrap_or("")
    }
}

/// Splits bytes as they arrive into blocks. Blocks end at a blank line
/// (`\n\n`, as this server writes them); text that is not UTF-8 is read
/// with replacement characters, as browsers do.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
    /// How far `buffer` has been searched for a block end.
    searched: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Calls `each` with every complete block received so far, in order,
    /// then forgets them; a partial block stays for the next [`push`].
    ///
    /// [`push`]: Decoder::push
    pub fn drain(&mut self, mut each: impl FnMut(Block<'_>)) {
        let mut start = 0;
        let searched = self.searched;
        for newline in memchr::memchr_iter(b'\n', &self.buffer[searched..]) {
            let newline = searched + newline;
            // A blank line: this `\n` right after the one ending a line of
            // the current block.
            if newline > start && self.buffer[newline - 1] == b'\n' {
                let text = utf8(&self.buffer[start..newline - 1]);
                each(Block::parse(&text));
                start = newline + 1;
            }
        }
        self.buffer.drain(..start);
        self.searched = self.buffer.len();
    }

    /// Bytes of an incomplete block held back.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// The bytes as text, borrowed when they are UTF-8 (always, from this
/// server), with replacement characters otherwise. (Validating is much
/// cheaper than the lossy conversion's chunked walk, and a subscriber
/// decodes every byte it receives.)
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests;
