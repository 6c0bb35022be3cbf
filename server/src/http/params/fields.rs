//! The lenient rules for one parameter's value, as `deserialize_with`
//! functions. Each receives the field's value (`null` when absent) and
//! returns `None` for absent; the error sentence follows the field's name,
//! which the caller puts in front (`` `ttl` must be ... ``).
//!
//! Text is the base of every rule: forms and query strings only carry text,
//! so a JSON number or boolean is read as its text, and an empty value means
//! "absent" for everything but plain text.

use std::str::FromStr;

use malten_shared::wire::Cursor;
use malten_shared::StreamName;
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;

/// Text; numbers and booleans are accepted as their text.
pub fn text<'de, D: Deserializer<'de>>(value: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(value)? {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(Error::custom("must be a string")),
    }
}

/// Text that must be present (it may be empty; the engine judges that).
pub fn required_text<'de, D: Deserializer<'de>>(value: D) -> Result<String, D::Error> {
    text(value)?.ok_or_else(|| Error::custom("is required"))
}

/// A stream name; absent or empty is `None`. A name that breaks the rules
/// fails here and is reported with its own code by the extractor.
pub fn stream<'de, D: Deserializer<'de>>(value: D) -> Result<Option<StreamName>, D::Error> {
    match text(value)? {
        Some(raw) if !raw.is_empty() => StreamName::parse(&raw).map(Some).map_err(Error::custom),
        _ => Ok(None),
    }
}

/// A boolean, spelled exactly as Go's `strconv.ParseBool` accepts it (the
/// original Malten parsed its flags with it, so scripts written for it keep
/// their meaning): `1 t T TRUE true True` and `0 f F FALSE false False`.
/// Anything else fails, so a privacy flag can never be misread as "off";
/// empty is absent.
pub fn boolean<'de, D: Deserializer<'de>>(value: D) -> Result<Option<bool>, D::Error> {
    let Some(raw) = text(value)? else {
        return Ok(None);
    };
    parse_bool(&raw).map_err(Error::custom)
}

/// The boolean rule of [`boolean`] on text.
pub fn parse_bool(raw: &str) -> Result<Option<bool>, &'static str> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        "" => Ok(None),
        _ => Err("must be one of 1 t T TRUE true True (true) or 0 f F FALSE false False (false)"),
    }
}

pub fn unsigned<'de, D: Deserializer<'de>>(value: D) -> Result<Option<u64>, D::Error> {
    whole_number(value, "must be a non-negative whole number")
}

pub fn signed<'de, D: Deserializer<'de>>(value: D) -> Result<Option<i64>, D::Error> {
    whole_number(value, "must be a whole number")
}

/// A number in text, surrounding ASCII spaces allowed (not Unicode ones,
/// which no client adds by mistake); empty is `None`.
fn whole_number<'de, D: Deserializer<'de>, T: FromStr>(
    value: D,
    sentence: &'static str,
) -> Result<Option<T>, D::Error> {
    match text(value)? {
        None => Ok(None),
        Some(raw) if raw.is_empty() => Ok(None),
        Some(raw) => raw
            .trim_ascii()
            .parse()
            .map(Some)
            .map_err(|_| Error::custom(sentence)),
    }
}

/// A cursor (unix nanoseconds); absent or empty is `None`.
pub fn cursor<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Cursor>, D::Error> {
    match text(value)? {
        None => Ok(None),
        Some(raw) => cursor_text(&raw).map_err(Error::custom),
    }
}

/// A cursor from text (a parameter or the `Last-Event-ID` header).
pub fn cursor_text(raw: &str) -> Result<Option<Cursor>, &'static str> {
    let raw = raw.trim_ascii();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| "must be a message cursor (unix nanoseconds, as in a message's `created`)")
}

/// A field the route reads only in some cases (`direction` only when no
/// `id` is given, `kdf` only for an encrypted stream, `last` only without a
/// `Last-Event-ID`): a malformed value is kept, not raised, and reported
/// only if the route reads it, so such a field cannot fail a request that
/// does not use it.
#[derive(Debug)]
pub struct Deferred<T>(Result<Option<T>, String>);

impl<T> Deferred<T> {
    /// The value, or the sentence for it (without the field's name).
    pub fn read(self) -> Result<Option<T>, String> {
        self.0
    }
}

fn deferred<T>(
    value: Value,
    parse: fn(Value) -> Result<Option<T>, serde_json::Error>,
) -> Deferred<T> {
    Deferred(parse(value).map_err(|err| err.to_string()))
}

pub fn deferred_text<'de, D: Deserializer<'de>>(value: D) -> Result<Deferred<String>, D::Error> {
    Ok(deferred(Value::deserialize(value)?, text))
}

pub fn deferred_signed<'de, D: Deserializer<'de>>(value: D) -> Result<Deferred<i64>, D::Error> {
    Ok(deferred(Value::deserialize(value)?, signed))
}

pub fn deferred_unsigned<'de, D: Deserializer<'de>>(value: D) -> Result<Deferred<u64>, D::Error> {
    Ok(deferred(Value::deserialize(value)?, unsigned))
}

pub fn deferred_cursor<'de, D: Deserializer<'de>>(value: D) -> Result<Deferred<Cursor>, D::Error> {
    Ok(deferred(Value::deserialize(value)?, cursor))
}
