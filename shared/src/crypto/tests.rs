//! Property tests of the whole format: what must hold for every message, key
//! and stream, not only for the examples in each file's own tests.
//!
//! Keys come from raw bytes or from PBKDF2 with a couple of iterations
//! ([`derive_unchecked`]): the public API refuses fewer than 600,000, which
//! would make a few hundred cases take minutes.

use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::envelope::{decode_base64url, encode, envelope_len};
use super::kdf::derive_unchecked;
use super::padding::bucket_for;
use super::*;

fn any_kind() -> impl Strategy<Value = PlaintextKind> {
    prop_oneof![
        Just(PlaintextKind::Message),
        Just(PlaintextKind::LlmPrompt),
        Just(PlaintextKind::LlmReply),
    ]
}

/// Any valid text: every character (controls, quotes, emoji) up to the limit.
fn any_text() -> impl Strategy<Value = String> {
    "(?s:.){1,1024}".prop_filter("valid message text", |text| {
        crate::check_message_text(text).is_ok()
    })
}

fn any_plaintext() -> impl Strategy<Value = Plaintext> {
    let nick = proptest::option::of(
        "(?s:.){1,32}".prop_filter("valid nick", |nick: &String| !nick.trim().is_empty()),
    );
    (any_text(), nick, 0..=MAX_SENT_AT, any_kind()).prop_map(|(text, nick, sent_at, kind)| {
        Plaintext {
            text,
            nick,
            sent_at,
            kind,
        }
    })
}

fn any_stream() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{1,64}"
}

proptest! {
    #[test]
    fn every_valid_message_round_trips(
        key in any::<[u8; 32]>(),
        stream in any_stream(),
        plain in any_plaintext(),
    ) {
        let key = StreamKey::from_bytes(key);
        let sealed = seal(&key, &stream, &plain).unwrap();
        prop_assert_eq!(check_envelope(&sealed), Ok(()));
        prop_assert_eq!(open(&key, &stream, &sealed), Ok(plain));
    }

    #[test]
    fn any_single_flipped_bit_is_rejected(
        key in any::<[u8; 32]>(),
        plain in any_plaintext(),
        bit in any::<prop::sample::Index>(),
    ) {
        let key = StreamKey::from_bytes(key);
        let sealed = seal(&key, "_", &plain).unwrap();
        let mut bytes = decode_base64url(&sealed).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let tampered = encode(&bytes);
        let err = open(&key, "_", &tampered).unwrap_err();
        if bit < 8 {
            prop_assert_eq!(err, CryptoError::Envelope(EnvelopeError::UnsupportedVersion));
        } else {
            prop_assert_eq!(err, CryptoError::Undecryptable);
        }
    }

    #[test]
    fn a_wrong_passphrase_is_rejected(
        right in "\\PC{1,24}",
        wrong in "\\PC{1,24}",
        salt in any::<[u8; SALT_LEN]>(),
        plain in any_plaintext(),
    ) {
        prop_assume!(right.nfc().ne(wrong.nfc()));
        let right = derive_unchecked(&right, &salt, 2);
        let wrong = derive_unchecked(&wrong, &salt, 2);
        let sealed = seal(&right, "_", &plain).unwrap();
        prop_assert_eq!(open(&wrong, "_", &sealed), Err(CryptoError::Undecryptable));
        let check = make_key_check(&right).unwrap();
        prop_assert!(verify_key_check(&right, &check));
        prop_assert!(!verify_key_check(&wrong, &check));
    }

    #[test]
    fn canonically_equivalent_passphrases_give_the_same_key(
        passphrase in "\\PC{1,24}",
        salt in any::<[u8; SALT_LEN]>(),
    ) {
        let decomposed: String = passphrase.nfd().collect();
        let composed: String = passphrase.nfc().collect();
        let (a, b) = (derive_unchecked(&decomposed, &salt, 2), derive_unchecked(&composed, &salt, 2));
        prop_assert_eq!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn a_wrong_stream_is_rejected(
        key in any::<[u8; 32]>(),
        stream in any_stream(),
        other in any_stream(),
        plain in any_plaintext(),
    ) {
        prop_assume!(stream != other);
        let key = StreamKey::from_bytes(key);
        let sealed = seal(&key, &stream, &plain).unwrap();
        prop_assert_eq!(open(&key, &other, &sealed), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn texts_in_the_same_bucket_give_envelopes_of_equal_length(
        key in any::<[u8; 32]>(),
        a in any_plaintext(),
        b in any_plaintext(),
    ) {
        let key = StreamKey::from_bytes(key);
        let bucket = |p: &Plaintext| bucket_for(serde_json::to_vec(p).unwrap().len()).unwrap();
        let (sealed_a, sealed_b) = (seal(&key, "_", &a).unwrap(), seal(&key, "_", &b).unwrap());
        prop_assert_eq!(sealed_a.len(), envelope_len(bucket(&a)));
        prop_assert_eq!(
            sealed_a.len() == sealed_b.len(),
            bucket(&a) == bucket(&b)
        );
    }

    #[test]
    fn short_texts_all_give_the_smallest_envelope(
        key in any::<[u8; 32]>(),
        a in "[ a-zA-Z0-9]{0,150}[a-zA-Z0-9]",
        b in "[ a-zA-Z0-9]{0,150}[a-zA-Z0-9]",
    ) {
        let key = StreamKey::from_bytes(key);
        let seal_text = |text: String| {
            seal(&key, "_", &Plaintext::new(text, PlaintextKind::Message, 1_700_000_000_000))
                .unwrap()
        };
        let (sealed_a, sealed_b) = (seal_text(a), seal_text(b));
        prop_assert_eq!(sealed_a.len(), sealed_b.len());
        prop_assert_eq!(sealed_a.len(), envelope_len(BUCKETS[0]));
    }

    #[test]
    fn check_envelope_never_panics(input in "\\PC{0,400}") {
        let _ = check_envelope(&input);
    }
}
