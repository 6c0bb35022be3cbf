//! Request parameters, parsed into each route's typed struct.
//!
//! Parameters come from the query string and, for `POST`, an urlencoded form
//! or a JSON object body, as the original Malten accepted all three; body
//! values win over query values (docs/api.md). The merged values are then
//! deserialized into the route's struct (`routes.rs`) with the lenient field
//! rules of [`fields`] (a number or boolean is accepted where text is
//! expected, an empty value is "absent", booleans are exactly Go's
//! `strconv.ParseBool` spellings `1 t T TRUE true True` and
//! `0 f F FALSE false False`, anything else refused).
//!
//! Errors keep the documented shape: `400 invalid_stream_name` for a bad
//! `stream`, else `400 invalid_parameter` with a sentence naming the field
//! (`` `limit` must be a non-negative whole number``). Fields are checked in
//! the order the struct declares them and the first failure is reported, so
//! each struct lists its fields in the order the route checks them. Unknown
//! fields are ignored.

mod fields;
mod routes;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use malten_shared::wire::Cursor;
use malten_shared::StreamName;
use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::AppState;

pub use routes::{CreateStream, ListMessages, PostMessage, Read, RunCommand, Subscribe};

/// A route's parameters from the query string and the body (`POST`).
#[derive(Debug)]
pub struct Params<T>(pub T);

/// A route's parameters from the query string only (`GET`); the body, if
/// any, is not read.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // The query is judged before the body is read, so a bad query is
        // reported as such even when the body is also too large.
        let params = query_params(request.uri().query())?;
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let limit = state.config.max_body_bytes;
        let body: Bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|err| body_error(&err, limit))?;
        with_body(params, &content_type, &body).map(Self)
    }
}

impl<T: DeserializeOwned> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Self::from_query(parts.uri.query())
    }
}

impl<T: DeserializeOwned> Query<T> {
    /// Parameters from a query string (for handlers that take the request
    /// apart themselves).
    pub fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        typed(query_params(query)?).map(Self)
    }
}

/// A route's parameters from a query string, a `Content-Type` header value
/// and a body already read: everything [`Params`] does once the body is in
/// memory, with the same errors. Public so that the fuzz target
/// (`fuzz/fuzz_targets/params.rs`) runs exactly the server's parser.
pub fn from_parts<T: DeserializeOwned>(
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    with_body(query_params(query)?, content_type, body)
}

/// The query string's pairs.
fn query_params(query: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    if let Some(query) = query {
        extend_from_form(&mut params, query.as_bytes())?;
    }
    Ok(params)
}

/// `params` with the body's values added (they win), as `T`.
fn with_body<T: DeserializeOwned>(
    mut params: Map<String, Value>,
    content_type: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    if !body.is_empty() {
        extend_from_body(&mut params, &content_type.to_ascii_lowercase(), body)?;
    }
    typed(params)
}

fn extend_from_body(
    params: &mut Map<String, Value>,
    content_type: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => params.extend(object),
            Ok(_) => return Err(ApiError::invalid("a JSON body must be an object")),
            Err(err) => {
                return Err(ApiError::invalid(format!(
                    "the JSON body is malformed at line {}, column {}",
                    err.line(),
                    err.column()
                )))
            }
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.is_empty()
    {
        // curl -d sends a form; a body with no type is read the same way.
        extend_from_form(params, body)?;
    } else {
        return Err(ApiError::invalid(
            "send parameters as a query string, an urlencoded form or a JSON object",
        ));
    }
    Ok(())
}

/// Why a body could not be read: over the limit, or broken framing (a
/// malformed chunk, a body shorter than its `Content-Length`).
fn body_error(err: &axum::Error, limit: usize) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return ApiError::BodyTooLarge { limit };
        }
        cause = current.source();
    }
    ApiError::InvalidBody
}

/// Adds `application/x-www-form-urlencoded` pairs. A key or value that is
/// not UTF-8 once percent-decoded is refused, never replaced with U+FFFD
/// (that would store something other than what was sent). A repeated key
/// keeps its last value.
fn extend_from_form(params: &mut Map<String, Value>, form: &[u8]) -> Result<(), ApiError> {
    for pair in form
        .split(|byte| *byte == b'&')
        .filter(|pair| !pair.is_empty())
    {
        let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let key = form_decode(key)
            .map_err(|_| ApiError::invalid("a parameter name is not valid UTF-8"))?;
        let value = form_decode(value)
            .map_err(|_| ApiError::invalid(format!("`{key}` is not valid UTF-8")))?;
        params.insert(key, Value::String(value));
    }
    Ok(())
}

/// Percent-decodes one form component (`+` is a space), strictly UTF-8.
fn form_decode(raw: &[u8]) -> Result<String, std::string::FromUtf8Error> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    String::from_utf8(percent_encoding::percent_decode(&spaced).collect())
}

/// The merged values as `T`, or the error for the first field that fails.
fn typed<T: DeserializeOwned>(params: Map<String, Value>) -> Result<T, ApiError> {
    let stream = params.get("stream").cloned();
    serde_path_to_error::deserialize(InFieldOrder(params)).map_err(|err| {
        let field = err.path().to_string();
        if field == "stream" {
            // Say why the name is invalid, with its own code.
            if let Some(Value::String(raw)) = stream {
                if let Err(invalid) = StreamName::parse(&raw) {
                    return ApiError::InvalidStreamName(invalid);
                }
            }
        }
        ApiError::invalid(format!("`{field}` {}", err.inner()))
    })
}

/// Parses a cursor from a parameter or `Last-Event-ID`; empty is `None`.
pub fn parse_cursor(what: &str, raw: &str) -> Result<Option<Cursor>, ApiError> {
    fields::cursor_text(raw).map_err(|err| ApiError::invalid(format!("`{what}` {err}")))
}

/// Presents the merged values to a struct's `Deserialize` one declared
/// field at a time, in declaration order, with `null` for the absent ones
/// (each field's parser decides what absence means). Unknown keys are
/// dropped. This is what makes "the first failing field, in the route's
/// order" hold whatever order the client sent.
struct InFieldOrder(Map<String, Value>);

impl<'de> Deserializer<'de> for InFieldOrder {
    type Error = serde_json::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let entries = fields
            .iter()
            .map(|field| (*field, self.0.remove(*field).unwrap_or(Value::Null)));
        let mut map = MapDeserializer::new(entries);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        Value::Object(self.0).deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests;
