//! Share links: which stream, its passphrase, and what the stream must be.
//!
//! A link is a URL whose fragment (never sent to a server) names a stream:
//!
//! ```text
//! https://host/#<stream>[/<secret>][!<pin>]
//! ```
//!
//! - `<stream>` is a [`StreamName`] (URL-unreserved characters only);
//! - `<secret>` is the passphrase, percent-encoded (everything outside
//!   `A-Z a-z 0-9 - . _ ~` as `%XX` of its UTF-8 bytes), so it never contains
//!   `/` or `!`;
//! - `<pin>` says what the stream must be when the link is opened:
//!   `p` (plain) or `e` followed by the 16-character [`fingerprint`] of the
//!   stream's encryption parameters.
//!
//! # Why a pin
//! Whoever posts first to a name decides whether it is encrypted, and when a
//! private stream expires anyone who knows its name can create it again, as
//! plain text or with another salt. Without a pin a client opening an old
//! link would happily post plaintext to a squatted stream. The pin lets a
//! client refuse: [`Pin::check`] compares it with the stream the server
//! describes. A link with a secret but no pin (made before pins existed)
//! still expects an encrypted stream: [`Link::expectation`].

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::crypto::EncryptionParams;
use crate::wire::StreamInfo;
use crate::{StreamName, StreamNameError};

/// Characters of a fingerprint: 12 bytes (96 bits) of SHA-256, base64url.
pub const FINGERPRINT_LEN: usize = 16;

/// Separates the pin from the rest of the fragment.
const PIN_SEPARATOR: char = '!';

/// Domain separation for [`fingerprint`], so it can never equal a hash made
/// for another purpose.
const FINGERPRINT_DOMAIN: &[u8] = b"malten/v1/pin";

/// A short, stable digest of a stream's encryption parameters: KDF, salt,
/// iterations and key check. A stream made again under the same name gets a
/// new salt and key check, so a different fingerprint, even with the same
/// passphrase.
///
/// ```text
/// fingerprint = base64url-without-padding( SHA-256( "malten/v1/pin" || 0x00 ||
///     kdf || 0x00 || salt || 0x00 || decimal(iterations) || 0x00 || check )[0..12] )
/// ```
pub fn fingerprint(params: &EncryptionParams) -> String {
    let mut hash = Sha256::new();
    for part in [
        FINGERPRINT_DOMAIN,
        params.kdf.as_bytes(),
        params.salt.as_bytes(),
        params.iterations.to_string().as_bytes(),
    ] {
        hash.update(part);
        hash.update([0]);
    }
    hash.update(params.check.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..12])
}

/// What a link says the stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A plain-text stream.
    Plain,
    /// An encrypted stream whose parameters have this [`fingerprint`].
    Encrypted { fingerprint: String },
}

/// Why a stream is not the one a link was made for. The messages are shown
/// to users as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinMismatch {
    #[error("this link is for an end-to-end encrypted stream, but the stream with this name is plain text: it was made again by someone else, so nothing will be sent to it")]
    NotEncrypted,
    #[error("this link is for a plain-text stream, but the stream with this name is encrypted: it was made again by someone else")]
    NotPlain,
    #[error("this stream's encryption is not the one the link was made for: the stream was made again (after it expired, or by someone else), so nothing will be sent to it")]
    DifferentKey,
}

impl Pin {
    /// The pin of a stream as the server describes it.
    pub fn of(info: &StreamInfo) -> Pin {
        match &info.encryption {
            Some(params) => Pin::Encrypted {
                fingerprint: fingerprint(params),
            },
            None => Pin::Plain,
        }
    }

    /// Whether `info` is the stream this pin describes.
    pub fn check(&self, info: &StreamInfo) -> Result<(), PinMismatch> {
        match (self, Pin::of(info)) {
            (Pin::Plain, Pin::Plain) => Ok(()),
            (Pin::Plain, Pin::Encrypted { .. }) => Err(PinMismatch::NotPlain),
            (Pin::Encrypted { .. }, Pin::Plain) => Err(PinMismatch::NotEncrypted),
            (Pin::Encrypted { fingerprint: want }, Pin::Encrypted { fingerprint: got }) => {
                if *want == got {
                    Ok(())
                } else {
                    Err(PinMismatch::DifferentKey)
                }
            }
        }
    }

    fn parse(text: &str) -> Result<Pin, LinkError> {
        match text.split_at_checked(1) {
            Some(("p", "")) => Ok(Pin::Plain),
            Some(("e", fingerprint))
                if fingerprint.len() == FINGERPRINT_LEN
                    && URL_SAFE_NO_PAD.decode(fingerprint).is_ok() =>
            {
                Ok(Pin::Encrypted {
                    fingerprint: fingerprint.to_owned(),
                })
            }
            _ => Err(LinkError::BadPin),
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pin::Plain => f.write_str("p"),
            Pin::Encrypted { fingerprint } => write!(f, "e{fingerprint}"),
        }
    }
}

/// A pin as written after `!` in a link (`p` or `e<fingerprint>`), for
/// clients that keep a stream's pin on their own, away from its link.
impl FromStr for Pin {
    type Err = LinkError;

    fn from_str(text: &str) -> Result<Pin, LinkError> {
        Pin::parse(text)
    }
}

/// What a client must find when it opens a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// The link says nothing: a public stream or a bare name.
    Anything,
    /// A secret without a pin: some encrypted stream.
    SomeEncrypted,
    /// Exactly this stream.
    Pinned(Pin),
}

impl Expectation {
    /// Whether `info` meets the expectation.
    pub fn check(&self, info: &StreamInfo) -> Result<(), PinMismatch> {
        match self {
            Expectation::Anything => Ok(()),
            Expectation::SomeEncrypted if info.encryption.is_some() => Ok(()),
            Expectation::SomeEncrypted => Err(PinMismatch::NotEncrypted),
            Expectation::Pinned(pin) => pin.check(info),
        }
    }
}

/// Why a fragment is not a link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error(transparent)]
    Name(#[from] StreamNameError),
    #[error("the link's pin must be 'p' or 'e' and a {FINGERPRINT_LEN}-character fingerprint")]
    BadPin,
    #[error("the link's passphrase is not valid percent-encoded UTF-8")]
    BadSecret,
    #[error("a link is http(s)://host/#stream[/secret][!pin]")]
    NotALink,
}

/// A parsed share link (its fragment; the server's address is separate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub stream: StreamName,
    /// The passphrase, decoded; never empty.
    pub secret: Option<String>,
    pub pin: Option<Pin>,
}

impl Link {
    /// A link to `stream` with no secret and no pin.
    pub fn bare(stream: StreamName) -> Link {
        Link {
            stream,
            secret: None,
            pin: None,
        }
    }

    /// The link for a stream as the server describes it, pinned to it.
    pub fn pinned(info: &StreamInfo, secret: Option<&str>) -> Link {
        Link {
            stream: info.stream.clone(),
            secret: secret.filter(|s| !s.is_empty()).map(str::to_owned),
            pin: Some(Pin::of(info)),
        }
    }

    /// Parses a fragment, with or without its leading `#`.
    pub fn parse_fragment(fragment: &str) -> Result<Link, LinkError> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let (rest, pin) = match fragment.rsplit_once(PIN_SEPARATOR) {
            Some((rest, pin)) => (rest, Some(Pin::parse(pin)?)),
            None => (fragment, None),
        };
        let (name, secret) = match rest.split_once('/') {
            Some((name, secret)) => (name, Some(percent_decode(secret)?)),
            None => (rest, None),
        };
        Ok(Link {
            stream: StreamName::parse(name)?,
            secret: secret.filter(|s| !s.is_empty()),
            pin,
        })
    }

    /// Splits a full URL (`http://host/#stream/secret!pin`) into the
    /// server's base URL (scheme, host and path, no trailing `/`) and the
    /// link.
    pub fn parse_url(url: &str) -> Result<(String, Link), LinkError> {
        let (base, fragment) = url.split_once('#').ok_or(LinkError::NotALink)?;
        let base = base.split_once('?').map_or(base, |(base, _)| base);
        let host = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(LinkError::NotALink)?;
        // `http://#room`, `http:///x#room`: no server to talk to.
        if host.split('/').next().is_none_or(str::is_empty) {
            return Err(LinkError::NotALink);
        }
        Ok((
            base.trim_end_matches('/').to_owned(),
            Link::parse_fragment(fragment)?,
        ))
    }

    /// The fragment, with its leading `#`.
    pub fn fragment(&self) -> String {
        let mut out = format!("#{}", self.stream);
        if let Some(secret) = &self.secret {
            out.push('/');
            out.push_str(&percent_encode(secret));
        }
        if let Some(pin) = &self.pin {
            out.push(PIN_SEPARATOR);
            out.push_str(&pin.to_string());
        }
        out
    }

    /// The same link without its secret: safe to share where the passphrase
    /// travels separately. Keeps the pin.
    pub fn without_secret(&self) -> Link {
        Link {
            secret: None,
            ..self.clone()
        }
    }

    /// What the stream must be for this link to be trusted.
    pub fn expectation(&self) -> Expectation {
        match (&self.pin, &self.secret) {
            (Some(pin), _) => Expectation::Pinned(pin.clone()),
            (None, Some(_)) => Expectation::SomeEncrypted,
            (None, None) => Expectation::Anything,
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

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as it
/// is (links typed by hand), but the bytes must be UTF-8.
pub fn percent_decode(text: &str) -> Result<String, LinkError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| LinkError::BadSecret)
}

#[cfg(test)]
mod tests;
