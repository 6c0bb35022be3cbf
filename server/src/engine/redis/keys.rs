//! Key and channel names, and the few conversions between Redis values and
//! cursors.
//!
//! A stream's keys all carry the stream name as a hash tag (`{name}`), so
//! in a Redis Cluster they live on one shard and one Lua script can touch
//! them all. Stream names are limited to `[A-Za-z0-9._~-]`, so a name can
//! never contain a brace and break out of its tag.

use malten_shared::wire::Cursor;
use malten_shared::StreamName;

/// Every key and channel starts with this, so Malten can share a Redis.
const PREFIX: &str = "malten:";

/// The sorted set of every stream, scored by the Unix millisecond after
/// which it expires if idle: the global stream count.
pub const ALL_STREAMS: &str = "malten:streams";

/// The sorted set of public streams, scored by their last activity in Unix
/// milliseconds: the listing's index.
pub const PUBLIC_STREAMS: &str = "malten:public";

/// The keys and channel of one stream.
#[derive(Debug, Clone)]
pub struct StreamKeys {
    /// Hash: private, ttl, enc, born, ls/lns (last cursor), dropped, epoch.
    pub meta: String,
    /// Redis stream of messages; entry id `<cursor>-0`, field `m` = JSON.
    pub log: String,
    /// Hash: node id → `count:deadline_ms`.
    pub presence: String,
    /// Pub/sub channel: `m<prev> <json>`, `P<after> <json>`, `p<count>`.
    pub channel: String,
}

impl StreamKeys {
    pub fn new(name: &StreamName) -> Self {
        let tag = format!("{PREFIX}{{{}}}", name.as_str());
        Self {
            meta: format!("{tag}:meta"),
            log: format!("{tag}:log"),
            presence: format!("{tag}:presence"),
            channel: format!("{tag}:ch"),
        }
    }
}

/// The stream a channel belongs to, if it is one of ours.
pub fn stream_of_channel(channel: &str) -> Option<StreamName> {
    let inner = channel.strip_prefix("malten:{")?.strip_suffix("}:ch")?;
    StreamName::parse(inner).ok()
}

/// A cursor as a script returned it (a decimal string).
pub fn parse_cursor(raw: &str) -> Option<Cursor> {
    raw.parse().ok()
}

/// Splits `<cursor> <rest>` as published on a channel.
pub fn split_cursor(payload: &str) -> Option<(Cursor, &str)> {
    let (cursor, rest) = payload.split_once(' ')?;
    Some((parse_cursor(cursor)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_keys_share_one_hash_tag_and_its_channel_maps_back() {
        let name = StreamName::parse("lobby.1").unwrap();
        let keys = StreamKeys::new(&name);
        for key in [&keys.meta, &keys.log, &keys.presence, &keys.channel] {
            assert!(key.starts_with("malten:{lobby.1}:"), "{key}");
        }
        assert_eq!(stream_of_channel(&keys.channel), Some(name));
        assert_eq!(stream_of_channel("malten:{a}:meta"), None);
        assert_eq!(stream_of_channel("other:{a}:ch"), None);
    }

    #[test]
    fn published_payloads_split_into_cursor_and_rest() {
        assert_eq!(
            split_cursor("42 {\"a\":1}"),
            Some((Cursor(42), "{\"a\":1}"))
        );
        assert_eq!(split_cursor("x {}"), None);
        assert_eq!(split_cursor("42"), None);
    }
}
