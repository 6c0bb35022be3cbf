//! Request parameters from the query string, an urlencoded form or a JSON
//! body, merged, as the original Malten accepted all three.
//!
//! Every accessor returns a clear 400 naming the parameter when a value is
//! malformed, so handlers never see half-parsed input.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use malten_shared::wire::Cursor;
use malten_shared::StreamName;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::AppState;

/// The merged parameters; body values win over query values.
#[derive(Debug, Default)]
pub struct Params(Map<String, Value>);

impl FromRequest<AppState> for Params {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut params = Map::new();
        if let Some(query) = request.uri().query() {
            extend_from_form(&mut params, query.as_bytes());
        }
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let limit = state.config.max_body_bytes;
        let body: Bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| ApiError::BodyTooLarge { limit })?;
        if body.is_empty() {
            return Ok(Self(params));
        }
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(&body) {
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
            extend_from_form(&mut params, &body);
        } else {
            return Err(ApiError::invalid(
                "send parameters as a query string, an urlencoded form or a JSON object",
            ));
        }
        Ok(Self(params))
    }
}

/// Adds `application/x-www-form-urlencoded` pairs; invalid UTF-8 is decoded
/// lossily, as browsers do. A repeated key keeps its last value.
fn extend_from_form(params: &mut Map<String, Value>, form: &[u8]) {
    for (key, value) in form_urlencoded::parse(form) {
        params.insert(key.into_owned(), Value::String(value.into_owned()));
    }
}

impl Params {
    /// Parameters from a query string only (for GET routes).
    pub fn from_query(query: Option<&str>) -> Self {
        let mut params = Map::new();
        if let Some(query) = query {
            extend_from_form(&mut params, query.as_bytes());
        }
        Self(params)
    }

    /// A string parameter; numbers and booleans are accepted as their text.
    pub fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ApiError::invalid(format!("`{key}` must be a string"))),
        }
    }

    /// A stream name; absent or empty means `default`.
    pub fn stream_or(
        &self,
        default: impl FnOnce() -> Option<StreamName>,
    ) -> Result<Option<StreamName>, ApiError> {
        match self.text("stream")? {
            Some(raw) if !raw.is_empty() => Ok(Some(StreamName::parse(&raw)?)),
            _ => Ok(default()),
        }
    }

    /// The `stream` parameter, defaulting to `_`.
    pub fn stream(&self) -> Result<StreamName, ApiError> {
        Ok(self
            .stream_or(|| Some(StreamName::default_stream()))?
            .unwrap_or_default())
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(ApiError::invalid(format!("`{key}` must be true or false"))),
        }
    }

    pub fn unsigned(&self, key: &str) -> Result<Option<u64>, ApiError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        raw.trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("`{key}` must be a non-negative whole number")))
    }

    pub fn signed(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        raw.trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("`{key}` must be a whole number")))
    }

    /// A cursor (unix nanoseconds); absent or empty is `None`.
    pub fn cursor(&self, key: &str) -> Result<Option<Cursor>, ApiError> {
        let Some(raw) = self.text(key)? else {
            return Ok(None);
        };
        parse_cursor(key, &raw)
    }
}

/// Parses a cursor from a parameter or `Last-Event-ID`; empty is `None`.
pub fn parse_cursor(what: &str, raw: &str) -> Result<Option<Cursor>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| {
        ApiError::invalid(format!(
            "`{what}` must be a message cursor (unix nanoseconds, as in a message's `created`)"
        ))
    })
}
