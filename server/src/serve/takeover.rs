//! Serving a subscription without hyper: the first request of a connection,
//! when it is a plain `GET /events`, is read here, answered by the same
//! router, and if the answer is an event stream, its events are written
//! straight to the socket (`http/sse/socket.rs`).
//!
//! Why: a subscriber is a connection that stays open for as long as someone
//! watches a stream, and hyper keeps a read buffer and a write buffer of
//! 8 KiB each for every connection it serves, and polls the response body
//! through its dispatcher for every frame. Most of an idle subscriber's
//! memory, and a good part of a delivery's CPU, was hyper's (issue 17).
//!
//! Only the simplest request is taken: the whole head in the first read,
//! nothing after it, `GET /events` over HTTP/1.1, no body, no upgrade, no
//! `Expect`. Anything else, and any doubt (a head split over packets, a
//! header `http` refuses), goes to hyper exactly as before, which still
//! serves every other route and every later request of a kept-alive
//! connection. The request runs through the same router and layers (the
//! JSON error contract, limits, tracing) either way; only the bytes around
//! the response are written here.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, Response, Version};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::http::sse::{self, Takeover};

/// The most of a request head looked at. A subscriber's request is a few
/// hundred bytes; a longer one is left to hyper and its limits.
const PEEK_BYTES: usize = 4096;

/// Headers parsed here at most; more go to hyper (and the contract's 431).
const MAX_HEADERS: usize = 32;

/// The largest answer other than an event stream written here (they are
/// JSON errors of a few hundred bytes).
const MAX_PLAIN_BODY: usize = 64 * 1024;

/// What became of a connection.
pub(super) enum Outcome {
    /// Served here (or closed: the client sent nothing in time, or left).
    Served,
    /// Not a request for this path: hyper serves the connection, from its
    /// first byte (nothing has been consumed).
    Hyper(TcpStream),
}

/// Serves `stream` here if its first request is a subscription (see the
/// module doc), or hands it back for hyper.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: &Router,
    header_timeout: Duration,
    stopped: &mut watch::Receiver<bool>,
) -> Outcome {
    let peeked = tokio::select! {
        peeked = tokio::time::timeout(header_timeout, peek_head(&stream)) => peeked,
        // Stopping: a connection with no request yet is closed at once, as
        // hyper's graceful shutdown does.
        _ = stopped.wait_for(|stop| *stop) => return Outcome::Served,
    };
    let mut head = match peeked {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Outcome::Served,
    };
    let Some(request) = parse(&head, peer) else {
        return Outcome::Hyper(stream);
    };
    // Consume the head: the peeked bytes are already in the kernel's buffer.
    let mut stream = stream;
    if stream.read_exact(&mut head).await.is_err() {
        return Outcome::Served;
    }
    drop(head);
    // Boxed: the router's future is large, and only lives until the answer;
    // inline, every connection's task would keep room for it.
    let response = Box::pin(router.clone().oneshot(request))
        .await
        .unwrap_or_else(|never: Infallible| match never {});
    match response
        .extensions()
        .get::<Takeover>()
        .and_then(Takeover::claim)
    {
        Some(connection) => {
            let head = response_head(&response, Framing::Chunked);
            drop(response);
            sse::socket::serve(connection, stream, head).await;
        }
        None => write_plain(stream, response).await,
    }
    Outcome::Served
}

/// Waits for the first bytes and returns them (a copy; nothing consumed),
/// or `None` if the client closed without sending any.
async fn peek_head(stream: &TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    // Wait before allocating, so a connection that says nothing costs no
    // buffer.
    stream.readable().await?;
    let mut buffer = vec![0; PEEK_BYTES];
    let read = stream.peek(&mut buffer).await?;
    if read == 0 {
        return Ok(None);
    }
    buffer.truncate(read);
    Ok(Some(buffer))
}

/// The request, if `bytes` are exactly one complete head of a request this
/// path takes.
fn parse(bytes: &[u8], peer: SocketAddr) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(length) = parsed.parse(bytes).ok()? else {
        return None;
    };
    if length != bytes.len() || parsed.method? != "GET" || parsed.version? != 1 {
        return None;
    }
    let path = parsed.path?;
    if path != "/events" && !path.starts_with("/events?") {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11)
        .body(Body::empty())
        .ok()?;
    for header in parsed.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        if name == header::UPGRADE
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::EXPECT
        {
            return None;
        }
        let value = HeaderValue::from_bytes(header.value).ok()?;
        request.headers_mut().append(name, value);
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    Some(request)
}

/// How the body after a head is delimited.
enum Framing {
    Chunked,
    Length(usize),
}

/// The status line and headers of `response` as hyper would write them,
/// with `connection: close` (no second request is read on this path).
fn response_head(response: &Response<Body>, framing: Framing) -> Vec<u8> {
    let status = response.status();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if [
            header::CONNECTION,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !response.headers().contains_key(header::DATE) {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Length(length) => {
            head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
        }
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

/// Writes an answer that is not an event stream (a refusal: 400, 404, 429,
/// 503...), then closes.
async fn write_plain(mut stream: TcpStream, response: Response<Body>) {
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_PLAIN_BODY).await else {
        tracing::warn!(status = %parts.status, "answer to a subscriber too long to write");
        return;
    };
    let head = response_head(
        &Response::from_parts(parts, Body::empty()),
        Framing::Length(body.len()),
    );
    if stream.write_all(&head).await.is_ok() && stream.write_all(&body).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    #[test]
    fn a_plain_subscription_is_taken() {
        let request = parse(
            b"GET /events?stream=a&last=0 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n",
            peer(),
        )
        .expect("taken");
        assert_eq!(request.uri(), "/events?stream=a&last=0");
        assert_eq!(request.headers()["last-event-id"], "5");
        assert_eq!(request.headers()["host"], "x");
        assert!(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some());
        assert!(parse(b"GET /events HTTP/1.1\r\n\r\n", peer()).is_some());
    }

    #[test]
    fn anything_else_is_left_to_hyper() {
        for head in [
            // Incomplete, or more than one request.
            &b"GET /events?stream=a HTTP/1.1\r\nHost: x\r\n"[..],
            b"GET /events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            // Other routes, methods, versions.
            b"GET /eventsx HTTP/1.1\r\n\r\n",
            b"GET /streams HTTP/1.1\r\n\r\n",
            b"HEAD /events HTTP/1.1\r\n\r\n",
            b"POST /events HTTP/1.1\r\n\r\n",
            b"GET /events HTTP/1.0\r\n\r\n",
            // A WebSocket, a body, an expectation.
            b"GET /events HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"GET /events HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GET /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /events HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            // Not HTTP.
            b"\x16\x03\x01\x02\x00",
        ] {
            assert!(
                parse(head, peer()).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        let head = format!("GET /events HTTP/1.1\r\n{many}\r\n");
        assert!(parse(head.as_bytes(), peer()).is_none());
    }

    #[test]
    fn the_head_says_chunked_or_its_length_and_close() {
        let mut response = Response::new(Body::empty());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        let head = String::from_utf8(response_head(&response, Framing::Chunked)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\ncontent-type: text/event-stream\r\n"));
        assert!(head.contains("\r\ndate: "));
        assert!(head.ends_with("transfer-encoding: chunked\r\nconnection: close\r\n\r\n"));
        assert!(!head.contains("content-length"), "{head}");

        *response.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        let head = String::from_utf8(response_head(&response, Framing::Length(12))).unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(head.ends_with("content-length: 12\r\nconnection: close\r\n\r\n"));
        assert_eq!(head.matches("content-length").count(), 1);
    }
}
