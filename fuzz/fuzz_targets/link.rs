//! Share links (`shared/src/link.rs`): the fragment `#stream[/secret][!pin]`
//! and the full URL a user pastes, parsed by the web app and the CLI.
//!
//! Properties: a parsed link writes back (`fragment`) to a text that parses
//! to the same link, and the pin prints back to itself; `parse_url` agrees
//! with `parse_fragment` on the part after `#`; what a link expects is what
//! its pin and secret say; a link pinned to a stream accepts that stream and
//! refuses it once it is made again plain or with other parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use malten_shared::crypto::EncryptionParams;
use malten_shared::link::{fingerprint, Expectation, Link, Pin, PinMismatch};
use malten_shared::wire::{Cursor, StreamInfo};

fn info(link: &Link, encryption: Option<EncryptionParams>) -> StreamInfo {
    StreamInfo {
        stream: link.stream.clone(),
        private: true,
        ttl: 60,
        updated: Cursor(1),
        messages: 0,
        observers: 0,
        encrypted: encryption.is_some(),
        encryption,
        pipe: false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let from_url = Link::parse_url(text);
    if let Some((_, fragment)) = text.split_once('#') {
        if let Ok((base, link)) = &from_url {
            assert_eq!(Link::parse_fragment(fragment).as_ref(), Ok(link));
            assert!(!base.ends_with('/') && !base.contains('#') && !base.contains('?'));
        }
    } else {
        assert!(from_url.is_err(), "a URL without a fragment is no link");
    }
    let Ok(link) = Link::parse_fragment(text) else {
        return;
    };
    assert_ne!(link.secret.as_deref(), Some(""), "an empty secret is none");
    let written = link.fragment();
    assert_eq!(
        Link::parse_fragment(&written).as_ref(),
        Ok(&link),
        "{written}"
    );
    assert_eq!(Link::parse_fragment(&written[1..]).as_ref(), Ok(&link));
    let url = format!("https://example.invalid/{written}");
    let (base, again) = Link::parse_url(&url).expect("a written link is a URL");
    assert_eq!((base.as_str(), &again), ("https://example.invalid", &link));
    assert_eq!(
        Link::parse_fragment(&link.without_secret().fragment()).ok(),
        Some(link.without_secret())
    );

    // What the link expects, and the streams that meet it.
    let plain = info(&link, None);
    match (link.expectation(), &link.pin, &link.secret) {
        (Expectation::Pinned(pin), Some(own), _) => {
            assert_eq!(&pin, own);
            match &pin {
                Pin::Plain => assert_eq!(pin.check(&plain), Ok(())),
                Pin::Encrypted { fingerprint: want } => {
                    assert_eq!(pin.check(&plain), Err(PinMismatch::NotEncrypted));
                    assert_eq!(want.len(), malten_shared::link::FINGERPRINT_LEN);
                }
            }
        }
        (Expectation::SomeEncrypted, None, Some(_)) => {
            assert_eq!(
                link.expectation().check(&plain),
                Err(PinMismatch::NotEncrypted)
            );
        }
        (Expectation::Anything, None, None) => {
            assert_eq!(link.expectation().check(&plain), Ok(()));
        }
        (expectation, pin, secret) => {
            panic!("{expectation:?} from pin {pin:?} and secret {secret:?}")
        }
    }
    // A link made for an encrypted stream refuses the stream made again.
    let params = EncryptionParams {
        kdf: "pbkdf2-sha256".into(),
        salt: "AAECAwQFBgcICQoLDA0ODw".into(),
        iterations: 600_000,
        check: text.chars().take(64).collect(),
    };
    let encrypted = info(&link, Some(params.clone()));
    let pinned = Link::pinned(&encrypted, link.secret.as_deref());
    assert_eq!(pinned.expectation().check(&encrypted), Ok(()));
    assert_eq!(
        pinned.expectation().check(&plain),
        Err(PinMismatch::NotEncrypted)
    );
    let remade = EncryptionParams {
        salt: "AQECAwQFBgcICQoLDA0ODw".into(),
        ..params.clone()
    };
    assert_ne!(fingerprint(&remade), fingerprint(&params));
    assert_eq!(
        pinned.expectation().check(&info(&link, Some(remade))),
        Err(PinMismatch::DifferentKey)
    );
    let again = Link::parse_fragment(&pinned.fragment()).expect("a pinned link parses");
    assert_eq!(again, pinned);
});
