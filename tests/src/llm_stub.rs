//! A local OpenAI-compatible chat-completions server for the LLM tests.
//!
//! It records every request (JSON body and headers), answers with canned
//! pieces as streamed chunks, and can be told to fail (HTTP 500 with a body
//! full of secrets that must never reach a client or a log), to stall (never
//! answer), or to hold a reply after its first piece until released (to keep
//! a generation in flight for the concurrency tests).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::watch;

/// Appears in the failing provider's body; must never leak.
pub const PROVIDER_SECRET: &str = "sk-provider-body-SECRET-4f1e";

/// How the stub answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Streams these pieces, then `[DONE]`.
    Reply(Vec<String>),
    /// Streams the first piece, then waits for [`LlmStub::release`].
    Held(Vec<String>),
    /// Answers 500 with a secret-looking body.
    Fail,
    /// Accepts the request and never answers.
    Stall,
}

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: Value,
    pub headers: HeaderMap,
}

impl Recorded {
    /// `(role, content)` of every message sent.
    pub fn turns(&self) -> Vec<(String, String)> {
        self.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

struct StubState {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<Recorded>>,
    released: watch::Sender<bool>,
}

pub struct LlmStub {
    /// What to pass as `--llm-base-url`.
    pub base_url: String,
    state: Arc<StubState>,
    server: tokio::task::JoinHandle<()>,
}

impl LlmStub {
    pub async fn start(mode: Mode) -> Self {
        let state = Arc::new(StubState {
            mode: Mutex::new(mode),
            requests: Mutex::default(),
            released: watch::channel(false).0,
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            state,
            server,
        }
    }

    /// A stub that answers with `pieces`.
    pub async fn replying(pieces: &[&str]) -> Self {
        Self::start(Mode::Reply(
            pieces.iter().map(|p| (*p).to_owned()).collect(),
        ))
        .await
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Lets every held reply finish.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for LlmStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn completions(
    State(state): State<Arc<StubState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    state
        .requests
        .lock()
        .unwrap()
        .push(Recorded { body, headers });
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Fail => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": format!("internal failure, key {PROVIDER_SECRET}")}})),
        )
            .into_response(),
        Mode::Stall => std::future::pending().await,
        Mode::Reply(pieces) => sse(pieces, None),
        Mode::Held(pieces) => sse(pieces, Some(state.released.subscribe())),
    }
}

/// The pieces as chat-completion chunks; with `hold`, everything after the
/// first piece waits until released.
fn sse(pieces: Vec<String>, hold: Option<watch::Receiver<bool>>) -> Response {
    let mut chunks = vec![chunk(json!({"role": "assistant"}))];
    chunks.extend(pieces.iter().map(|piece| chunk(json!({"content": piece}))));
    chunks.push(chunk(json!({})));
    chunks.push("data: [DONE]\n\n".to_owned());
    let body = stream::unfold(
        (chunks.into_iter().enumerate(), hold),
        |(mut chunks, mut hold)| async move {
            let (index, chunk) = chunks.next()?;
            // Chunk 0 is the role, 1 the first piece: hold before the second.
            if index == 2 {
                if let Some(released) = hold.as_mut() {
                    let _ = released.wait_for(|released| *released).await;
                }
            }
            Some((Ok::<_, std::convert::Infallible>(chunk), (chunks, hold)))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

fn chunk(delta: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}
