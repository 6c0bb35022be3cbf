//! Every HTTP call the app makes goes through here, to the server that
//! served the app and nowhere else: no analytics, fonts or CDNs.

use gloo_net::http::{Request, Response};
use malten_shared::crypto::EncryptionParams;
use malten_shared::wire::{Cursor, ErrorBody, Message, StreamInfo};
use malten_shared::StreamName;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::route::percent_encode;

/// A failed call, with a sentence that can be shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub message: String,
    /// The server's error code, when it sent one.
    pub code: Option<String>,
    pub status: Option<u16>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiFailure {
    fn network(err: impl std::fmt::Display) -> Self {
        Self {
            message: format!("Cannot reach the server ({err})."),
            code: None,
            status: None,
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
            },
            Err(_) => ApiFailure {
                message: format!("The server answered {status}."),
                code: None,
                status: Some(status),
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
        .map_err(ApiFailure::network)?;
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
        .map_err(ApiFailure::network)?;
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
