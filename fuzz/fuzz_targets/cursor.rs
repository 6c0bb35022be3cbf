//! Resume cursors: `Last-Event-ID` and `last=` (`parse_cursor`, the wire
//! type `Cursor`), then the store's check that a cursor is one it can have
//! issued (`server/src/store/read.rs`).
//!
//! Properties: the header/parameter parser, `Cursor`'s `FromStr` and its
//! JSON form agree; an accepted cursor prints back to a text that parses to
//! itself; blank is "no cursor"; a refusal is 400 `invalid_parameter`. The
//! store answers a page for every cursor up to its newest message and
//! refuses (`invalid_cursor`, never an empty page) any cursor later than
//! the clock, so a future cursor cannot silently withhold posts.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use malten_server::engine::Page;
use malten_server::http::parse_cursor;
use malten_server::metrics::Metrics;
use malten_server::store::{Store, StoreError, StoreLimits};
use malten_shared::wire::{Cursor, MessageKind};
use malten_shared::StreamName;

/// A store with one message in the stream `s`, and that message's cursor.
fn store() -> &'static (Store, StreamName, Cursor) {
    static STORE: OnceLock<(Store, StreamName, Cursor)> = OnceLock::new();
    STORE.get_or_init(|| {
        let limits = StoreLimits {
            default_ttl: Duration::from_secs(86_400),
            min_ttl: Duration::from_secs(10),
            max_ttl: Duration::from_secs(86_400),
            max_streams: 10,
            max_memory_bytes: 1 << 24,
            pace_max_wait: Duration::ZERO,
            pace_window: 1,
        };
        let store = Store::new(limits, Arc::new(Metrics::new()));
        let name = StreamName::parse("s").expect("a valid name");
        let message = store
            .post(&name, "hello".into(), MessageKind::Message)
            .expect("a post to an empty store")
            .message;
        (store, name, message.created)
    })
}

fn now() -> Cursor {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Cursor(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_cursor("last", raw);
    let wire = raw.parse::<Cursor>();
    let json = serde_json::from_value::<Cursor>(serde_json::Value::String(raw.to_owned()));
    let cursor = match parsed {
        Ok(None) => {
            assert!(raw.trim().is_empty(), "only a blank value is no cursor");
            return;
        }
        Ok(Some(cursor)) => cursor,
        Err(err) => {
            assert_eq!(
                (err.status().as_u16(), err.code()),
                (400, "invalid_parameter")
            );
            assert!(
                wire.is_err() && json.is_err(),
                "{raw:?}: the parsers disagree"
            );
            return;
        }
    };
    assert_eq!(wire.ok(), Some(cursor), "{raw:?}: the parsers disagree");
    assert_eq!(json.ok(), Some(cursor), "{raw:?}: the parsers disagree");
    let text = cursor.to_string();
    assert_eq!(parse_cursor("last", &text).ok().flatten(), Some(cursor));
    let json = serde_json::to_string(&cursor).expect("a cursor serializes");
    assert_eq!(serde_json::from_str::<Cursor>(&json).ok(), Some(cursor));

    let (store, name, newest) = store();
    for page in [
        Page::Forward { after: cursor },
        Page::Backward {
            before: Some(cursor),
        },
    ] {
        let answer = store.page(name, page, 10);
        let later = now();
        match answer {
            Ok(_) => assert!(cursor <= later, "{cursor} is in the future, yet accepted"),
            Err(StoreError::InvalidCursor(refused)) => {
                assert_eq!(refused, cursor);
                assert!(cursor > *newest, "{cursor} was issued, yet refused");
            }
            Err(other) => panic!("{cursor}: unexpected {other:?}"),
        }
    }
});
