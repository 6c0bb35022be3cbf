//! Reading streams held in Redis without subscribing: pages, one message by
//! id, the recent run the LLM gets, one stream's description and the public
//! listing; whether a stream is encrypted; and the batch read
//! subscriptions fall back to.
//!
//! Every read skips messages older than the stream's TTL (the script
//! compares with Redis's clock), so what a client sees does not depend on
//! when the next post trims them, as in memory.

use std::sync::Arc;

use bytes::Bytes;
use malten_shared::crypto::EncryptionParams;
use malten_shared::wire::{Cursor, Message, StreamInfo};
use malten_shared::StreamName;

use super::keys::{self, StreamKeys, PUBLIC_STREAMS};
use super::scripts::{INFO, READ};
use super::{unexpected, RedisEngine};
use crate::engine::{EngineError, Page, Stored};
use crate::store::{unix_nanos, StoreError};

/// The most a backward read returns: the whole retained stream.
const WHOLE_STREAM: usize = malten_shared::limits::MAX_MESSAGES_PER_STREAM;

/// One batch read from Redis and what a reader needs to detect a gap.
#[derive(Debug)]
pub struct Batch {
    pub last: Cursor,
    pub born: Cursor,
    pub dropped_through: Cursor,
    /// The messages' JSON, in the order read.
    pub json: Vec<String>,
}

impl RedisEngine {
    async fn read(
        &self,
        name: &StreamName,
        forward: bool,
        cursor: Option<Cursor>,
        count: usize,
    ) -> Result<Option<Batch>, EngineError> {
        let keys = StreamKeys::new(name);
        let cursor = cursor.map_or_else(|| "+".to_owned(), |cursor| cursor.to_string());
        let reply: Option<Vec<String>> = self
            .backend
            .script(
                READ.key(&keys.meta)
                    .key(&keys.log)
                    .arg(if forward { "after" } else { "before" })
                    .arg(cursor)
                    .arg(count),
            )
            .await?;
        let Some(mut reply) = reply else {
            return Ok(None);
        };
        if reply.len() < 3 {
            return Err(unexpected("read script reply"));
        }
        let json = reply.split_off(3);
        let cursor_at =
            |i: usize| keys::parse_cursor(&reply[i]).ok_or_else(|| unexpected("cursor"));
        Ok(Some(Batch {
            last: cursor_at(0)?,
            born: cursor_at(1)?,
            dropped_through: cursor_at(2)?,
            json,
        }))
    }

    /// Up to `count` messages after `cursor`, built once as [`Stored`], for
    /// a subscription the node's cache cannot serve. `None`: no stream.
    pub(super) async fn read_after(
        &self,
        name: &StreamName,
        cursor: Cursor,
        count: usize,
    ) -> Result<Option<ReadAfter>, EngineError> {
        let Some(batch) = self.read(name, true, Some(cursor), count).await? else {
            return Ok(None);
        };
        let now = tokio::time::Instant::now();
        let messages = batch
            .json
            .iter()
            .map(|json| parse(json).map(|message| Arc::new(Stored::new(message, now))))
            .collect::<Result<_, _>>()?;
        Ok(Some(ReadAfter {
            born: batch.born,
            dropped_through: batch.dropped_through,
            messages,
        }))
    }

    /// A page as a JSON array; an unknown stream is `[]`. A cursor newer
    /// than anything the stream (or the clock) can have issued is refused.
    pub async fn page(
        &self,
        name: &StreamName,
        page: Page,
        limit: usize,
    ) -> Result<Bytes, EngineError> {
        let (forward, cursor) = match page {
            Page::Forward { after } => (true, Some(after)),
            Page::Backward { before } => (false, before),
        };
        let batch = self.read(name, forward, cursor, limit).await?;
        let last = batch.as_ref().map_or(Cursor::START, |batch| batch.last);
        if let Some(cursor) = cursor {
            if cursor > unix_nanos().max(last) {
                return Err(StoreError::InvalidCursor(cursor).into());
            }
        }
        Ok(json_array(
            batch.map(|batch| batch.json).unwrap_or_default(),
        ))
    }

    /// One message by id, as a one-element JSON array.
    pub async fn by_id(&self, name: &StreamName, id: &str) -> Result<Bytes, EngineError> {
        let batch = self.read(name, false, None, WHOLE_STREAM).await?;
        for json in batch.map(|batch| batch.json).unwrap_or_default() {
            if parse(&json)?.id == id {
                return Ok(json_array([json]));
            }
        }
        Err(StoreError::MessageNotFound.into())
    }

    /// The newest plain-text messages, oldest first, within `max_chars`.
    pub async fn recent(
        &self,
        name: &StreamName,
        max_chars: usize,
    ) -> Result<Vec<Message>, EngineError> {
        let batch = self.read(name, false, None, WHOLE_STREAM).await?;
        let mut budget = max_chars;
        let mut newest_first = Vec::new();
        for json in batch.map(|batch| batch.json).unwrap_or_default() {
            let message = parse(&json)?;
            let Some(text) = message.body.text() else {
                break;
            };
            let chars = text.chars().count();
            if chars > budget {
                break;
            }
            budget -= chars;
            newest_first.push(message);
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// One stream's description, listed or not.
    pub async fn describe(&self, name: &StreamName) -> Result<Option<StreamInfo>, EngineError> {
        let keys = StreamKeys::new(name);
        let reply: Option<(String, u64, String, String, usize, usize)> = self
            .backend
            .script(INFO.key(&keys.meta).key(&keys.log).key(&keys.presence))
            .await?;
        let Some((private, ttl, encryption, updated, messages, observers)) = reply else {
            return Ok(None);
        };
        let encryption: Option<EncryptionParams> = if encryption.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&encryption).map_err(|_| unexpected("encryption"))?)
        };
        Ok(Some(StreamInfo {
            stream: name.clone(),
            private: private == "1",
            ttl,
            updated: keys::parse_cursor(&updated).ok_or_else(|| unexpected("cursor"))?,
            messages,
            observers,
            encrypted: encryption.is_some(),
            encryption,
            pipe: false,
        }))
    }

    /// The public streams, most recently active first. Names whose stream
    /// has expired are dropped from the index on the way.
    pub async fn list_public(&self) -> Result<Vec<StreamInfo>, EngineError> {
        let names: Vec<String> = self
            .backend
            .cmd(
                redis::cmd("ZREVRANGE")
                    .arg(PUBLIC_STREAMS)
                    .arg(0)
                    .arg(self.limits.max_streams.saturating_sub(1)),
            )
            .await?;
        let names: Vec<StreamName> = names
            .iter()
            .filter_map(|name| StreamName::parse(name).ok())
            .collect();
        let described =
            futures_util::future::join_all(names.iter().map(|name| self.describe(name))).await;
        let mut infos = Vec::with_capacity(names.len());
        let mut gone = Vec::new();
        for (name, info) in names.iter().zip(described) {
            match info? {
                Some(info) if !info.private => infos.push(info),
                _ => gone.push(name.as_str().to_owned()),
            }
        }
        if !gone.is_empty() {
            let _: Result<(), _> = self
                .backend
                .cmd(redis::cmd("ZREM").arg(PUBLIC_STREAMS).arg(gone))
                .await;
        }
        infos.sort_by(|a, b| {
            b.updated
                .cmp(&a.updated)
                .then_with(|| a.stream.cmp(&b.stream))
        });
        Ok(infos)
    }

    pub async fn stream_is_encrypted(&self, name: &StreamName) -> Result<bool, EngineError> {
        let keys = StreamKeys::new(name);
        self.backend
            .cmd(redis::cmd("HEXISTS").arg(&keys.meta).arg("enc"))
            .await
    }
}

/// What [`RedisEngine::read_after`] returns.
#[derive(Debug)]
pub struct ReadAfter {
    pub born: Cursor,
    pub dropped_through: Cursor,
    pub messages: Vec<Arc<Stored>>,
}

fn parse(json: &str) -> Result<Message, EngineError> {
    serde_json::from_str(json).map_err(|_| unexpected("message"))
}

fn json_array(items: impl IntoIterator<Item = String>) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_bytes());
    }
    out.push(b']');
    Bytes::from(out)
}
