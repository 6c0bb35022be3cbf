//! What the URL fragment asks for.
//!
//! The fragment is never sent to the server, which is why a private link can
//! carry a stream's secret there. Its grammar is [`malten_shared::link`]'s
//! (normative in `docs/crypto.md`, section 9a):
//! - `#` or nothing: explore the public streams;
//! - `#<stream>`: open a stream;
//! - `#<stream>/<secret>`: open an encrypted stream with its passphrase
//!   (percent-encoded), decrypting at once;
//! - either followed by `!<pin>` (`!p`, or `!e` and a key fingerprint): what
//!   the stream must be, checked before anything is decrypted or sent
//!   ([`crate::trust`]).

use malten_shared::link::Link;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Explore,
    Stream(Link),
    /// The fragment is not a valid link; the reason is shown.
    Invalid(String),
}

impl Route {
    /// Parses a fragment, with or without its leading `#`.
    pub fn parse(fragment: &str) -> Route {
        let bare = fragment.strip_prefix('#').unwrap_or(fragment);
        if bare.is_empty() {
            return Route::Explore;
        }
        match Link::parse_fragment(bare) {
            Ok(link) => Route::Stream(link),
            Err(err) => Route::Invalid(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use malten_shared::link::{Expectation, Pin};
    use malten_shared::StreamName;

    use super::*;

    fn stream(name: &str, secret: Option<&str>, pin: Option<Pin>) -> Route {
        Route::Stream(Link {
            stream: StreamName::parse(name).unwrap(),
            secret: secret.map(str::to_owned),
            pin,
        })
    }

    #[test]
    fn fragments_map_to_routes() {
        assert_eq!(Route::parse(""), Route::Explore);
        assert_eq!(Route::parse("#"), Route::Explore);
        assert_eq!(Route::parse("#lobby"), stream("lobby", None, None));
        assert_eq!(Route::parse("#lobby/"), stream("lobby", None, None));
        assert_eq!(
            Route::parse("#x/s%C3%A9cret%20words"),
            stream("x", Some("sécret words"), None)
        );
        assert!(matches!(Route::parse("#bad name"), Route::Invalid(_)));
    }

    #[test]
    fn pinned_fragments_keep_their_pin() {
        let fp = "FizDBPBOVXEErg7q";
        let encrypted = Pin::Encrypted {
            fingerprint: fp.to_owned(),
        };
        assert_eq!(
            Route::parse(&format!("#room/words!e{fp}")),
            stream("room", Some("words"), Some(encrypted.clone()))
        );
        assert_eq!(
            Route::parse(&format!("#room!e{fp}")),
            stream("room", None, Some(encrypted))
        );
        assert_eq!(
            Route::parse("#room!p"),
            stream("room", None, Some(Pin::Plain))
        );
        // A pin the app cannot read is refused, never ignored: ignoring it
        // would open the stream without the check the link asked for.
        assert!(matches!(Route::parse("#room!x"), Route::Invalid(_)));
        assert!(matches!(Route::parse("#room!eshort"), Route::Invalid(_)));
    }

    #[test]
    fn old_links_still_open_and_a_secret_still_expects_encryption() {
        let Route::Stream(link) = Route::parse("#room/tulip%20anchor") else {
            panic!("a stream link");
        };
        assert_eq!(link.secret.as_deref(), Some("tulip anchor"));
        assert_eq!(link.expectation(), Expectation::SomeEncrypted);
        let Route::Stream(link) = Route::parse("#room") else {
            panic!("a stream link");
        };
        assert_eq!(link.expectation(), Expectation::Anything);
    }

    #[test]
    fn secrets_round_trip_through_a_fragment() {
        let name = StreamName::parse("room").unwrap();
        for secret in [
            "plain",
            "with space/and#hash",
            "ünïcødé 🔑",
            "100%",
            "bang!p",
        ] {
            let link = Link {
                stream: name.clone(),
                secret: Some(secret.to_owned()),
                pin: Some(Pin::Plain),
            };
            let fragment = link.fragment();
            assert_eq!(
                Route::parse(&fragment),
                stream("room", Some(secret), Some(Pin::Plain)),
                "{fragment}"
            );
        }
    }
}
