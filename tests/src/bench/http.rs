//! A minimal HTTP/1.1 client over one keep-alive connection: enough for the
//! publisher (`POST /messages`, pipelined up to the window) and for the
//! readiness polls (`GET /streams/X`, `GET /metrics`).
//!
//! Hand-written on purpose: a thin client, with no pool, no TLS layer and no
//! per-request allocation beyond the buffers, so that Malten's figures
//! measure the server rather than a client library (the Redis side, on the
//! `redis` crate, can only be slowed by its client, never sped up). Responses
//! must carry `Content-Length`, which every non-streaming Malten response
//! does.

use std::net::SocketAddr;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::fanout::PublishConn;
use super::payload::{encode_into, now_ns};

/// Largest response head or body accepted, against a confused server.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// One keep-alive HTTP/1.1 connection.
pub struct HttpConn {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// The stream `POST /messages` publishes to.
    publish_stream: String,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(16 * 1024),
            out: Vec::with_capacity(16 * 1024),
            publish_stream: String::new(),
        })
    }

    /// A connection that publishes to `stream` through [`PublishConn`].
    pub fn publishing_to(mut self, stream: &str) -> Self {
        self.publish_stream = stream.to_owned();
        self
    }

    /// `GET path`, waiting for the whole response.
    pub async fn get(&mut self, path: &str) -> Result<Response> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.write_all(request.as_bytes()).await?;
        self.read_response().await
    }

    /// `GET path` that must answer 200 with a JSON body.
    pub async fn get_json(&mut self, path: &str) -> Result<serde_json::Value> {
        let response = self.get(path).await?;
        if response.status != 200 {
            bail!(
                "GET {path} answered {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            );
        }
        serde_json::from_slice(&response.body).with_context(|| format!("GET {path}: bad JSON"))
    }

    /// Reads one complete response from the connection.
    pub async fn read_response(&mut self) -> Result<Response> {
        loop {
            if let Some((status, head_len, body_len)) = parse_head(&self.buf)? {
                if self.buf.len() >= head_len + body_len {
                    let body = self.buf[head_len..head_len + body_len].to_vec();
                    self.buf.drain(..head_len + body_len);
                    return Ok(Response { status, body });
                }
            }
            if self.buf.len() > MAX_RESPONSE_BYTES {
                bail!("response larger than {MAX_RESPONSE_BYTES} bytes");
            }
            self.buf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection mid-response");
            }
        }
    }
}

impl PublishConn for HttpConn {
    fn push(&mut self, seq: u64) {
        let body_len = "stream=".len() + self.publish_stream.len() + "&message=".len();
        let body_len = body_len + super::payload::PAYLOAD_LEN;
        let head = format!(
            "POST /messages HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {body_len}\r\n\r\n\
             stream={}&message=",
            self.host, self.publish_stream
        );
        self.out.extend_from_slice(head.as_bytes());
        encode_into(&mut self.out, seq, now_ns());
    }

    async fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    async fn read_ack(&mut self) -> Result<()> {
        let response = self.read_response().await?;
        if response.status != 201 {
            bail!(
                "POST /messages answered {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            );
        }
        Ok(())
    }
}

/// Parses a response head once it is complete: `(status, head length, body
/// length)`. Shared with the SSE client, which reads its head the same way.
pub fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, usize)>> {
    let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut body_len = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                body_len = value.trim().parse().context("bad Content-Length")?;
            }
        }
    }
    Ok(Some((status, end + 4, body_len)))
}

/// The value of header `name` in a complete response head, if present.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
