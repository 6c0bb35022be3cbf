//! HTTP/1.1 spoken by hand over a `TcpStream`, for what `reqwest` cannot
//! do: send a path byte for byte (it normalises `/../`), or be a reader
//! whose socket buffer is tiny and that stops reading.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{SseEvent, DEADLINE};

/// Sends `GET <target>` exactly as written and returns the status code and
/// the whole raw response (head and body), read until the server closes.
pub async fn get_raw(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {response:?}"));
    (status, response)
}

/// An SSE subscriber on a raw socket with a small receive buffer, that
/// reads only when the test asks it to.
pub struct RawSse {
    stream: TcpStream,
    /// Body bytes received but not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked SSE text not yet parsed into events.
    text: String,
    /// The response's status line and headers, once read.
    head: Option<String>,
    /// The chunked body's last (empty) chunk has arrived.
    ended: bool,
    /// Comment blocks (keep-alives) parsed and not yet asked for.
    comments: usize,
}

impl RawSse {
    /// Opens `GET /events?query` with `SO_RCVBUF` of `recv_buffer` bytes.
    pub async fn connect(addr: SocketAddr, query: &str, recv_buffer: u32) -> RawSse {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(recv_buffer).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Self::subscribe(stream, query).await
    }

    /// Sends `GET /events?query` on `stream`, which may have served other
    /// requests before.
    pub async fn subscribe(mut stream: TcpStream, query: &str) -> RawSse {
        let addr = stream.peer_addr().unwrap();
        let request = format!(
            "GET /events?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        RawSse {
            stream,
            raw: Vec::new(),
            text: String::new(),
            head: None,
            ended: false,
            comments: 0,
        }
    }

    /// The status line and headers (lowercased), reading as needed.
    pub async fn head(&mut self) -> String {
        tokio::time::timeout(DEADLINE, async {
            while self.head.is_none() {
                assert!(self.read_more().await, "the server closed before the head");
            }
        })
        .await
        .expect("no response head within the deadline");
        self.head.clone().unwrap().to_ascii_lowercase()
    }

    /// Reads until the server closes, and returns the events left and
    /// whether the chunked body ended properly first.
    pub async fn until_closed(mut self) -> (Vec<SseEvent>, bool) {
        tokio::time::timeout(DEADLINE, async { while self.read_more().await {} })
            .await
            .expect("the server did not close within the deadline");
        let mut events = Vec::new();
        while let Some(event) = self.parse_event() {
            events.push(event);
        }
        (events, self.ended)
    }

    /// Reads what has arrived into the buffers; `false` once the server
    /// has closed.
    async fn read_more(&mut self) -> bool {
        let mut buffer = [0u8; 16 * 1024];
        let read = self.stream.read(&mut buffer).await.unwrap_or(0);
        self.raw.extend_from_slice(&buffer[..read]);
        self.dechunk();
        read > 0
    }

    /// The next SSE event (comments skipped), reading as needed.
    pub async fn next_event(&mut self) -> SseEvent {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(event) = self.parse_event() {
                    return event;
                }
                assert!(self.read_more().await, "the server closed the SSE response");
            }
        })
        .await
        .expect("no SSE event within the deadline")
    }

    /// Waits for a comment block (a keep-alive). Events read meanwhile are
    /// dropped: call it while the stream is quiet.
    pub async fn next_comment(&mut self) {
        tokio::time::timeout(DEADLINE, async {
            loop {
                while self.parse_event().is_some() {}
                if self.comments > 0 {
                    self.comments -= 1;
                    return;
                }
                assert!(self.read_more().await, "the server closed the SSE response");
            }
        })
        .await
        .expect("no comment within the deadline")
    }

    /// Moves complete chunks of the chunked body from `raw` to `text`.
    fn dechunk(&mut self) {
        if self.head.is_none() {
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("transfer-encoding: chunked"),
                "{head}"
            );
            self.raw.drain(..end + 4);
            self.head = Some(head);
        }
        loop {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size = std::str::from_utf8(&self.raw[..line_end]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.ended |= size == 0;
            let chunk = std::str::from_utf8(&self.raw[start..start + size]).unwrap();
            self.text.push_str(chunk);
            self.raw.drain(..start + size + 2);
        }
    }

    fn parse_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.text.find("\n\n")?;
            let block: String = self.text.drain(..end + 2).collect();
            let mut event = SseEvent::default();
            for line in block.lines() {
                if let Some((field, value)) = line.split_once(':') {
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => event.id = Some(value.to_owned()),
                        "event" => event.event = value.to_owned(),
                        "data" => event.data.push_str(value),
                        _ => {}
                    }
                }
            }
            if !event.event.is_empty() {
                return Some(event);
            }
            if block.starts_with(':') {
                self.comments += 1;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
