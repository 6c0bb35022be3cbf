//! The SSE decoder the tests, the CLI and the benchmark read event streams
//! with (`sse::Decoder`, `sse::Block::parse`), fed bytes a server sent.
//!
//! Properties: how the bytes are cut into reads never changes the blocks
//! decoded (nor what is left pending); and any text written as an event by
//! `write_event` decodes back to exactly one event with the same id, name
//! and data (line breaks normalised to `\n`, as SSE defines them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::sse::{write_event, Block, Decoder};
use malten_shared::wire::{Cursor, EventKind};

/// A block without borrows, to compare.
#[derive(Debug, PartialEq, Eq)]
struct Owned {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    comment: Option<String>,
    retry: Option<u64>,
}

impl From<Block<'_>> for Owned {
    fn from(block: Block<'_>) -> Self {
        assert_eq!(block.is_event(), block.data.is_some());
        assert_eq!(block.kind(), EventKind::from_name(block.event_name()));
        Owned {
            id: block.id.map(str::to_owned),
            event: block.event.map(str::to_owned),
            data: block.data.map(|data| data.into_owned()),
            comment: block.comment.map(str::to_owned),
            retry: block.retry,
        }
    }
}

/// The blocks of `bytes` read `step` bytes at a time, and what is left.
fn decode(bytes: &[u8], step: usize) -> (Vec<Owned>, usize) {
    let mut decoder = Decoder::new();
    let mut blocks = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        decoder.push(piece);
        decoder.drain(|block| blocks.push(Owned::from(block)));
    }
    decoder.drain(|block| blocks.push(Owned::from(block)));
    (blocks, decoder.pending())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };

    // Cutting the stream anywhere decodes the same blocks.
    let whole = decode(rest, rest.len());
    let step = usize::from(first % 17) + 1;
    assert_eq!(decode(rest, step), whole, "reads of {step} bytes");
    assert_eq!(decode(rest, 1), whole, "reads of 1 byte");

    // Whatever text the server writes as an event comes back as written.
    let text = String::from_utf8_lossy(rest);
    let id = (first & 1 == 1).then(|| Cursor(u64::from(first) << 56 | rest.len() as u64));
    let kind = EventKind::ALL[usize::from(first >> 1) % EventKind::ALL.len()];
    let mut out = String::new();
    if let Some(range) = write_event(&mut out, id, kind, &text) {
        assert_eq!(&out[range], text, "verbatim data sits where it was said to");
    }
    let (blocks, pending) = decode(out.as_bytes(), step);
    assert_eq!(pending, 0, "an event ends with its blank line");
    assert_eq!(
        blocks,
        [Owned {
            id: id.map(|id| id.to_string()),
            event: Some(kind.as_str().to_owned()),
            data: Some(text.replace("\r\n", "\n").replace('\r', "\n")),
            comment: None,
            retry: None,
        }],
        "round trip of {text:?}"
    );
});
