//! A TCP proxy in front of the server whose open connections a test can cut,
//! to make the browser's live connection drop while the server keeps going,
//! and which can rewrite the head of every request passing through it, to
//! make the browser's requests carry what a test needs (such as a cursor
//! the server cannot have issued).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Rewrites a request head (request line and headers, up to and including
/// the blank line).
pub type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

pub struct Proxy {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<AtomicUsize>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Forwards every connection made to the returned address to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        Self::start_with(upstream, None).await
    }

    /// Like [`Proxy::start`], passing the head of every request through
    /// `rewrite` (bodies and answers go through as they are).
    pub async fn start_rewriting(upstream: SocketAddr, rewrite: Rewrite) -> Proxy {
        Self::start_with(upstream, Some(rewrite)).await
    }

    async fn start_with(upstream: SocketAddr, rewrite: Option<Rewrite>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let connections = Arc::clone(&connections);
            let accepted = Arc::clone(&accepted);
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let rewrite = rewrite.clone();
                    let pipe = tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        match rewrite {
                            None => {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                            Some(rewrite) => forward_rewriting(client, server, rewrite).await,
                        }
                    });
                    connections.lock().unwrap().push(pipe);
                }
            })
        };
        Proxy {
            addr,
            connections,
            accepted,
            acceptor,
        }
    }

    /// Drops every connection open right now; new ones are still accepted.
    pub fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

/// One connection: answers go back untouched; each request's head is
/// rewritten and its `Content-Length` body copied after it (browsers send
/// no chunked request bodies here).
async fn forward_rewriting(client: TcpStream, server: TcpStream, rewrite: Rewrite) {
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let answers =
        tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut requests = BufReader::new(client_read);
    'requests: loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match requests.read_line(&mut line).await {
                Ok(0) | Err(_) => break 'requests,
                Ok(_) => head.push_str(&line),
            }
            if line == "\r\n" {
                break;
            }
        }
        let head = rewrite(&head);
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<u64>().ok())?
            })
            .unwrap_or(0);
        if server_write.write_all(head.as_bytes()).await.is_err() {
            break;
        }
        let mut body = (&mut requests).take(length);
        if tokio::io::copy(&mut body, &mut server_write).await.is_err() {
            break;
        }
    }
    drop(server_write);
    let _ = answers.await;
}
