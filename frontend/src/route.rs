//! What the URL fragment asks for.
//!
//! The fragment is never sent to the server, which is why a private link can
//! carry a stream's secret there:
//! - `#` or nothing: explore the public streams;
//! - `#<stream>`: open a stream;
//! - `#<stream>/<secret>`: open an encrypted stream with its passphrase
//!   (percent-encoded), decrypting at once.

use malten_shared::StreamName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Explore,
    Stream {
        name: StreamName,
        secret: Option<String>,
    },
    /// The fragment named no valid stream; the reason is shown.
    Invalid(String),
}

impl Route {
    /// Parses a fragment, with or without its leading `#`.
    pub fn parse(fragment: &str) -> Route {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        if fragment.is_empty() {
            return Route::Explore;
        }
        let (raw_name, secret) = match fragment.split_once('/') {
            Some((name, secret)) => (name, Some(percent_decode(secret))),
            None => (fragment, None),
        };
        match StreamName::parse(raw_name) {
            Ok(name) => Route::Stream {
                name,
                secret: secret.filter(|s| !s.is_empty()),
            },
            Err(err) => Route::Invalid(err.to_string()),
        }
    }

    /// The fragment for a stream, with its secret when given.
    pub fn stream_fragment(name: &StreamName, secret: Option<&str>) -> String {
        match secret {
            Some(secret) => format!("#{name}/{}", percent_encode(secret)),
            None => format!("#{name}"),
        }
    }
}

/// Percent-encodes everything outside the URL-unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, secret: Option<&str>) -> Route {
        Route::Stream {
            name: StreamName::parse(name).unwrap(),
            secret: secret.map(str::to_owned),
        }
    }

    #[test]
    fn fragments_map_to_routes() {
        assert_eq!(Route::parse(""), Route::Explore);
        assert_eq!(Route::parse("#"), Route::Explore);
        assert_eq!(Route::parse("#lobby"), stream("lobby", None));
        assert_eq!(Route::parse("#lobby/"), stream("lobby", None));
        assert_eq!(
            Route::parse("#x/s%C3%A9cret%20words"),
            stream("x", Some("sécret words"))
        );
        assert!(matches!(Route::parse("#bad name"), Route::Invalid(_)));
    }

    #[test]
    fn secrets_round_trip_through_a_fragment() {
        let name = StreamName::parse("room").unwrap();
        for secret in ["plain", "with space/and#hash", "ünïcødé 🔑", "100%"] {
            let fragment = Route::stream_fragment(&name, Some(secret));
            assert_eq!(
                Route::parse(&fragment),
                stream("room", Some(secret)),
                "{fragment}"
            );
        }
    }
}
