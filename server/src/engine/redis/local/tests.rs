//! The per-stream cache on its own: contiguity across `prev`, the restart
//! when a message was missed, and the bound.

use std::collections::VecDeque;
use std::sync::Arc;

use super::*;
use malten_shared::wire::{Body, MessageKind};

fn stored(created: u64) -> Arc<Stored> {
    Arc::new(Stored::new(
        Message {
            id: created.to_string(),
            stream: StreamName::parse("s").unwrap(),
            body: Body::Text("x".into()),
            kind: MessageKind::Message,
            created: Cursor(created),
        },
        tokio::time::Instant::now(),
    ))
}

#[test]
fn the_cache_holds_a_contiguous_run_and_restarts_when_a_message_was_missed() {
    let local = Local::new(StreamName::parse("s").unwrap());
    assert!(local.cached_after(Cursor(0), 10).is_none(), "unknown base");
    local.seed(Cursor(10), 1);
    local.message(Cursor(10), stored(11).message.clone());
    local.message(Cursor(11), stored(12).message.clone());
    let after_10: Vec<u64> = local
        .cached_after(Cursor(10), 10)
        .unwrap()
        .iter()
        .map(|s| s.message.created.0)
        .collect();
    assert_eq!(after_10, [11, 12]);
    assert!(
        local.cached_after(Cursor(9), 10).is_none(),
        "older than the cache"
    );
    // 13 was missed: 14 arrives with prev 13.
    local.message(Cursor(13), stored(14).message.clone());
    assert!(
        local.cached_after(Cursor(12), 10).is_none(),
        "the hole is read from redis"
    );
    assert_eq!(local.cached_after(Cursor(13), 10).unwrap().len(), 1);
    assert_eq!(local.watch().borrow().newest, Cursor(14));
}

#[test]
fn the_cache_is_bounded_and_moves_its_base() {
    let mut cache = Cache {
        base: Some(Cursor(0)),
        items: VecDeque::new(),
    };
    for n in 1..=(CACHE_CAPACITY as u64 + 5) {
        cache.received(Cursor(n - 1), stored(n));
    }
    assert_eq!(cache.items.len(), CACHE_CAPACITY);
    assert_eq!(cache.base, Some(Cursor(5)));
}
