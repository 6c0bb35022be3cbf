//! Whether the stream the server describes is the one the link is for.
//!
//! Whoever posts first to a name decides whether it is encrypted, and an
//! expired private stream can be made again by anyone who knows its name,
//! as plain text or with another salt. So before the app decrypts anything
//! into trust or sends anything, it compares the stream with what the link
//! expects (`docs/crypto.md`, section 9a): the pin when there is one, "some
//! encrypted stream" for a secret without a pin, and, for a link without a
//! pin, the pin this device remembered with the stream's passphrase
//! (trust on first use). On a mismatch the page shows [`Verdict::Refused`]'s
//! sentence and sends nothing.

use malten_shared::link::{Expectation, Link, Pin};
use malten_shared::wire::StreamInfo;

/// Shown when a link expects an encrypted stream that does not exist (any
/// more): a post would create it again as plain text.
pub const GONE: &str = "This link is for an end-to-end encrypted stream that no longer exists \
(streams disappear when no one posts for a while): nothing will be sent, since a message would \
make it again as a plain-text stream.";

/// What the page must find, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub expectation: Expectation,
    /// The pin came from this device's memory, not from the link.
    pub remembered: bool,
}

impl Expected {
    /// The link's own expectation; for a link without a pin, an encrypted
    /// pin remembered on this device with the stream's passphrase is
    /// stricter and wins. (A remembered plain pin is never kept: it would
    /// add nothing a link without a secret does not already allow.)
    pub fn of(link: &Link, remembered: Option<Pin>) -> Expected {
        match (link.expectation(), remembered) {
            (Expectation::Pinned(pin), _) => Expected {
                expectation: Expectation::Pinned(pin),
                remembered: false,
            },
            (_, Some(pin @ Pin::Encrypted { .. })) => Expected {
                expectation: Expectation::Pinned(pin),
                remembered: true,
            },
            (expectation, _) => Expected {
                expectation,
                remembered: false,
            },
        }
    }

    /// Whether the page may go on with `info` (`None`: no such stream).
    pub fn verdict(&self, info: Option<&StreamInfo>) -> Verdict {
        let outcome = match info {
            Some(info) => self
                .expectation
                .check(info)
                .map_err(|mismatch| sentence(&mismatch.to_string())),
            None => match self.expectation {
                Expectation::Anything | Expectation::Pinned(Pin::Plain) => Ok(()),
                _ => Err(GONE.to_owned()),
            },
        };
        match outcome {
            Ok(()) => Verdict::Trusted,
            Err(reason) => Verdict::Refused(reason),
        }
    }
}

/// The outcome of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The stream is the one the link is for (or the link asks nothing).
    Trusted,
    /// It is not; the sentence says why, for the user.
    Refused(String),
}

/// `PinMismatch`'s messages are clauses; the page shows sentences.
fn sentence(clause: &str) -> String {
    let mut chars = clause.chars();
    match chars.next() {
        Some(first) => format!(
            "{}{}.",
            first.to_uppercase(),
            chars.as_str().trim_end_matches('.')
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use malten_shared::crypto::EncryptionParams;
    use malten_shared::link::fingerprint;
    use malten_shared::wire::Cursor;
    use malten_shared::StreamName;

    use super::*;

    fn params(salt_byte: u8) -> EncryptionParams {
        EncryptionParams::from_parts(&[salt_byte; 16], 600_000, format!("AQ{}", "A".repeat(62)))
    }

    fn info(encryption: Option<EncryptionParams>) -> StreamInfo {
        StreamInfo {
            stream: StreamName::parse("room").unwrap(),
            private: true,
            ttl: 1024,
            updated: Cursor::default(),
            messages: 1,
            observers: 0,
            encrypted: encryption.is_some(),
            encryption,
            pipe: false,
        }
    }

    fn link(fragment: &str) -> Link {
        Link::parse_fragment(fragment).unwrap()
    }

    fn refused(verdict: Verdict) -> String {
        match verdict {
            Verdict::Refused(reason) => reason,
            Verdict::Trusted => panic!("trusted"),
        }
    }

    #[test]
    fn a_pinned_link_trusts_only_its_own_stream() {
        let fp = fingerprint(&params(7));
        let expected = Expected::of(&link(&format!("#room/words!e{fp}")), None);
        assert_eq!(
            expected.verdict(Some(&info(Some(params(7))))),
            Verdict::Trusted
        );
        let squatted = refused(expected.verdict(Some(&info(None))));
        assert!(squatted.starts_with("This link is for an end-to-end encrypted stream, but the stream with this name is plain text"), "{squatted}");
        assert!(squatted.ends_with('.'), "{squatted}");
        let resalted = refused(expected.verdict(Some(&info(Some(params(8))))));
        assert!(resalted.contains("made again"), "{resalted}");
        assert_eq!(refused(expected.verdict(None)), GONE);
    }

    #[test]
    fn a_secret_without_a_pin_still_refuses_plain_text_and_a_missing_stream() {
        let expected = Expected::of(&link("#room/words"), None);
        assert_eq!(
            expected.verdict(Some(&info(Some(params(1))))),
            Verdict::Trusted
        );
        assert!(refused(expected.verdict(Some(&info(None)))).contains("plain text"));
        assert_eq!(refused(expected.verdict(None)), GONE);
    }

    #[test]
    fn a_bare_link_or_a_plain_pin_may_find_no_stream() {
        for fragment in ["#room", "#room!p"] {
            let expected = Expected::of(&link(fragment), None);
            assert_eq!(expected.verdict(None), Verdict::Trusted, "{fragment}");
            assert_eq!(expected.verdict(Some(&info(None))), Verdict::Trusted);
        }
        let plain = Expected::of(&link("#room!p"), None);
        assert!(refused(plain.verdict(Some(&info(Some(params(1)))))).contains("is encrypted"));
        let bare = Expected::of(&link("#room"), None);
        assert_eq!(bare.verdict(Some(&info(Some(params(1))))), Verdict::Trusted);
    }

    #[test]
    fn a_remembered_pin_guards_links_without_one_but_never_overrides_a_link_pin() {
        let remembered = Pin::of(&info(Some(params(7))));
        let bare = Expected::of(&link("#room"), Some(remembered.clone()));
        assert!(bare.remembered);
        assert_eq!(bare.verdict(Some(&info(Some(params(7))))), Verdict::Trusted);
        assert!(refused(bare.verdict(Some(&info(Some(params(8)))))).contains("made again"));
        assert!(refused(bare.verdict(Some(&info(None)))).contains("plain text"));

        let legacy = Expected::of(&link("#room/words"), Some(remembered.clone()));
        assert!(legacy.remembered);
        assert!(refused(legacy.verdict(Some(&info(Some(params(8)))))).contains("made again"));

        let fp = fingerprint(&params(8));
        let pinned = Expected::of(&link(&format!("#room!e{fp}")), Some(remembered));
        assert!(!pinned.remembered, "the link's own pin wins");
        assert_eq!(
            pinned.verdict(Some(&info(Some(params(8))))),
            Verdict::Trusted
        );

        let plain_memory = Expected::of(&link("#room"), Some(Pin::Plain));
        assert_eq!(plain_memory.expectation, Expectation::Anything);
        assert!(!plain_memory.remembered);
    }
}
