//! Scale-out: several real `malten` nodes sharing streams through real Redis
//! servers (and a real three-master Redis Cluster), as docs/cluster.md
//! describes. No mocks: `redis-server` and `redis-cli` must be installed
//! (`scripts/setup.sh test` does).
//!
//! Every wait has a deadline; nothing sleeps to let time pass except where
//! a test polls for a state with a deadline.

#[allow(dead_code)]
#[path = "../e2e/process.rs"]
mod process;

mod cluster_mode;
mod delivery;
mod faults;
mod llm;
mod rules;

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use malten_shared::sse;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long any single wait may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A `malten` node on Redis, killed (SIGKILL) on drop.
pub struct Node {
    child: Child,
    pub base: String,
}

impl Node {
    /// `malten --addr 127.0.0.1:0 --redis-url <url> <args>`, once listening.
    pub async fn start(redis_url: &str, args: &[&str]) -> Node {
        let mut child = Command::new(process::malten_binary())
            .args(["--addr", "127.0.0.1:0", "--redis-url", redis_url])
            .args(["--rate-per-second", "100000", "--rate-burst", "100000"])
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("MALTEN_REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("malten starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("listening") {
                    if let Some(rest) = line.split("addr=").nth(1) {
                        return rest.split_whitespace().next().unwrap().to_owned();
                    }
                }
            }
            panic!("malten exited before listening");
        })
        .await
        .expect("malten listens in time");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// Three nodes on the same Redis.
    pub async fn three(redis_url: &str) -> Vec<Node> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(Node::start(redis_url, &[]).await);
        }
        nodes
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `kill -9`.
    pub async fn kill9(&mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// `POST /messages`; the status and the JSON answer.
pub async fn post(node: &Node, stream: &str, text: &str) -> (u16, Value) {
    let response = client()
        .post(node.url("/messages"))
        .form(&[("stream", stream), ("message", text)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts and returns the stored message, failing the test otherwise.
pub async fn post_ok(node: &Node, stream: &str, text: &str) -> Value {
    let (status, body) = post(node, stream, text).await;
    assert_eq!(status, 201, "post to {stream} on {}: {body}", node.base);
    body
}

/// `POST /streams` with `form`; the status and the JSON answer.
pub async fn create(node: &Node, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(node.url("/streams"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub async fn get_json(node: &Node, path: &str) -> (u16, Value) {
    let response = client().get(node.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it holds or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {DEADLINE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One SSE event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A minimal SSE reader over `GET /events`.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    decoder: sse::Decoder,
    ready: VecDeque<Event>,
}

impl Sse {
    /// Subscribes on `node`, resuming after `last` if given; `Err` with the
    /// status if the node refuses.
    pub async fn open(node: &Node, stream: &str, last: Option<&str>) -> Result<Sse, u16> {
        let mut request = client()
            .get(node.url(&format!("/events?stream={stream}")))
            .timeout(Duration::from_secs(3600));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.map_err(|_| 0u16)?;
        if response.status() != 200 {
            return Err(response.status().as_u16());
        }
        Ok(Sse {
            body: Box::pin(response.bytes_stream()),
            decoder: sse::Decoder::new(),
            ready: VecDeque::new(),
        })
    }

    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(event) = self.ready.pop_front() {
                    return Some(event);
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => {
                        self.decoder.push(&chunk);
                        let ready = &mut self.ready;
                        self.decoder.drain(|block| {
                            if block.is_event() {
                                ready.push_back(Event {
                                    id: block.id.map(str::to_owned),
                                    event: block.event_name().to_owned(),
                                    data: block.data().to_owned(),
                                });
                            }
                        });
                    }
                    _ => return None,
                }
            }
        })
        .await
        .expect("an SSE event within the deadline")
    }

    /// The next event of kind `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Event {
        loop {
            let event = self.next().await.expect("the stream ended");
            if event.event == kind {
                return event;
            }
        }
    }

    /// The next `count` messages as `(id, created)`, failing on a gap.
    pub async fn messages(&mut self, count: usize) -> Vec<(String, String)> {
        let mut got = Vec::new();
        while got.len() < count {
            let event = self.next().await.expect("the stream ended");
            assert_ne!(event.event, "gap", "unexpected gap: {}", event.data);
            if event.event == "message" {
                let message = event.json();
                got.push(id_and_created(&message));
            }
        }
        got
    }
}

/// Every stored message of `stream` on `node`, oldest first, as
/// `(id, created)`.
pub async fn stored(node: &Node, stream: &str) -> Vec<(String, String)> {
    let path = format!("/messages?stream={stream}&direction=1&limit=1024");
    let (status, page) = get_json(node, &path).await;
    assert_eq!(status, 200, "GET {path}: {page}");
    page.as_array()
        .unwrap()
        .iter()
        .map(id_and_created)
        .collect()
}

pub fn id_and_created(message: &Value) -> (String, String) {
    (
        message["id"].as_str().unwrap().to_owned(),
        message["created"].as_str().unwrap().to_owned(),
    )
}
