//! One end of a pipe used as a two-party chat, as the web app does: what
//! the user types goes out as numbered chunks, the other end's chunks come
//! back as text, and every check `malten pipe` makes is made here too, so
//! a chat never shows wrong data silently.
//!
//! No I/O: the caller posts the frames this returns and feeds in the frames
//! that arrive, in the order they arrive. Any [`ChatError`] from
//! [`Chat::receive`] is final (the pipe can no longer be trusted).
//!
//! The other end's bytes are shown as UTF-8 text. A chunk may end inside a
//! character (the terminal client cuts its input at 750 bytes), so the
//! bytes of an incomplete character wait for the next chunk. Data that is
//! not UTF-8 at all (a file) is counted, never shown.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::frame::{digest, Frame, ACK_EVERY, CHUNK_BYTES, MAX_SEQ, WINDOW};

/// Why a pipe can no longer be trusted, or why a send was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    #[error("chunk {got} arrived when {expected} was expected: chunks were lost or reordered")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("a third party is writing into the pipe (it has the passphrase)")]
    ThirdWriter,
    #[error("a chunk arrived after the other end's final digest")]
    AfterEnd,
    #[error("the other end sent {count} chunks but {arrived} arrived: the data is incomplete")]
    Truncated { count: u64, arrived: u64 },
    #[error("the other end's data does not match its digest: it was altered")]
    Altered,
    /// Refused send (not final): the other end has not caught up yet.
    #[error("the other end has not yet acknowledged {0} chunks: wait for it to catch up")]
    WindowFull(u64),
    /// Refused send: this end already said it had sent everything.
    #[error("this end has finished sending")]
    Finished,
    /// Refused send: chunk numbers have at most 8 digits.
    #[error("a pipe carries at most {MAX_SEQ} chunks")]
    TooManyChunks,
}

/// What one arriving frame changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Received {
    /// Characters of the other end's text completed by this frame.
    pub text: String,
    /// Set when this frame carried data that is not UTF-8 text: how many
    /// of the other end's bytes were not shown as text, in all.
    pub binary: Option<u64>,
    /// The other end has sent everything, and it all verified.
    pub finished: bool,
    /// The other end has everything this end sent, verified.
    pub delivered: bool,
    /// What to post in answer (an acknowledgement).
    pub reply: Option<Frame>,
}

/// One end; see the module documentation.
#[derive(Debug, Clone)]
pub struct Chat {
    me: String,
    // Sending.
    sent: u64,
    acked: u64,
    sent_hash: Sha256,
    finished: bool,
    // Receiving.
    peer: Option<String>,
    received: u64,
    received_hash: Sha256,
    /// The first bytes of a character the next chunk completes.
    pending: Vec<u8>,
    /// Bytes not shown as text, once the data turned out not to be text.
    binary: Option<u64>,
    peer_done: bool,
}

impl Chat {
    /// A new end with a random id (48 bits, 8 base64url characters, as the
    /// terminal client picks).
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 6];
        getrandom::getrandom(&mut bytes)?;
        Ok(Self::with_id(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// An end with the given id (tests, or an end that must keep its id).
    pub fn with_id(me: String) -> Self {
        Chat {
            me,
            sent: 0,
            acked: 0,
            sent_hash: Sha256::new(),
            finished: false,
            peer: None,
            received: 0,
            received_hash: Sha256::new(),
            pending: Vec::new(),
            binary: None,
            peer_done: false,
        }
    }

    /// This end's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Whether the other end has sent everything (and it verified).
    pub fn peer_done(&self) -> bool {
        self.peer_done
    }

    /// Whether this end has said it sent everything.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The data frames for `data`, numbered on from the last one sent, at
    /// most [`CHUNK_BYTES`] each; refused when the other end has not
    /// acknowledged enough of what was sent before ([`WINDOW`]).
    pub fn send(&mut self, data: &[u8]) -> Result<Vec<Frame>, ChatError> {
        if self.finished {
            return Err(ChatError::Finished);
        }
        let chunks = data.len().div_ceil(CHUNK_BYTES) as u64;
        let unacked = self.sent - self.acked;
        if unacked + chunks > WINDOW {
            return Err(ChatError::WindowFull(unacked));
        }
        if self.sent + chunks > MAX_SEQ {
            return Err(ChatError::TooManyChunks);
        }
        let frames = data
            .chunks(CHUNK_BYTES)
            .map(|chunk| {
                self.sent += 1;
                self.sent_hash.update(chunk);
                Frame::Data {
                    end: self.me.clone(),
                    seq: self.sent,
                    data: chunk.to_vec(),
                }
            })
            .collect();
        Ok(frames)
    }

    /// The end frame: this end has sent everything (the other end answers
    /// with `f` once it verified it). Nothing can be sent after it.
    pub fn finish(&mut self) -> Result<Frame, ChatError> {
        if self.finished {
            return Err(ChatError::Finished);
        }
        self.finished = true;
        Ok(Frame::End {
            end: self.me.clone(),
            count: self.sent,
            digest: digest(std::mem::take(&mut self.sent_hash)),
        })
    }

    /// Takes one frame that arrived in the pipe (its own frames come back
    /// to every end and are skipped).
    pub fn receive(&mut self, frame: Frame) -> Result<Received, ChatError> {
        let mut received = Received::default();
        match frame {
            Frame::Data { end, .. } | Frame::End { end, .. } if end == self.me => {}
            Frame::Ack { end, seq } if end == self.me => {
                self.acked = self.acked.max(seq.min(self.sent));
            }
            Frame::Finished { end } if end == self.me => received.delivered = self.finished,
            // This end's acknowledgements of the other end's data.
            Frame::Ack { .. } | Frame::Finished { .. } => {}
            Frame::Data { end, seq, data } => {
                self.check_peer(&end)?;
                if self.peer_done {
                    return Err(ChatError::AfterEnd);
                }
                if seq != self.received + 1 {
                    return Err(ChatError::OutOfOrder {
                        expected: self.received + 1,
                        got: seq,
                    });
                }
                self.received = seq;
                self.received_hash.update(&data);
                self.decode(&data, &mut received);
                if seq % ACK_EVERY == 0 {
                    received.reply = Some(Frame::Ack { end, seq });
                }
            }
            Frame::End {
                end,
                count,
                digest: want,
            } => {
                self.check_peer(&end)?;
                if self.peer_done {
                    return Err(ChatError::AfterEnd);
                }
                if count != self.received {
                    return Err(ChatError::Truncated {
                        count,
                        arrived: self.received,
                    });
                }
                if digest(std::mem::take(&mut self.received_hash)) != want {
                    return Err(ChatError::Altered);
                }
                if !self.pending.is_empty() {
                    // Ended inside a character: those bytes are no text.
                    let bytes = std::mem::take(&mut self.pending).len() as u64;
                    received.binary = Some(self.binary.unwrap_or(0) + bytes);
                    self.binary = received.binary;
                }
                self.peer_done = true;
                received.finished = true;
                received.reply = Some(Frame::Finished { end });
            }
        }
        Ok(received)
    }

    fn check_peer(&mut self, end: &str) -> Result<(), ChatError> {
        match &self.peer {
            Some(peer) if peer != end => Err(ChatError::ThirdWriter),
            Some(_) => Ok(()),
            None => {
                self.peer = Some(end.to_owned());
                Ok(())
            }
        }
    }

    /// The complete characters `data` adds to what was pending; once the
    /// data is not UTF-8, only counts it.
    fn decode(&mut self, data: &[u8], received: &mut Received) {
        if let Some(bytes) = self.binary {
            self.binary = Some(bytes + data.len() as u64);
            received.binary = self.binary;
            return;
        }
        self.pending.extend_from_slice(data);
        match std::str::from_utf8(&self.pending) {
            Ok(text) => {
                received.text = text.to_owned();
                self.pending.clear();
            }
            // Only an incomplete character at the end: it waits.
            Err(err) if err.error_len().is_none() => {
                let complete = err.valid_up_to();
                received.text = String::from_utf8_lossy(&self.pending[..complete]).into_owned();
                self.pending.drain(..complete);
            }
            Err(_) => {
                self.binary = Some(std::mem::take(&mut self.pending).len() as u64);
                received.binary = self.binary;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(end: &str, seq: u64, data: &[u8]) -> Frame {
        Frame::Data {
            end: end.into(),
            seq,
            data: data.to_vec(),
        }
    }

    fn end_frame(end: &str, all: &[u8], count: u64) -> Frame {
        Frame::End {
            end: end.into(),
            count,
            digest: digest(Sha256::new_with_prefix(all)),
        }
    }

    #[test]
    fn a_character_split_across_chunks_is_shown_once_complete() {
        let mut chat = Chat::with_id("me".into());
        let bytes = "né😀\n".as_bytes();
        // "n", half of "é", the rest of "é" and half of the emoji, the rest.
        let cuts = [&bytes[..2], &bytes[2..5], &bytes[5..]];
        let mut shown = String::new();
        for (i, cut) in cuts.iter().enumerate() {
            let got = chat.receive(data("peer", i as u64 + 1, cut)).unwrap();
            assert_eq!(got.binary, None);
            shown.push_str(&got.text);
            if i == 0 {
                assert_eq!(got.text, "n", "the half character waits");
            }
        }
        assert_eq!(shown, "né😀\n");
        let got = chat.receive(end_frame("peer", bytes, 3)).unwrap();
        assert!(got.finished && chat.peer_done());
        assert_eq!(got.reply, Some(Frame::Finished { end: "peer".into() }));
    }

    #[test]
    fn data_that_is_not_utf8_is_counted_never_shown() {
        let mut chat = Chat::with_id("me".into());
        assert_eq!(chat.receive(data("p", 1, b"text ")).unwrap().text, "text ");
        let got = chat.receive(data("p", 2, &[b'a', 0xff, 0xfe])).unwrap();
        assert_eq!((got.text.as_str(), got.binary), ("", Some(3)));
        let got = chat.receive(data("p", 3, b"more")).unwrap();
        assert_eq!((got.text.as_str(), got.binary), ("", Some(7)));
    }

    #[test]
    fn an_end_inside_a_character_counts_the_rest_as_binary() {
        let mut chat = Chat::with_id("me".into());
        let half = &"é".as_bytes()[..1];
        assert_eq!(chat.receive(data("p", 1, half)).unwrap().text, "");
        let got = chat.receive(end_frame("p", half, 1)).unwrap();
        assert_eq!(got.binary, Some(1));
    }

    #[test]
    fn loss_reordering_a_third_writer_truncation_and_alteration_are_refused() {
        let cases: [(&str, Vec<Frame>, ChatError); 6] = [
            (
                "lost",
                vec![data("p", 1, b"a"), data("p", 3, b"c")],
                ChatError::OutOfOrder {
                    expected: 2,
                    got: 3,
                },
            ),
            (
                "replayed",
                vec![data("p", 1, b"a"), data("p", 1, b"a")],
                ChatError::OutOfOrder {
                    expected: 2,
                    got: 1,
                },
            ),
            (
                "third writer",
                vec![data("p", 1, b"a"), data("q", 2, b"b")],
                ChatError::ThirdWriter,
            ),
            (
                "truncated",
                vec![data("p", 1, b"a"), end_frame("p", b"ab", 2)],
                ChatError::Truncated {
                    count: 2,
                    arrived: 1,
                },
            ),
            (
                "altered",
                vec![data("p", 1, b"a"), end_frame("p", b"b", 1)],
                ChatError::Altered,
            ),
            (
                "after the end",
                vec![end_frame("p", b"", 0), data("p", 1, b"a")],
                ChatError::AfterEnd,
            ),
        ];
        for (case, frames, want) in cases {
            let mut chat = Chat::with_id("me".into());
            let (last, first) = frames.split_last().unwrap();
            for frame in first {
                chat.receive(frame.clone()).unwrap();
            }
            assert_eq!(chat.receive(last.clone()), Err(want), "{case}");
        }
    }

    #[test]
    fn every_32nd_chunk_is_acknowledged() {
        let mut chat = Chat::with_id("me".into());
        for seq in 1..=64 {
            let reply = chat.receive(data("p", seq, b"x")).unwrap().reply;
            let want = (seq % ACK_EVERY == 0).then(|| Frame::Ack {
                end: "p".into(),
                seq,
            });
            assert_eq!(reply, want, "chunk {seq}");
        }
    }

    #[test]
    fn sending_numbers_chunks_from_one_and_waits_for_acknowledgements() {
        let mut chat = Chat::with_id("me".into());
        let frames = chat.send(&[7u8; CHUNK_BYTES * 2 + 1]).unwrap();
        let seqs: Vec<_> = frames
            .iter()
            .map(|frame| match frame {
                Frame::Data { end, seq, data } => {
                    assert_eq!(end, "me");
                    assert!(data.len() <= CHUNK_BYTES);
                    assert!(crate::check_message_text(&frame.encode()).is_ok());
                    *seq
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        // Its own frames coming back change nothing.
        for frame in frames {
            assert_eq!(chat.receive(frame).unwrap(), Received::default());
        }
        let window = vec![0u8; CHUNK_BYTES * (WINDOW as usize - 3)];
        chat.send(&window).unwrap();
        assert_eq!(chat.send(b"one more"), Err(ChatError::WindowFull(WINDOW)));
        chat.receive(Frame::Ack {
            end: "me".into(),
            seq: 32,
        })
        .unwrap();
        assert!(chat.send(b"one more").is_ok());
    }

    #[test]
    fn finishing_sends_the_count_and_digest_and_the_answer_is_delivery() {
        let mut chat = Chat::with_id("me".into());
        chat.send(b"hello\n").unwrap();
        assert_eq!(chat.finish(), Ok(end_frame("me", b"hello\n", 1)));
        assert_eq!(chat.send(b"late"), Err(ChatError::Finished));
        let got = chat.receive(Frame::Finished { end: "me".into() }).unwrap();
        assert!(got.delivered);
    }

    #[test]
    fn a_random_id_is_eight_base64url_characters() {
        let chat = Chat::new().unwrap();
        assert_eq!(chat.me().len(), 8);
        assert!(chat
            .me()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
