use proptest::prelude::*;

use super::*;
use crate::crypto::EncryptionParams;
use crate::wire::{Cursor, StreamInfo};

fn params(salt_byte: u8) -> EncryptionParams {
    EncryptionParams::from_parts(&[salt_byte; 16], 600_000, format!("AQ{}", "A".repeat(62)))
}

fn info(name: &str, encryption: Option<EncryptionParams>) -> StreamInfo {
    StreamInfo {
        pipe: false,
        stream: StreamName::parse(name).unwrap(),
        private: true,
        ttl: 1024,
        updated: Cursor::default(),
        messages: 0,
        observers: 0,
        encrypted: encryption.is_some(),
        encryption,
    }
}

#[test]
fn the_fingerprint_is_the_documented_digest() {
    // docs/crypto.md gives this vector (checked with Python hashlib).
    let params = params(7);
    assert_eq!(fingerprint(&params).len(), FINGERPRINT_LEN);
    assert_eq!(fingerprint(&params), "FizDBPBOVXEErg7q");
}

#[test]
fn every_parameter_changes_the_fingerprint() {
    let base = params(7);
    let mut other_salt = base.clone();
    other_salt.salt = params(8).salt;
    let mut other_iterations = base.clone();
    other_iterations.iterations += 1;
    let mut other_check = base.clone();
    other_check.check = format!("AQ{}", "B".repeat(62));
    for other in [other_salt, other_iterations, other_check] {
        assert_ne!(fingerprint(&base), fingerprint(&other), "{other:?}");
    }
}

#[test]
fn fragments_parse_into_links() {
    let name = StreamName::parse("room-1").unwrap();
    let fp = fingerprint(&params(7));
    let cases = [
        ("#room-1", None, None),
        ("room-1", None, None),
        ("#room-1/", None, None),
        ("#room-1/a%20b%2F%21", Some("a b/!"), None),
        ("#room-1!p", None, Some(Pin::Plain)),
        (
            &format!("#room-1/pass!e{fp}") as &str,
            Some("pass"),
            Some(Pin::Encrypted {
                fingerprint: fp.clone(),
            }),
        ),
    ];
    for (fragment, secret, pin) in cases {
        let link = Link::parse_fragment(fragment).unwrap();
        assert_eq!(link.stream, name, "{fragment}");
        assert_eq!(link.secret.as_deref(), secret, "{fragment}");
        assert_eq!(link.pin, pin, "{fragment}");
    }
}

#[test]
fn bad_fragments_are_refused_with_the_reason() {
    assert!(matches!(Link::parse_fragment("#"), Err(LinkError::Name(_))));
    assert!(matches!(
        Link::parse_fragment("#a b"),
        Err(LinkError::Name(_))
    ));
    for pin in ["!", "!x", "!pp", "!e", "!eshort", "!e%%%%%%%%%%%%%%%%"] {
        assert_eq!(
            Link::parse_fragment(&format!("#room{pin}")),
            Err(LinkError::BadPin),
            "{pin}"
        );
    }
    assert_eq!(Link::parse_fragment("#room/%FF"), Err(LinkError::BadSecret));
}

#[test]
fn percent_decoding_keeps_malformed_escapes_and_refuses_signs() {
    assert_eq!(percent_decode("100%").unwrap(), "100%");
    assert_eq!(percent_decode("%4").unwrap(), "%4");
    assert_eq!(percent_decode("%+1").unwrap(), "%+1");
    assert_eq!(percent_decode("%41%42").unwrap(), "AB");
}

#[test]
fn urls_split_into_server_and_link() {
    let (base, link) = Link::parse_url("https://malten.example/app/#room/pw!p").unwrap();
    assert_eq!(base, "https://malten.example/app");
    assert_eq!(link.secret.as_deref(), Some("pw"));
    assert_eq!(link.pin, Some(Pin::Plain));
    let (base, _) = Link::parse_url("http://127.0.0.1:9090/?x=1#room").unwrap();
    assert_eq!(base, "http://127.0.0.1:9090");
    assert_eq!(Link::parse_url("room"), Err(LinkError::NotALink));
    assert_eq!(Link::parse_url("ftp://h/#room"), Err(LinkError::NotALink));
    for hostless in [
        "http://#room",
        "https:///#room",
        "http://?x#room",
        "https://",
    ] {
        assert_eq!(
            Link::parse_url(hostless),
            Err(LinkError::NotALink),
            "{hostless}"
        );
    }
}

#[test]
fn pins_accept_only_the_stream_they_were_made_for() {
    let original = info("room", Some(params(7)));
    let recreated = info("room", Some(params(8)));
    let squatted = info("room", None);
    let pin = Pin::of(&original);
    assert_eq!(pin.check(&original), Ok(()));
    assert_eq!(pin.check(&recreated), Err(PinMismatch::DifferentKey));
    assert_eq!(pin.check(&squatted), Err(PinMismatch::NotEncrypted));
    assert_eq!(Pin::Plain.check(&squatted), Ok(()));
    assert_eq!(Pin::Plain.check(&original), Err(PinMismatch::NotPlain));
}

#[test]
fn a_secret_without_a_pin_still_expects_encryption() {
    let legacy = Link::parse_fragment("#room/pw").unwrap();
    assert_eq!(legacy.expectation(), Expectation::SomeEncrypted);
    assert_eq!(
        legacy.expectation().check(&info("room", None)),
        Err(PinMismatch::NotEncrypted)
    );
    assert_eq!(
        legacy.expectation().check(&info("room", Some(params(1)))),
        Ok(())
    );
    let bare = Link::parse_fragment("#room").unwrap();
    assert_eq!(bare.expectation().check(&info("room", None)), Ok(()));
}

#[test]
fn the_share_link_without_the_passphrase_keeps_the_pin() {
    let link = Link::pinned(&info("room", Some(params(7))), Some("pw"));
    let shared = link.without_secret();
    assert_eq!(shared.secret, None);
    assert_eq!(shared.pin, link.pin);
    assert!(shared.fragment().starts_with("#room!e"));
}

#[test]
fn a_pin_reads_back_from_its_text() {
    let encrypted = Pin::of(&info("room", Some(params(7))));
    for pin in [Pin::Plain, encrypted] {
        assert_eq!(pin.to_string().parse::<Pin>(), Ok(pin));
    }
    for bad in ["", "P", "pp", "e", "eFizDBPBOVXEErg7", "x"] {
        assert_eq!(bad.parse::<Pin>(), Err(LinkError::BadPin), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn links_round_trip_through_their_fragment(
        name in "[A-Za-z0-9._~-]{1,64}",
        secret in proptest::option::of("\\PC{1,40}"),
        plain in any::<bool>(),
        salt in any::<u8>(),
    ) {
        let encryption = (!plain).then(|| params(salt));
        let link = Link::pinned(&info(&name, encryption), secret.as_deref());
        prop_assert_eq!(Link::parse_fragment(&link.fragment()).unwrap(), link);
    }

    #[test]
    fn parsing_any_fragment_never_panics(fragment in "\\PC{0,120}") {
        if let Ok(link) = Link::parse_fragment(&fragment) {
            prop_assert!(link.secret.as_deref() != Some(""));
        }
    }
}
