//! The benchmark message and the clock it is stamped with.
//!
//! Every message is exactly [`PAYLOAD_LEN`] bytes of text that carry their
//! own sequence number and send time, so a subscriber needs nothing but the
//! bytes it received to tell loss, duplicates and latency:
//!
//! ```text
//! MB1-0000000042-00000000001234567890-xxxxxxxx…xxxxZ
//!     sequence   send time (ns)       padding     end marker
//! ```
//!
//! Only unreserved URL characters are used, so the text travels unescaped in
//! an urlencoded form, inside Malten's JSON and in a Redis bulk string alike:
//! both systems carry the very same 256 bytes.
//!
//! Times come from [`now_ns`], nanoseconds on the monotonic clock since the
//! benchmark process started. Publisher and subscribers live in that one
//! process, so send and receive times are read from the same clock.

use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use memchr::memmem;

/// Bytes of message text, as the brief of the benchmark fixes it.
pub const PAYLOAD_LEN: usize = 256;

const MAGIC: &[u8] = b"MB1-";
const SEQ_DIGITS: usize = 10;
const TIME_DIGITS: usize = 20;
/// `MAGIC`, the sequence, `-`, the time, `-`.
const HEADER_LEN: usize = MAGIC.len() + SEQ_DIGITS + 1 + TIME_DIGITS + 1;
const END_MARKER: u8 = b'Z';

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the benchmark's epoch (the first call), monotonic.
pub fn now_ns() -> u64 {
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Appends the payload of message `seq`, sent at `sent_ns`, to `out`.
pub fn encode_into(out: &mut Vec<u8>, seq: u64, sent_ns: u64) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(format!("{seq:0SEQ_DIGITS$}-{sent_ns:0TIME_DIGITS$}-").as_bytes());
    out.resize(start + PAYLOAD_LEN - 1, b'x');
    out.push(END_MARKER);
    debug_assert_eq!(out.len() - start, PAYLOAD_LEN);
}

/// The payload of message `seq`, sent at `sent_ns`.
pub fn encode(seq: u64, sent_ns: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(PAYLOAD_LEN);
    encode_into(&mut out, seq, sent_ns);
    out
}

/// Finds a payload inside `haystack` (a Redis bulk string, or the JSON of a
/// Malten message) and returns its sequence number and send time. `None`
/// when no intact payload is there.
pub fn decode(haystack: &[u8]) -> Option<(u64, u64)> {
    // The magic may also occur by chance elsewhere, say in a random message
    // id; the first occurrence that starts an intact payload wins.
    // One searcher for the whole run: building one costs more than the
    // search (both systems' subscribers decode every payload with it).
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(MAGIC));
    FINDER.find_iter(haystack).find_map(|start| {
        let payload = haystack.get(start..start + PAYLOAD_LEN)?;
        if payload[PAYLOAD_LEN - 1] != END_MARKER || payload[HEADER_LEN - 1] != b'-' {
            return None;
        }
        let seq = digits(&payload[MAGIC.len()..MAGIC.len() + SEQ_DIGITS])?;
        let time_start = MAGIC.len() + SEQ_DIGITS + 1;
        let sent = digits(&payload[time_start..time_start + TIME_DIGITS])?;
        Some((seq, sent))
    })
}

fn digits(ascii: &[u8]) -> Option<u64> {
    ascii.iter().try_fold(0u64, |acc, &byte| {
        let digit = byte.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_exactly_256_bytes_and_round_trips() {
        let payload = encode(42, 1_234_567_890);
        assert_eq!(payload.len(), PAYLOAD_LEN);
        assert_eq!(decode(&payload), Some((42, 1_234_567_890)));
    }

    #[test]
    fn a_payload_is_found_inside_json() {
        let payload = String::from_utf8(encode(7, 99)).unwrap();
        let json =
            format!(r#"{{"id":"abc","stream":"bench","text":"{payload}","type":"message"}}"#);
        assert_eq!(decode(json.as_bytes()), Some((7, 99)));
    }

    #[test]
    fn the_magic_inside_a_message_id_is_skipped() {
        let payload = String::from_utf8(encode(3, 4)).unwrap();
        let json = format!(r#"{{"id":"xMB1-yz","text":"{payload}"}}"#);
        assert_eq!(decode(json.as_bytes()), Some((3, 4)));
    }

    #[test]
    fn a_truncated_payload_is_rejected() {
        let payload = encode(7, 99);
        assert_eq!(decode(&payload[..PAYLOAD_LEN - 1]), None);
    }

    #[test]
    fn the_payload_needs_no_escaping() {
        let payload = encode(u64::from(u32::MAX), u64::MAX);
        assert!(payload
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(b)));
    }
}
