//! The SSE framing: examples of the format, then encode → decode round
//! trips over arbitrary ids, names, data and ways of cutting the bytes.

use proptest::prelude::*;

use super::*;

/// Every block `bytes` holds, fed to a decoder in pieces cut at `cuts`.
fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Owned> {
    let mut decoder = Decoder::new();
    let mut blocks = Vec::new();
    let mut from = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        decoder.push(&bytes[from..cut]);
        decoder.drain(|block| blocks.push(Owned::from(block)));
        from = cut;
    }
    assert_eq!(decoder.pending(), 0, "every block was complete");
    blocks
}

/// A block without borrows, to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    id: Option<String>,
    event: String,
    data: Option<String>,
    comment: Option<String>,
    retry: Option<u64>,
}

impl From<Block<'_>> for Owned {
    fn from(block: Block<'_>) -> Self {
        Owned {
            id: block.id.map(str::to_owned),
            event: block.event_name().to_owned(),
            data: block.data.map(Cow::into_owned),
            comment: block.comment.map(str::to_owned),
            retry: block.retry,
        }
    }
}

fn expected(id: Option<Cursor>, name: &str, data: &str) -> Owned {
    Owned {
        id: id.map(|id| id.to_string()),
        event: name.to_owned(),
        data: Some(data.replace("\r\n", "\n").replace('\r', "\n")),
        comment: None,
        retry: None,
    }
}

#[test]
fn an_event_is_id_event_and_data_lines_then_a_blank_line() {
    let mut out = String::new();
    let range = write_event(&mut out, Some(Cursor(7)), EventKind::Message, "{\"a\":1}");
    assert_eq!(out, "id: 7\nevent: message\ndata: {\"a\":1}\n\n");
    assert_eq!(&out[range.unwrap()], "{\"a\":1}");
    assert_eq!(
        event(None, CommandEventKind::Reply, "two\nlines"),
        "event: reply\ndata: two\ndata: lines\n\n"
    );
    assert_eq!(retry(2000), "retry: 2000\n\n");
}

#[test]
fn comments_and_settings_are_blocks_but_not_events() {
    let text = format!("{}{KEEPALIVE}", retry(2000));
    let blocks = decode_in_pieces(text.as_bytes(), &[]);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].retry, Some(2000));
    assert_eq!(blocks[1].comment.as_deref(), Some("keep-alive"));
    assert!(blocks.iter().all(|block| block.data.is_none()));
}

#[test]
fn names_are_read_back_as_kinds() {
    for kind in EventKind::ALL {
        let text = event(Some(Cursor(1)), kind, "{}");
        let mut decoder = Decoder::new();
        decoder.push(text.as_bytes());
        let mut kinds = Vec::new();
        decoder.drain(|block| kinds.push(block.kind()));
        assert_eq!(kinds, [Some(kind)]);
    }
    assert_eq!(Block::parse("data: x").event_name(), "message");
    assert_eq!(Block::parse("event: reply\ndata: x").kind(), None);
}

#[test]
fn a_block_cut_anywhere_waits_for_its_end() {
    let text = event(Some(Cursor(42)), EventKind::Gap, "{}");
    let mut decoder = Decoder::new();
    let (head, tail) = text.as_bytes().split_at(text.len() - 1);
    decoder.push(head);
    decoder.drain(|block| panic!("incomplete block {block:?}"));
    assert!(decoder.pending() > 0);
    decoder.push(tail);
    let mut seen = 0;
    decoder.drain(|block| {
        assert_eq!(block.id, Some("42"));
        seen += 1;
    });
    assert_eq!((seen, decoder.pending()), (1, 0));
}

#[test]
fn bytes_that_are_not_utf8_are_read_with_replacement_characters() {
    let mut bytes = b"id: 3\ndata: caf\xe9 \xff!\n\n".to_vec();
    bytes.extend_from_slice("data: café\n\n".as_bytes());
    let blocks = decode_in_pieces(&bytes, &[]);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].id.as_deref(), Some("3"));
    assert_eq!(blocks[0].data.as_deref(), Some("caf\u{fffd} \u{fffd}!"));
    assert_eq!(blocks[1].data.as_deref(), Some("café"));
}

fn any_name() -> impl Strategy<Value = &'static str> {
    let names: Vec<&'static str> = EventKind::ALL
        .into_iter()
        .map(EventKind::as_str)
        .chain(["command", "reply", "error"])
        .collect();
    proptest::sample::select(names)
}

#[derive(Debug, Clone, Copy)]
struct Named(&'static str);

impl EventName for Named {
    fn as_str(self) -> &'static str {
        self.0
    }
}

proptest! {
    #[test]
    fn any_event_round_trips_however_the_bytes_are_cut(
        id in proptest::option::of(any::<u64>()),
        name in any_name(),
        data in prop_oneof![any::<String>(), "[a-z :{}\"\n\r]{0,30}"],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let id = id.map(Cursor);
        let mut out = String::new();
        let range = write_event(&mut out, id, Named(name), &data);
        if let Some(range) = range {
            prop_assert_eq!(&out[range], data.as_str());
        }
        let blocks = decode_in_pieces(out.as_bytes(), &cuts);
        prop_assert_eq!(blocks, vec![expected(id, name, &data)]);
    }

    #[test]
    fn a_sequence_of_events_and_keep_alives_reads_back_in_order(
        events in proptest::collection::vec(
            (proptest::option::of(any::<u64>()), any_name(), "[^\r]{0,20}|[a-z :\n]{0,20}", any::<bool>()),
            0..8,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut out = retry(2000);
        let mut wanted = Vec::new();
        for (id, name, data, keepalive) in &events {
            let id = id.map(Cursor);
            write_event(&mut out, id, Named(name), data);
            wanted.push(expected(id, name, data));
            if *keepalive {
                out.push_str(KEEPALIVE);
            }
        }
        let read: Vec<Owned> = decode_in_pieces(out.as_bytes(), &cuts)
            .into_iter()
            .filter(|block| block.data.is_some())
            .collect();
        prop_assert_eq!(read, wanted);
    }
}
