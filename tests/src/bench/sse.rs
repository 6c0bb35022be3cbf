//! A Server-Sent Events subscriber over a raw socket.
//!
//! `GET /events?stream=X` answers with a chunked HTTP/1.1 body; the client
//! undoes the chunking, lets `malten_shared::sse` split the body into
//! events and hands every `message` event's data to the [`Tally`]. A `gap`
//! event (the server dropped messages this subscriber had not read) is
//! recorded as loss; `presence` events, the `retry:` preamble and
//! `: keep-alive` comments are skipped.

use std::net::SocketAddr;
use std::sync::LazyLock;

use anyhow::{bail, ensure, Context, Result};
use malten_shared::sse::{Block, Decoder};
use malten_shared::wire::EventKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::fanout::FeedConn;
use super::http::{header, parse_head};
use super::payload::now_ns;
use super::stats::Tally;

/// The end of a chunk-size line; one searcher for the whole run.
static CRLF: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n"));

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Where the chunked-encoding decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a `<hex size>\r\n` line.
    Size,
    /// Inside a chunk, with this many data bytes left.
    Data(usize),
    /// Expecting the `\r\n` that ends a chunk's data.
    End,
}

/// One open `GET /events` connection, past its response head.
pub struct SseConn {
    stream: TcpStream,
    /// Socket bytes not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked body bytes not yet split into events.
    body: Decoder,
    chunk: Chunk,
    /// Bytes that came with the response head wait in `raw` unprocessed.
    leftover: bool,
}

impl SseConn {
    /// Opens `GET /events?stream=<stream>` and checks the response head.
    pub async fn connect(addr: SocketAddr, stream_name: &str) -> Result<Self> {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET /events?stream={stream_name} HTTP/1.1\r\nHost: {addr}\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(1024);
        let head_len = loop {
            if let Some((status, head_len, _)) = parse_head(&raw)? {
                let head = String::from_utf8_lossy(&raw[..head_len]);
                ensure!(status == 200, "GET /events answered {status}: {head}");
                let chunked = header(&head, "transfer-encoding")
                    .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
                ensure!(chunked, "GET /events is not chunked: {head}");
                break head_len;
            }
            ensure!(raw.len() < 64 * 1024, "endless response head");
            raw.reserve(1024);
            if stream.read_buf(&mut raw).await? == 0 {
                bail!("the server closed /events before answering");
            }
        };
        raw.drain(..head_len);
        Ok(Self {
            stream,
            leftover: !raw.is_empty(),
            raw,
            body: Decoder::new(),
            chunk: Chunk::Size,
        })
    }

    /// Reads and discards whatever arrives until the connection closes or
    /// fails: what an idle subscriber does between messages.
    pub async fn drain(mut self) {
        let mut sink = [0u8; 512];
        while let Ok(1..) = self.stream.read(&mut sink).await {}
    }

    /// Moves complete chunk data from `raw` to `body`.
    fn dechunk(&mut self) -> Result<()> {
        let mut pos = 0;
        loop {
            match self.chunk {
                Chunk::Size => {
                    let Some(eol) = CRLF.find(&self.raw[pos..]) else {
                        ensure!(self.raw.len() - pos < 1024, "endless chunk size line");
                        break;
                    };
                    let line = std::str::from_utf8(&self.raw[pos..pos + eol])?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(hex, 16)
                        .with_context(|| format!("bad chunk size {line:?}"))?;
                    ensure!(size > 0, "the server ended the event stream");
                    pos += eol + 2;
                    self.chunk = Chunk::Data(size);
                }
                Chunk::Data(left) => {
                    let take = left.min(self.raw.len() - pos);
                    if take == 0 {
                        break;
                    }
                    self.body.push(&self.raw[pos..pos + take]);
                    pos += take;
                    self.chunk = if take == left {
                        Chunk::End
                    } else {
                        Chunk::Data(left - take)
                    };
                }
                Chunk::End => {
                    if self.raw.len() - pos < 2 {
                        break;
                    }
                    ensure!(
                        &self.raw[pos..pos + 2] == b"\r\n",
                        "chunk not ended by CRLF"
                    );
                    pos += 2;
                    self.chunk = Chunk::Size;
                }
            }
        }
        self.raw.drain(..pos);
        Ok(())
    }

    /// Records every complete event in `body`.
    fn dispatch(&mut self, tally: &mut Tally, received_ns: u64) {
        self.body
            .drain(|block| dispatch_event(&block, tally, received_ns));
    }
}

/// One event (or comment, or setting) as the server sent it.
fn dispatch_event(block: &Block<'_>, tally: &mut Tally, received_ns: u64) {
    match block.kind() {
        Some(EventKind::Message) if !block.data().is_empty() => {
            tally.message(block.data().as_bytes(), received_ns);
        }
        Some(EventKind::Gap) => tally.gap(),
        // `presence`, `retry:` and `:` comments carry nothing the benchmark needs.
        _ => {}
    }
}

impl FeedConn for SseConn {
    async fn read_some(&mut self, tally: &mut Tally) -> Result<()> {
        // Bytes that came with the response head are processed first.
        if !std::mem::take(&mut self.leftover) {
            self.raw.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.raw).await? == 0 {
                bail!("the server closed the event stream");
            }
        }
        let received_ns = now_ns();
        self.dechunk()?;
        self.dispatch(tally, received_ns);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::payload::encode;
    use super::*;

    #[test]
    fn events_are_dispatched_by_kind() {
        let payload = String::from_utf8(encode(0, 10)).unwrap();
        let mut tally = Tally::new(1);
        let feed = |text: &str, tally: &mut Tally| {
            let mut decoder = Decoder::new();
            decoder.push(text.as_bytes());
            decoder.drain(|block| dispatch_event(&block, tally, 20));
        };
        feed("retry: 2000\n\n: keep-alive\n\n", &mut tally);
        feed(
            "id: 5\nevent: presence\ndata: {\"observers\":3}\n\n",
            &mut tally,
        );
        assert!(!tally.complete());
        let message = format!("id: 6\nevent: message\ndata: {{\"text\":\"{payload}\"}}\n\n");
        feed(&message, &mut tally);
        assert!(tally.complete());
        feed("id: 7\nevent: gap\ndata: {}\n\n", &mut tally);
        let summary = super::super::stats::summarize(vec![tally]);
        assert_eq!((summary.deliveries, summary.gaps), (1, 1));
    }
}
