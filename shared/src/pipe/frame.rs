//! What the two ends of a pipe write into it: one frame per message, as the
//! `text` of an ordinary encrypted message (`docs/crypto.md` section 9b).
//! The one codec both the terminal client (`malten pipe`) and the web app
//! use, so the two ends can never disagree about a frame.
//!
//! ```text
//! d <end> <seq> <base64url data>   a chunk of <end>'s data, seq from 1
//! e <end> <count> <digest>         <end> sent <count> chunks; digest =
//!                                  base64url(SHA-256(all its data))
//! a <end> <seq>                    received <end>'s chunks through <seq>
//! f <end>                          received and verified all of <end>'s data
//! ```
//!
//! `<end>` is a random id each end picks, so an end can tell its own frames
//! (every subscriber receives every message) from the other end's, and a
//! third writer from both. The envelope around the frame already
//! authenticates each message (AES-GCM): the chunk numbers and the digest
//! add what per-message authentication cannot, loss, reordering and
//! truncation across messages.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Data bytes per chunk: 1000 base64url characters, so a data frame stays
/// within a message's 1024 characters.
pub const CHUNK_BYTES: usize = 750;

/// The largest chunk number whose frame still fits (8 digits).
pub const MAX_SEQ: u64 = 99_999_999;

/// Most chunks an end sends without an acknowledgement, so a slow receiver
/// slows the sender down instead of the stream's 1024-message ring
/// overrunning.
pub const WINDOW: u64 = 256;

/// A receiver acknowledges at least every this many chunks.
pub const ACK_EVERY: u64 = 32;

/// One frame; see the module documentation for what each one says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        end: String,
        seq: u64,
        data: Vec<u8>,
    },
    End {
        end: String,
        count: u64,
        digest: String,
    },
    Ack {
        end: String,
        seq: u64,
    },
    Finished {
        end: String,
    },
}

impl Frame {
    /// The end that wrote a data or end frame, or that an ack is for.
    pub fn end(&self) -> &str {
        match self {
            Frame::Data { end, .. }
            | Frame::End { end, .. }
            | Frame::Ack { end, .. }
            | Frame::Finished { end } => end,
        }
    }

    /// The frame as a message's text.
    pub fn encode(&self) -> String {
        match self {
            Frame::Data { end, seq, data } => {
                format!("d {end} {seq} {}", URL_SAFE_NO_PAD.encode(data))
            }
            Frame::End { end, count, digest } => format!("e {end} {count} {digest}"),
            Frame::Ack { end, seq } => format!("a {end} {seq}"),
            Frame::Finished { end } => format!("f {end}"),
        }
    }

    /// Reads a frame; `None` for anything else (never trusted as data).
    pub fn decode(text: &str) -> Option<Frame> {
        let mut parts = text.split(' ');
        let kind = parts.next()?;
        let end = parts.next().filter(|e| !e.is_empty())?.to_owned();
        let frame = match kind {
            "d" => Frame::Data {
                end,
                seq: parts.next()?.parse().ok()?,
                data: URL_SAFE_NO_PAD.decode(parts.next()?).ok()?,
            },
            "e" => Frame::End {
                end,
                count: parts.next()?.parse().ok()?,
                digest: parts.next()?.to_owned(),
            },
            "a" => Frame::Ack {
                end,
                seq: parts.next()?.parse().ok()?,
            },
            "f" => Frame::Finished { end },
            _ => return None,
        };
        parts.next().is_none().then_some(frame)
    }
}

/// The digest an end frame carries.
pub fn digest(hash: sha2::Sha256) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_full_chunk_fits_a_message() {
        let frames = [
            Frame::Data {
                end: "abcdEFGH".into(),
                seq: MAX_SEQ,
                data: vec![0xff; CHUNK_BYTES],
            },
            Frame::End {
                end: "x".into(),
                count: 3,
                digest: "AAA".into(),
            },
            Frame::Ack {
                end: "x".into(),
                seq: 7,
            },
            Frame::Finished { end: "x".into() },
        ];
        for frame in frames {
            let text = frame.encode();
            assert!(crate::check_message_text(&text).is_ok(), "{text}");
            assert_eq!(Frame::decode(&text), Some(frame));
        }
        for bad in [
            "",
            "d",
            "d x",
            "d x 1",
            "d x one AAAA",
            "z x 1",
            "a x 1 2",
            "d x 1 !!",
        ] {
            assert_eq!(Frame::decode(bad), None, "{bad:?}");
        }
    }
}
