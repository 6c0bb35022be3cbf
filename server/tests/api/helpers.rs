//! `spawn_app()` and typed helpers for talking to a running server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use malten_server::config::Config;
use malten_shared::sse;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// The app's own Redis when the suite runs on the Redis backend.
    _redis: Option<malten_tests::redis_server::RedisServer>,
}

/// A server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose configuration `configure` adjusts first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        malten_server::telemetry::init("text");
    }
    let mut config = Config::defaults();
    // Tests post in bursts; only the rate-limit tests want the real limit.
    config.rate_per_second = 100_000;
    config.rate_burst = 100_000;
    // The LLM is off unless a test points it at a stub, whatever the
    // environment of the test run says.
    config.llm_api_key = None;
    config.llm_base_url = None;
    config.llm_rate_per_minute = 100_000;
    config.llm_rate_burst = 100_000;
    // Memory unless asked: `MALTEN_TEST_REDIS=1` runs the suite with each
    // app on a Redis of its own (docs/cluster.md, docs/testing.md).
    config.redis_url = None;
    configure(&mut config);
    let redis = if std::env::var_os("MALTEN_TEST_REDIS").is_some() && config.redis_url.is_none() {
        let server = malten_tests::redis_server::RedisServer::start()
            .await
            .expect("redis-server for MALTEN_TEST_REDIS");
        config.redis_url = Some(server.url().parse().unwrap());
        Some(server)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(malten_server::run(listener, config, async {
        let _ = rx.await;
    }));
    let on_redis = redis.is_some();
    let app = TestApp {
        addr,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        shutdown: Some(tx),
        server: Some(server),
        _redis: redis,
    };
    if on_redis {
        // Connecting to Redis comes before serving: wait until the app
        // answers, so raw-socket tests do not race its start.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while app.client.get(app.url("/healthz")).send().await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the app did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    app
}

/// The API key the LLM tests configure; it must never leak either.
pub const TEST_API_KEY: &str = "sk-test-KEY-9b2c71";

/// A server whose LLM is the stub, with short timeouts; `configure` runs last.
pub async fn spawn_app_with_llm(
    stub: &malten_tests::llm_stub::LlmStub,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let base_url = stub.base_url.clone();
    spawn_app_with(move |config| {
        config.llm_base_url = Some(base_url);
        config.llm_api_key = Some(TEST_API_KEY.parse().unwrap());
        config.llm_first_token_timeout_secs = 5.0;
        config.llm_total_timeout_secs = 8.0;
        configure(config);
    })
    .await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET path`, expecting JSON.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// `POST /messages` as a form.
    pub async fn post_message(&self, stream: &str, text: &str) -> reqwest::Response {
        self.client
            .post(self.url("/messages"))
            .form(&[("stream", stream), ("message", text)])
            .send()
            .await
            .unwrap()
    }

    /// Posts and returns the stored message, failing the test on an error.
    pub async fn post_ok(&self, stream: &str, text: &str) -> Value {
        let response = self.post_message(stream, text).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "post to {stream} failed"
        );
        response.json().await.unwrap()
    }

    /// `POST /commands` as a form.
    pub async fn post_command(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/commands"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /commands`, expecting the streamed answer; returns its events.
    pub async fn command_ok(&self, stream: &str, prompt: &str) -> Vec<SseEvent> {
        let response = self
            .post_command(&[("stream", stream), ("prompt", prompt)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "command in {stream} failed"
        );
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient::from_response(response).all_events().await
    }

    /// `POST /streams` with form parameters.
    pub async fn create_stream(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/streams"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Messages of a page, as returned by `GET /messages?query`.
    pub async fn messages(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/messages?{query}")).await;
        assert_eq!(status, StatusCode::OK, "GET /messages?{query}: {body}");
        body.as_array().unwrap().clone()
    }

    /// Opens `GET /events?query` as SSE, optionally with `Last-Event-ID`.
    pub async fn sse(&self, query: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = self.client.get(self.url(&format!("/events?{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "SSE request failed");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient::from_response(response)
    }

    /// Waits until `stream` has `observers` subscribers.
    pub async fn wait_for_observers(&self, stream: &str, observers: u64) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (status, info) = self.get_json(&format!("/streams/{stream}")).await;
            if status == StatusCode::OK && info["observers"] == observers {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{stream} never reached {observers} observers: {info}"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The value of an unlabelled counter or gauge in `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        let prefix = format!("{name} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Sends the shutdown signal and waits for `run` to return.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("shut down once");
        tokio::time::timeout(Duration::from_secs(6), server).await??
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// Asserts the response is the API's JSON error with this status and code.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["code"], code, "unexpected code in {body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|sentence| sentence.len() > 10),
        "error needs a human sentence: {body}"
    );
    body
}

/// One parsed SSE event, or a comment line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
    /// Set for `: comment` blocks such as keep-alives.
    pub comment: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }

    /// An event or a comment; `None` for blocks that are neither (`retry:`).
    fn from_block(block: sse::Block<'_>) -> Option<Self> {
        if block.is_event() {
            Some(SseEvent {
                id: block.id.map(str::to_owned),
                event: block.event_name().to_owned(),
                data: block.data().to_owned(),
                comment: None,
            })
        } else {
            block.comment.map(|comment| SseEvent {
                comment: Some(comment.to_owned()),
                ..SseEvent::default()
            })
        }
    }
}

/// A minimal SSE reader that also reports comments (which browsers hide).
pub struct SseClient {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    decoder: sse::Decoder,
    ready: VecDeque<SseEvent>,
}

impl SseClient {
    pub fn from_response(response: reqwest::Response) -> Self {
        SseClient {
            body: Box::pin(response.bytes_stream()),
            decoder: sse::Decoder::new(),
            ready: VecDeque::new(),
        }
    }

    /// Every event until the server ends the response.
    pub async fn all_events(mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(block) = self.next_block().await {
            if block.comment.is_none() {
                events.push(block);
            }
        }
        events
    }

    /// The next event or comment block; `None` when the server closed.
    pub async fn next_block(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(event) = self.ready.pop_front() {
                    return Some(event);
                }
                match self.body.next().await {
                    Some(Ok(chunk)) => {
                        self.decoder.push(&chunk);
                        let ready = &mut self.ready;
                        self.decoder
                            .drain(|block| ready.extend(SseEvent::from_block(block)));
                    }
                    _ => return None,
                }
            }
        })
        .await
        .expect("no SSE event within the deadline")
    }

    /// The next real event (skipping comments).
    pub async fn next_event(&mut self) -> SseEvent {
        loop {
            let block = self.next_block().await.expect("the stream ended");
            if block.comment.is_none() {
                return block;
            }
        }
    }

    /// The next event of kind `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> SseEvent {
        loop {
            let event = self.next_event().await;
            if event.event == kind {
                return event;
            }
        }
    }

    /// The texts of the next `n` message events, failing on a gap.
    pub async fn texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::with_capacity(n);
        while texts.len() < n {
            let event = self.next_event().await;
            match event.event.as_str() {
                "message" => texts.push(event.json()["text"].as_str().unwrap().to_owned()),
                "presence" => {}
                other => panic!("unexpected {other} event: {}", event.data),
            }
        }
        texts
    }
}

/// Strings `prefix-0 .. prefix-{n-1}`.
pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}
