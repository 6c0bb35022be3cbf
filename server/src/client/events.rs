//! A live subscription to a stream's Server-Sent Events, decoded with
//! `malten_shared::sse`, that reconnects by itself.
//!
//! Each event's `id:` is the subscriber's cursor; after a dropped
//! connection the subscription comes back with it as `Last-Event-ID`, so
//! nothing is missed and nothing is seen twice. Before it trusts the stream
//! again it describes it again: a stream that expired and was made again by
//! someone else in the meantime is refused ([`Opened::recheck`]).

use std::collections::VecDeque;
use std::time::Duration;

use malten_shared::sse::Decoder;
use malten_shared::wire::{Cursor, EventKind, Gap, Message, Presence, SystemNotice};
use reqwest::Response;

use super::output::notice;
use super::stream::Opened;
use super::ClientError;

/// Longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What a subscription hands out.
#[derive(Debug)]
pub enum Incoming {
    Message(Message),
    /// Messages after `after` were dropped before this subscriber saw them.
    Gap(Gap),
    /// The number of live subscribers changed.
    Presence(usize),
}

/// One subscription; see the module documentation.
pub struct Subscription<'a> {
    opened: &'a Opened,
    /// The cursor to resume after.
    last: Option<Cursor>,
    replay: bool,
    reconnect: bool,
    response: Option<Response>,
    decoder: Decoder,
    queue: VecDeque<Incoming>,
    /// A `retry:` the server asked for.
    retry: Option<Duration>,
}

impl<'a> Subscription<'a> {
    /// `replay`: start with every retained message, else with the next
    /// one. `reconnect`: come back after a dropped connection, else fail.
    pub fn new(opened: &'a Opened, replay: bool, reconnect: bool) -> Self {
        Subscription {
            opened,
            last: None,
            replay,
            reconnect,
            response: None,
            decoder: Decoder::new(),
            queue: VecDeque::new(),
            retry: None,
        }
    }

    /// Connects now (the first time), so that a refusal such as
    /// `409 pipe_full` is seen before anything else is done.
    pub async fn connect(&mut self) -> Result<(), ClientError> {
        if self.response.is_none() {
            let response = self
                .opened
                .api
                .events(&self.opened.stream, self.last, self.replay)
                .await?;
            self.response = Some(response);
        }
        Ok(())
    }

    /// The next event, waiting for it; reconnects as needed.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        let mut backoff = Duration::from_millis(500);
        loop {
            if let Some(incoming) = self.queue.pop_front() {
                return Ok(incoming);
            }
            let lost = match self.read_more().await {
                Ok(true) => continue,
                Ok(false) => "the server closed the connection".to_owned(),
                Err(err) if self.reconnect && err.is_transient() => err.to_string(),
                Err(err) => return Err(err),
            };
            if !self.reconnect {
                return Err(ClientError::Failed(lost));
            }
            self.response = None;
            self.decoder = Decoder::new();
            let wait = self.retry.unwrap_or(backoff).min(MAX_BACKOFF);
            notice(&format!("{lost}; reconnecting in {} ms", wait.as_millis()));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match self.opened.recheck().await {
                Ok(()) => {}
                Err(err) if err.is_transient() => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads one chunk into the queue; `false` at the end of the response.
    async fn read_more(&mut self) -> Result<bool, ClientError> {
        self.connect().await?;
        let response = self.response.as_mut().expect("connected");
        let chunk = response
            .chunk()
            .await
            .map_err(|err| ClientError::Unreachable {
                url: self.opened.api.base().to_owned(),
                reason: super::api::one_line(&err),
            })?;
        let Some(chunk) = chunk else {
            return Ok(false);
        };
        self.decoder.push(&chunk);
        let mut blocks = Vec::new();
        self.decoder.drain(|block| {
            blocks.push((
                block.id.map(str::to_owned),
                block.kind(),
                block.data.as_deref().map(str::to_owned),
                block.retry,
            ))
        });
        for (id, kind, data, retry) in blocks {
            if let Some(retry) = retry {
                self.retry = Some(Duration::from_millis(retry));
            }
            if let Some(cursor) = id.and_then(|id| id.parse().ok()) {
                self.last = Some(cursor);
            }
            let Some(data) = data else { continue };
            self.queue_event(kind, &data)?;
        }
        Ok(true)
    }

    fn queue_event(&mut self, kind: Option<EventKind>, data: &str) -> Result<(), ClientError> {
        let bad = |err: serde_json::Error| ClientError::Protocol(err.to_string());
        match kind {
            Some(EventKind::Message) => self
                .queue
                .push_back(Incoming::Message(serde_json::from_str(data).map_err(bad)?)),
            Some(EventKind::Gap) => self
                .queue
                .push_back(Incoming::Gap(serde_json::from_str(data).map_err(bad)?)),
            Some(EventKind::Presence) => {
                let presence: Presence = serde_json::from_str(data).map_err(bad)?;
                self.queue.push_back(Incoming::Presence(presence.observers));
            }
            Some(EventKind::System) => {
                if let Ok(system) = serde_json::from_str::<SystemNotice>(data) {
                    notice(&format!("server: {}", system.text));
                }
            }
            Some(EventKind::Partial) | None => {}
        }
        Ok(())
    }
}
