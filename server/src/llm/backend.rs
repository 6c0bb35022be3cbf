//! The client of an OpenAI-compatible chat-completions API.
//!
//! One request per reply: `POST {base_url}/chat/completions` with
//! `"stream": true`; the answer is Server-Sent Events whose `data:` lines are
//! JSON chunks carrying `choices[0].delta.content`, ending with
//! `data: [DONE]`. OpenAI, Ollama, llama.cpp's server and vLLM all speak it.
//!
//! The rest of the server sees only [`ChatBackend`], so tests can substitute
//! a canned backend, and only [`LlmError`]s, whose sentences never contain
//! what the provider sent back. The provider's body is not even read when
//! it reports an error: only its status code is kept.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::{Deserialize, Serialize};

use super::{LlmError, ProviderFailure};
use crate::config::ApiKey;

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One turn, as the chat-completions API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// Characters of content, the unit of the context budget.
    pub fn chars(&self) -> usize {
        self.content.chars().count()
    }
}

/// Everything one reply is asked with.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    pub seed: Option<i64>,
}

/// The pieces of a reply as they arrive; empty pieces are never yielded.
pub type Deltas = BoxStream<'static, Result<String, LlmError>>;

/// Something that can generate a streamed reply.
pub trait ChatBackend: Send + Sync + 'static {
    /// Sends the request. Resolves when the backend has accepted it (an
    /// HTTP 2xx); the pieces of the reply then come from the stream.
    fn stream_chat(&self, request: ChatRequest) -> BoxFuture<'static, Result<Deltas, LlmError>>;
}

/// The chat-completions API over HTTP.
#[derive(Debug, Clone)]
pub struct OpenAiBackend {
    client: reqwest::Client,
    url: String,
    key: Option<ApiKey>,
}

impl OpenAiBackend {
    /// A client of `{base_url}/chat/completions`. Only the connection has a
    /// timeout here; the first-token and total deadlines are the caller's.
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        connect_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .user_agent(concat!("malten/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            key,
        })
    }
}

/// The JSON body of the request.
#[derive(Debug, Serialize)]
struct RequestBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
}

/// One `data:` chunk of the streamed answer. Only what we use is read;
/// everything else (ids, usage, roles) is ignored.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    /// Some providers report failures inside the stream.
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

impl ChatBackend for OpenAiBackend {
    fn stream_chat(&self, request: ChatRequest) -> BoxFuture<'static, Result<Deltas, LlmError>> {
        let body = RequestBody {
            model: &request.model,
            messages: &request.messages,
            stream: true,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            seed: request.seed,
        };
        let mut builder = self
            .client
            .post(&self.url)
            .header(ACCEPT, "text/event-stream")
            .json(&body);
        if let Some(key) = &self.key {
            builder = builder.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        async move {
            let response = builder.send().await.map_err(|err| {
                // The error's text can name the URL; keep only its kind.
                tracing::warn!(
                    connect = err.is_connect(),
                    timeout = err.is_timeout(),
                    "cannot reach the language model provider"
                );
                LlmError::Provider(ProviderFailure::Unreachable)
            })?;
            let status = response.status();
            if !status.is_success() {
                // The body is dropped unread: it may echo the prompt or key.
                tracing::warn!(
                    status = status.as_u16(),
                    "the language model provider refused the request"
                );
                return Err(LlmError::Provider(ProviderFailure::Status(status.as_u16())));
            }
            Ok(deltas(response))
        }
        .boxed()
    }
}

/// The content pieces of a streamed answer, up to `[DONE]` or the end.
fn deltas(response: reqwest::Response) -> Deltas {
    let events = response.bytes_stream().eventsource();
    stream::unfold(Some(events), |events| async move {
        let mut events = events?;
        loop {
            let event = match events.next().await {
                None => return None,
                Some(Ok(event)) => event,
                Some(Err(_)) => {
                    tracing::warn!("the language model provider's stream broke off");
                    return Some((Err(LlmError::Provider(ProviderFailure::Interrupted)), None));
                }
            };
            match parse_data(&event.data) {
                Parsed::Done => return None,
                Parsed::Piece(piece) if piece.is_empty() => continue,
                Parsed::Piece(piece) => return Some((Ok(piece), Some(events))),
                Parsed::Failed => {
                    tracing::warn!("the language model provider sent an unreadable chunk");
                    return Some((Err(LlmError::Provider(ProviderFailure::Malformed)), None));
                }
            }
        }
    })
    .boxed()
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Piece(String),
    Done,
    Failed,
}

/// Reads one `data:` payload.
fn parse_data(data: &str) -> Parsed {
    let data = data.trim();
    if data == "[DONE]" {
        return Parsed::Done;
    }
    if data.is_empty() {
        return Parsed::Piece(String::new());
    }
    match serde_json::from_str::<Chunk>(data) {
        Ok(chunk) if chunk.error.is_none() => Parsed::Piece(
            chunk
                .choices
                .into_iter()
                .next()
                .and_then(|choice| choice.delta.content)
                .unwrap_or_default(),
        ),
        _ => Parsed::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_yield_their_content_and_done_ends_the_reply() {
        let cases = [
            (
                r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
                Parsed::Piece("Hel".into()),
            ),
            (
                r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
                Parsed::Piece(String::new()),
            ),
            (
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                Parsed::Piece(String::new()),
            ),
            (
                r#"{"choices":[],"usage":{"total_tokens":3}}"#,
                Parsed::Piece(String::new()),
            ),
            ("[DONE]", Parsed::Done),
            (" [DONE] ", Parsed::Done),
            (r#"{"error":{"message":"overloaded"}}"#, Parsed::Failed),
            ("not json", Parsed::Failed),
        ];
        for (data, expected) in cases {
            assert_eq!(parse_data(data), expected, "for {data}");
        }
    }

    #[test]
    fn the_request_body_maps_settings_to_openai_parameters() {
        let messages = [ChatMessage::new(Role::User, "hi")];
        let body = RequestBody {
            model: "m",
            messages: &messages,
            stream: true,
            max_tokens: 10,
            temperature: Some(0.5),
            seed: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                               "stream": true, "max_tokens": 10, "temperature": 0.5})
        );
    }
}
