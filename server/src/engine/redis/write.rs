//! Every write a client asks for: creating a stream, posting a message,
//! publishing a partial; and the checks they share with subscribing (the
//! stream cap, the TTL range, the global indexes). Apart from `mod.rs` so
//! the engine's entry point stays about connecting and subscribing.
//!
//! A post is one Lua script (`scripts.rs`): the message's JSON is built
//! here up to its cursor, which the script assigns, appends and publishes
//! in the same atomic step.

use malten_shared::crypto::check_envelope;
use malten_shared::limits::MAX_MESSAGES_PER_STREAM;
use malten_shared::wire::{Body, Cursor, Message, MessageKind, Partial, StreamInfo};
use malten_shared::{check_message_text, StreamName};

use super::keys::{self, StreamKeys, ALL_STREAMS, PUBLIC_STREAMS};
use super::scripts::{CREATE, PARTIAL, POST};
use super::{unexpected, RedisEngine};
use crate::engine::{EngineError, NewStream};
use crate::store::{random_id, random_stream_name, unix_nanos, StoreError};

impl RedisEngine {
    /// Refuses a new stream when `--max-streams` are in Redis. Nodes check
    /// and create in two steps, so concurrent creations on several nodes
    /// can pass the cap by at most their number (docs/cluster.md).
    pub(super) async fn check_capacity(&self) -> Result<(), EngineError> {
        let now_ms = unix_nanos().0 / 1_000_000;
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(ALL_STREAMS)
            .arg("-inf")
            .arg(now_ms)
            .ignore()
            .cmd("ZCARD")
            .arg(ALL_STREAMS);
        let (count,): (usize,) = self.backend.pipe(&pipe).await?;
        if count >= self.limits.max_streams {
            return Err(StoreError::TooManyStreams(self.limits.max_streams).into());
        }
        Ok(())
    }

    /// Records a stream in the global indexes after a create or post.
    pub(super) async fn index(
        &self,
        name: &StreamName,
        ttl_secs: u64,
        public: bool,
    ) -> Result<(), EngineError> {
        let now_ms = unix_nanos().0 / 1_000_000;
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(ALL_STREAMS)
            .arg("GT")
            .arg(now_ms + ttl_secs * 1000)
            .arg(name.as_str())
            .ignore();
        if public {
            pipe.cmd("ZADD")
                .arg(PUBLIC_STREAMS)
                .arg(now_ms)
                .arg(name.as_str())
                .ignore();
        }
        self.backend.pipe::<()>(&pipe).await
    }

    pub async fn create(&self, new: NewStream) -> Result<StreamInfo, EngineError> {
        if new.pipe {
            return Err(EngineError::PipesUnsupported);
        }
        let ttl = self.limits.ttl(new.ttl_secs)?;
        if let Some(params) = &new.encryption {
            params.validate().map_err(StoreError::from)?;
        }
        let name = new.name.unwrap_or_else(random_stream_name);
        self.check_capacity().await?;
        let keys = StreamKeys::new(&name);
        let encryption = match &new.encryption {
            Some(params) => serde_json::to_string(params).expect("parameters serialize"),
            None => String::new(),
        };
        let born: Option<String> = self
            .backend
            .script(
                CREATE
                    .key(&keys.meta)
                    .key(&keys.log)
                    .arg(if new.private { "1" } else { "0" })
                    .arg(ttl.as_secs())
                    .arg(encryption),
            )
            .await?;
        let born = born
            .and_then(|raw| keys::parse_cursor(&raw))
            .ok_or_else(|| StoreError::StreamExists(name.clone()))?;
        self.index(&name, ttl.as_secs(), !new.private).await?;
        Ok(StreamInfo {
            stream: name,
            private: new.private,
            ttl: ttl.as_secs(),
            updated: born,
            messages: 0,
            observers: 0,
            encrypted: new.encryption.is_some(),
            encryption: new.encryption,
            pipe: false,
        })
    }

    /// Appends a message in one script; a new name is created (unlisted)
    /// only once the stream cap allows it and the text is a valid message.
    pub async fn post(
        &self,
        name: &StreamName,
        raw: String,
        kind: MessageKind,
    ) -> Result<Message, EngineError> {
        let as_text = check_message_text(&raw);
        let as_envelope = check_envelope(&raw);
        let id = random_id();
        let head = |body: Body| json_head(&id, name, body, kind);
        let text_head = match as_text {
            Ok(()) => head(Body::Text(raw.clone())),
            Err(_) => String::new(),
        };
        let envelope_head = match as_envelope {
            Ok(()) => head(Body::Envelope(raw.clone())),
            Err(_) => String::new(),
        };
        let keys = StreamKeys::new(name);
        let mut create = false;
        loop {
            let reply: Vec<String> = self
                .backend
                .script(
                    POST.key(&keys.meta)
                        .key(&keys.log)
                        .arg(&text_head)
                        .arg(&envelope_head)
                        .arg(self.limits.default_ttl.as_secs())
                        .arg(if create { "1" } else { "0" })
                        .arg(MAX_MESSAGES_PER_STREAM)
                        .arg(&keys.channel),
                )
                .await?;
            match reply.first().map(String::as_str) {
                Some("ok") => {
                    let posted =
                        parse_posted(&reply).ok_or_else(|| unexpected("post script reply"))?;
                    self.metrics.posts.inc();
                    self.metrics.drops.inc_by(posted.dropped);
                    self.index(name, posted.ttl, !posted.private).await?;
                    let body = if posted.encrypted {
                        Body::Envelope(raw)
                    } else {
                        Body::Text(raw)
                    };
                    let created = posted.created;
                    return Ok(Message {
                        id,
                        stream: name.clone(),
                        body,
                        kind,
                        created,
                    });
                }
                Some("absent") => {
                    // A post to a new name creates a plain stream: the text
                    // rule applies, and the stream cap.
                    as_text.clone().map_err(StoreError::from)?;
                    self.check_capacity().await?;
                    create = true;
                }
                Some("text") => return Err(StoreError::from(as_text.unwrap_err()).into()),
                Some("envelope") => return Err(StoreError::from(as_envelope.unwrap_err()).into()),
                _ => return Err(unexpected("post script reply")),
            }
        }
    }

    /// Sends a preview to every node's subscribers of an existing stream.
    pub async fn publish_partial(&self, partial: Partial) -> Result<(), EngineError> {
        let keys = StreamKeys::new(&partial.stream);
        let json = serde_json::to_string(&partial).expect("a partial serializes");
        let _: i64 = self
            .backend
            .script(PARTIAL.key(&keys.meta).arg(&keys.channel).arg(json))
            .await?;
        Ok(())
    }
}

/// The message's JSON up to the value of `created` (the script appends the
/// cursor and `"}`).
fn json_head(id: &str, name: &StreamName, body: Body, kind: MessageKind) -> String {
    let message = Message {
        id: id.to_owned(),
        stream: name.clone(),
        body,
        kind,
        created: Cursor::START,
    };
    let mut json = serde_json::to_string(&message).expect("a message serializes");
    // `created` is the last member: `…,"created":"0"}`.
    let tail = "0\"}";
    debug_assert!(json.ends_with(&format!("\"created\":\"{tail}")));
    json.truncate(json.len() - tail.len());
    json
}

/// What the post script says about a stored message.
struct Posted {
    created: Cursor,
    private: bool,
    ttl: u64,
    dropped: u64,
    encrypted: bool,
}

fn parse_posted(reply: &[String]) -> Option<Posted> {
    Some(Posted {
        created: keys::parse_cursor(reply.get(1)?)?,
        private: reply.get(2)? == "1",
        ttl: reply.get(3)?.parse().ok()?,
        dropped: reply.get(4)?.parse().ok()?,
        encrypted: reply.get(5)? == "1",
    })
}
