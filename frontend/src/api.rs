//! Every HTTP call the app makes goes through here, to the server that
//! served the app and nowhere else: no analytics, fonts or CDNs.

use gloo_net::http::{Request, Response};
use malten_shared::crypto::EncryptionParams;
use malten_shared::link::percent_encode;
use malten_shared::wire::{CommandsInfo, Cursor, ErrorBody, Message, StreamInfo};
use malten_shared::StreamName;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failed call, with a sentence that can be shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub message: String,
    /// The server's error code, when it sent one.
    pub code: Option<String>,
    pub status: Option<u16>,
    /// No answer at all (rather than an error answer): the server or the
    /// network is down.
    pub unanswered: bool,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiFailure {
    /// No answer at all; the app then says it is offline until the
    /// server answers again ([`crate::offline`]).
    fn unanswered(err: impl std::fmt::Display) -> Self {
        crate::offline::server_unreachable();
        Self {
            unanswered: true,
            ..Self::network(err)
        }
    }

    fn network(err: impl std::fmt::Display) -> Self {
        Self {
            message: format!("Cannot reach the server ({err})."),
            code: None,
            status: None,
            unanswered: false,
        }
    }
}

async fn parse<T: DeserializeOwned>(response: Response) -> Result<T, ApiFailure> {
    if !response.ok() {
        let status = response.status();
        return Err(match response.json::<ErrorBody>().await {
            Ok(body) => ApiFailure {
                message: capitalise(&body.error),
                code: Some(body.code),
                status: Some(status),
                unanswered: false,
            },
            Err(_) => ApiFailure {
                message: format!("The server answered {status}."),
                code: None,
                status: Some(status),
                unanswered: false,
            },
        });
    }
    response
        .json()
        .await
        .map_err(|err| ApiFailure::network(format!("unexpected answer: {err}")))
}

fn capitalise(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => format!(
            "{}{}.",
            first.to_uppercase(),
            chars.as_str().trim_end_matches('.')
        ),
        None => String::new(),
    }
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiFailure> {
    let response = Request::get(url)
        .send()
        .await
        .map_err(ApiFailure::unanswered)?;
    parse(response).await
}

async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, ApiFailure> {
    let response = Request::post(url)
        .json(body)
        .map_err(ApiFailure::network)?
        .send()
        .await
        .map_err(ApiFailure::unanswered)?;
    parse(response).await
}

/// `GET /streams`: the public streams.
pub async fn list_streams() -> Result<Vec<StreamInfo>, ApiFailure> {
    get("/streams").await
}

/// `GET /streams/{stream}`; `Ok(None)` when it does not exist (yet).
pub async fn stream_info(name: &StreamName) -> Result<Option<StreamInfo>, ApiFailure> {
    match get(&format!("/streams/{name}")).await {
        Ok(info) => Ok(Some(info)),
        Err(failure) if failure.status == Some(404) => Ok(None),
        Err(failure) => Err(failure),
    }
}

/// What `POST /streams` takes.
#[derive(Debug, Clone, Serialize)]
pub struct NewStream {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    pub private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    pub encrypted: bool,
    /// Salt, iterations and key check, sent as flat fields.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionParams>,
}

/// `POST /streams`.
pub async fn create_stream(new: &NewStream) -> Result<StreamInfo, ApiFailure> {
    post_json("/streams", new).await
}

/// `POST /messages`: a plain text, or an envelope for an encrypted stream.
pub async fn post_message(stream: &StreamName, message: &str) -> Result<Message, ApiFailure> {
    #[derive(Serialize)]
    struct Post<'a> {
        stream: &'a str,
        message: &'a str,
    }
    post_json(
        "/messages",
        &Post {
            stream: stream.as_str(),
            message,
        },
    )
    .await
}

/// `GET /messages`, newest first, before `before` (or from the newest).
pub async fn older_messages(
    stream: &StreamName,
    before: Option<Cursor>,
    limit: usize,
) -> Result<Vec<Message>, ApiFailure> {
    let last = before.map_or(0, |cursor| cursor.0);
    get(&format!(
        "/messages?stream={}&direction=-1&limit={limit}&last={last}",
        percent_encode(stream.as_str())
    ))
    .await
}

/// `GET /messages` forward from `after`, at most one message: only asked
/// to learn whether the server still accepts the cursor (it answers
/// `invalid_cursor` for one it cannot have issued, such as after it restarted
/// with its clock behind).
pub async fn probe_cursor(stream: &StreamName, after: Cursor) -> Result<(), ApiFailure> {
    get::<Vec<Message>>(&format!(
        "/messages?stream={}&limit=1&last={}",
        percent_encode(stream.as_str()),
        after.0
    ))
    .await
    .map(drop)
}

/// `GET /commands`: whether the server has an LLM.
pub async fn commands_info() -> Result<CommandsInfo, ApiFailure> {
    get("/commands").await
}

/// `POST /commands`: asks the LLM and returns its reply once complete.
///
/// On a plain stream the server also stores the prompt and the reply and
/// streams the reply to everyone; on an encrypted stream `plaintext` must be
/// true (the user agreed that this prompt leaves the encryption) and the
/// reply comes back only here.
pub async fn run_command(
    stream: &StreamName,
    prompt: &str,
    plaintext: bool,
) -> Result<String, ApiFailure> {
    #[derive(Serialize)]
    struct Ask<'a> {
        stream: &'a str,
        prompt: &'a str,
        plaintext: bool,
    }
    let response = Request::post("/commands")
        .json(&Ask {
            stream: stream.as_str(),
            prompt,
            plaintext,
        })
        .map_err(ApiFailure::network)?
        .send()
        .await
        .map_err(ApiFailure::unanswered)?;
    if !response.ok() {
        return Err(parse::<serde_json::Value>(response)
            .await
            .err()
            .unwrap_or_else(|| ApiFailure::network("unexpected answer")));
    }
    let body = response.text().await.map_err(ApiFailure::network)?;
    reply_from_events(&body)
}

/// The reply (or the error) in the event stream of `POST /commands`.
fn reply_from_events(body: &str) -> Result<String, ApiFailure> {
    for (event, data) in sse_events(body).into_iter().rev() {
        match event.as_str() {
            "reply" => {
                let reply: serde_json::Value =
                    serde_json::from_str(&data).map_err(ApiFailure::network)?;
                return Ok(reply["text"].as_str().unwrap_or_default().to_owned());
            }
            "error" => {
                let error: ErrorBody = serde_json::from_str(&data).map_err(ApiFailure::network)?;
                return Err(ApiFailure {
                    message: capitalise(&error.error),
                    code: Some(error.code),
                    status: None,
                    unanswered: false,
                });
            }
            _ => {}
        }
    }
    Err(ApiFailure::network("the reply ended early"))
}

/// `(event, data)` pairs of a complete Server-Sent Events body.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    event = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (!data.is_empty()).then_some((event, data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_is_read_from_the_command_events() {
        let body = "event: partial\ndata: {\"delta\":\"Hi\"}\n\nevent: reply\ndata: {\"text\":\"Hi there\"}\n\n";
        assert_eq!(reply_from_events(body), Ok("Hi there".to_owned()));
    }

    #[test]
    fn an_error_event_becomes_a_failure_with_its_code() {
        let body = "event: partial\ndata: {}\n\nevent: error\ndata: {\"error\":\"the model timed out\",\"code\":\"llm_timeout\"}\n\n";
        let failure = reply_from_events(body).unwrap_err();
        assert_eq!(failure.code.as_deref(), Some("llm_timeout"));
        assert_eq!(failure.message, "The model timed out.");
    }
}
