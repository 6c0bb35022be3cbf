//! The HTTP calls the client makes, and the server's JSON errors read back.
//!
//! Posts that are rate limited (`429` with `Retry-After`) are retried after
//! the time the server asks for, so `malten send < big-file` slows down to
//! what the server allows instead of failing half way.

use std::time::Duration;

use malten_shared::wire::{Cursor, ErrorBody, Message, StreamInfo};
use malten_shared::StreamName;
use reqwest::{RequestBuilder, Response, StatusCode};

use super::ClientError;

/// Longest wait for one request that is not a live event stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a rate-limited post is tried before giving up.
const RATE_LIMIT_TRIES: u32 = 600;

/// One server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("malten-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with these settings builds");
        Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The stream's description, `None` when it does not exist.
    pub async fn stream(&self, stream: &StreamName) -> Result<Option<StreamInfo>, ClientError> {
        let path = format!("/streams/{stream}");
        let response = self.send(self.http.get(self.url(&path))).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        json(check(response).await?).await.map(Some)
    }

    /// `POST /streams` with these form fields.
    pub async fn create(&self, form: &[(&str, String)]) -> Result<StreamInfo, ClientError> {
        let request = self.http.post(self.url("/streams")).form(form);
        json(check(self.send(request).await?).await?).await
    }

    /// Posts one message (text or envelope), waiting out rate limits.
    pub async fn post(&self, stream: &StreamName, message: &str) -> Result<Message, ClientError> {
        let form = [("stream", stream.as_str()), ("message", message)];
        let mut tries = 0;
        loop {
            let response = self
                .send(self.http.post(self.url("/messages")).form(&form))
                .await?;
            if response.status() == StatusCode::TOO_MANY_REQUESTS && tries < RATE_LIMIT_TRIES {
                tries += 1;
                tokio::time::sleep(retry_after(&response)).await;
                continue;
            }
            return json(check(response).await?).await;
        }
    }

    /// The newest `limit` messages, newest first.
    pub async fn messages(
        &self,
        stream: &StreamName,
        limit: usize,
    ) -> Result<Vec<Message>, ClientError> {
        let path = format!("/messages?stream={stream}&limit={limit}");
        json(check(self.send(self.http.get(self.url(&path))).await?).await?).await
    }

    /// Opens `GET /events` (Server-Sent Events). `resume` is sent as
    /// `Last-Event-ID`; `replay` asks for every retained message when there
    /// is nothing to resume from.
    pub async fn events(
        &self,
        stream: &StreamName,
        resume: Option<Cursor>,
        replay: bool,
    ) -> Result<Response, ClientError> {
        let mut path = format!("/events?stream={stream}");
        if resume.is_none() && replay {
            path.push_str("&last=0");
        }
        let mut request = self
            .http
            .get(self.url(&path))
            .header("accept", "text/event-stream");
        if let Some(cursor) = resume {
            request = request.header("last-event-id", cursor.to_string());
        }
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        check(response).await
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|err| self.unreachable(&err))
    }

    fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason: one_line(err),
        }
    }
}

/// How long the server asks us to wait, one second if it does not say.
fn retry_after(response: &Response) -> Duration {
    let secs = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs.clamp(1, 60))
}

/// The response when it is a success; its JSON error otherwise.
pub async fn check(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let (code, error) = match serde_json::from_str::<ErrorBody>(&body) {
        Ok(parsed) => (parsed.code, parsed.error),
        Err(_) => (
            "unknown".to_owned(),
            format!("HTTP {status} without a Malten error body"),
        ),
    };
    Err(ClientError::Server {
        status: status.as_u16(),
        code,
        error,
    })
}

async fn json<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, ClientError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|err| ClientError::Protocol(one_line(&err)))?;
    serde_json::from_slice(&bytes).map_err(|err| ClientError::Protocol(err.to_string()))
}

/// An error and its causes on one line.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
