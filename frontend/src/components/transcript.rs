//! A pipe's conversation as chat messages: the other end's data arrives as
//! a byte stream cut anywhere, so its text is shown a line per message, the
//! line still being written growing in place; what this end sent is shown
//! as it was typed.

use malten_shared::wire::Cursor;

use super::message::{Role, Shown};
use super::privacy_badge::Privacy;

/// The name shown on this end's messages.
pub const ME: &str = "you";
/// The name shown on the other end's messages.
pub const PEER: &str = "other end";

/// What is shown; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    pub entries: Vec<Shown>,
    /// The other end's line still being written (no newline yet).
    open_line: Option<usize>,
    /// The entry counting the other end's bytes that are not text.
    binary: Option<usize>,
    /// Every change of an entry gives it a new id, so a keyed list redraws it.
    next_id: u64,
}

impl Transcript {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("pipe-{}", self.next_id)
    }

    fn entry(&mut self, text: String, nick: Option<&str>, role: Role) -> Shown {
        Shown {
            id: self.id(),
            created: Cursor((js_now_ms() as u64).saturating_mul(1_000_000)),
            text,
            nick: nick.map(str::to_owned),
            privacy: if role == Role::Notice {
                Privacy::Plain
            } else {
                Privacy::EndToEnd
            },
            role,
        }
    }

    /// Characters of the other end's text, as they complete.
    pub fn peer_text(&mut self, text: &str) {
        for piece in text.split_inclusive('\n') {
            let ends_line = piece.ends_with('\n');
            let piece = piece.strip_suffix('\n').unwrap_or(piece);
            match self.open_line.take() {
                Some(index) => {
                    let id = self.id();
                    let entry = &mut self.entries[index];
                    entry.text.push_str(piece);
                    entry.id = id;
                    if !ends_line {
                        self.open_line = Some(index);
                    }
                }
                None => {
                    let entry = self.entry(piece.to_owned(), Some(PEER), Role::Message);
                    self.entries.push(entry);
                    if !ends_line {
                        self.open_line = Some(self.entries.len() - 1);
                    }
                }
            }
        }
    }

    /// The other end's data is not text: `bytes` of it so far.
    pub fn peer_binary(&mut self, bytes: u64) {
        let text = format!("binary data, {bytes} bytes");
        match self.binary {
            Some(index) => {
                let id = self.id();
                let entry = &mut self.entries[index];
                entry.text = text;
                entry.id = id;
            }
            None => {
                self.open_line = None;
                let entry = self.entry(text, Some(PEER), Role::Message);
                self.entries.push(entry);
                self.binary = Some(self.entries.len() - 1);
            }
        }
    }

    /// What this end sent.
    pub fn mine(&mut self, text: &str) {
        let entry = self.entry(text.to_owned(), Some(ME), Role::Message);
        self.entries.push(entry);
    }

    /// A notice from the app (the other end came or left, finished).
    pub fn notice(&mut self, text: &str) {
        let entry = self.entry(text.to_owned(), None, Role::Notice);
        self.entries.push(entry);
    }
}

#[cfg(target_arch = "wasm32")]
fn js_now_ms() -> f64 {
    js_sys::Date::now()
}

#[cfg(not(target_arch = "wasm32"))]
fn js_now_ms() -> f64 {
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(transcript: &Transcript) -> Vec<(Option<&str>, &str)> {
        transcript
            .entries
            .iter()
            .map(|e| (e.nick.as_deref(), e.text.as_str()))
            .collect()
    }

    #[test]
    fn the_other_ends_text_is_shown_a_line_per_message_growing_in_place() {
        let mut transcript = Transcript::default();
        transcript.peer_text("hel");
        let first_id = transcript.entries[0].id.clone();
        transcript.peer_text("lo\nsecond");
        assert_ne!(
            transcript.entries[0].id, first_id,
            "a changed entry is redrawn"
        );
        transcript.mine("mine");
        transcript.peer_text(" line\n\nthird\n");
        assert_eq!(
            texts(&transcript),
            [
                (Some(PEER), "hello"),
                (Some(PEER), "second line"),
                (Some(ME), "mine"),
                (Some(PEER), ""),
                (Some(PEER), "third"),
            ]
        );
    }

    #[test]
    fn binary_data_is_one_growing_count() {
        let mut transcript = Transcript::default();
        transcript.peer_text("text, then");
        transcript.peer_binary(3);
        transcript.peer_binary(10);
        assert_eq!(
            texts(&transcript),
            [
                (Some(PEER), "text, then"),
                (Some(PEER), "binary data, 10 bytes")
            ]
        );
    }
}
