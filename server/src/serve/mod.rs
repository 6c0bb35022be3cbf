//! Accepting connections and serving HTTP/1.1 on them.
//!
//! `axum::serve` would do, but a subscriber is a connection held open for
//! as long as someone watches a stream, so what each connection costs and
//! how fast a small frame leaves matter more here than usual:
//! - `TCP_NODELAY` on every socket, so a small event is sent at once rather
//!   than held back by Nagle's algorithm until the previous one is
//!   acknowledged (tens of milliseconds with delayed acknowledgements);
//! - HTTP/1.1 only (browsers speak HTTP/2 only over TLS, which a reverse
//!   proxy terminates), which keeps the per-connection state small;
//! - a listen backlog of 1024, so bursts of (re)connecting subscribers are
//!   not dropped at the kernel's default of 128;
//! - a deadline for reading request headers, so idle half-open requests
//!   cannot hold connections forever;
//! - a subscription that is a connection's first request is served without
//!   hyper, its events written straight to the socket ([`takeover`]).

mod takeover;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Pending connections the kernel queues before `accept`.
const LISTEN_BACKLOG: u32 = 1024;

/// hyper's ceiling on a request head (bytes buffered before it is parsed).
pub const HYPER_MAX_BUF_BYTES: usize = 512 * 1024;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `stream` with hyper until the client leaves, or until shutdown
/// once the response in flight is finished.
async fn with_hyper(
    http: &http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(
                router
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });
    let connection = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = async { stopped.wait_for(|stop| *stop).await.map(drop) } => {
            // Finish the response in flight, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%err, "connection ended with an error");
    }
}

/// Binds `addr` with a deep listen backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for open connections to finish.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Above `http::contract`'s limits (8 KiB URI, 64 headers, 16 KiB
        // of headers), so those answer with the JSON body. Beyond these
        // hyper answers itself, with no body: 431 for a head over
        // `HYPER_MAX_BUF_BYTES` or more than 100 headers (hyper's default),
        // 414 for a URI over 65,534 bytes. hyper's header count is left at
        // its default on purpose: `max_headers` makes every connection keep
        // a heap buffer of that many header slots, 4 KiB more RSS per idle
        // SSE connection at 200 (measured with `make bench`).
        .max_buf_size(HYPER_MAX_BUF_BYTES);
    // Shared, so a connection's task holds a pointer, not the settings.
    let http = Arc::new(http);
    // Every connection task holds a receiver: once shutdown is signalled,
    // `closed()` on the sender completes when the last of them has finished.
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually out of file descriptors: back off briefly
                    // instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let http = Arc::clone(&http);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let stream =
                match takeover::serve(stream, peer, &router, HEADER_READ_TIMEOUT, &mut stopped)
                    .await
                {
                    takeover::Outcome::Served => return,
                    takeover::Outcome::Hyper(stream) => stream,
                };
            // Boxed: hyper's connection future is large, and inline it would
            // make every connection's task as large, the ones served by
            // `takeover` too.
            Box::pin(with_hyper(&http, stream, peer, router, stopped)).await;
        });
    }
    drop(listener);
    drop(stopped);
    stop.send_replace(true);
    stop.closed().await;
}
