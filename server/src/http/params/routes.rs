//! Each route's parameters as a struct. Fields are listed in the order the
//! route checks them: the first that fails is the one reported.

use malten_shared::crypto::{EncryptionParams, KDF_NAME};
use malten_shared::limits::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use malten_shared::wire::Cursor;
use malten_shared::StreamName;
use serde::de::{Deserializer, Error};
use serde::Deserialize;

use super::fields::{self, Deferred};
use crate::engine::Page;
use crate::error::ApiError;

/// The value of a deferred field, with the error naming the field.
fn read<T>(field: &str, value: Deferred<T>) -> Result<Option<T>, ApiError> {
    value
        .read()
        .map_err(|err| ApiError::invalid(format!("`{field}` {err}")))
}

/// `POST /messages`.
#[derive(Debug, Deserialize)]
pub struct PostMessage {
    #[serde(deserialize_with = "fields::stream")]
    pub stream: Option<StreamName>,
    #[serde(deserialize_with = "fields::required_text")]
    pub message: String,
}

/// `GET /messages`.
#[derive(Debug, Deserialize)]
pub struct ListMessages {
    #[serde(deserialize_with = "fields::stream")]
    pub stream: Option<StreamName>,
    #[serde(deserialize_with = "page_limit")]
    pub limit: usize,
    #[serde(deserialize_with = "fields::cursor")]
    pub last: Option<Cursor>,
    #[serde(deserialize_with = "fields::text")]
    id: Option<String>,
    #[serde(deserialize_with = "fields::deferred_signed")]
    direction: Deferred<i64>,
}

/// What `GET /messages` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// One message by id.
    ById(String),
    /// A page, `limit` long.
    Page(Page),
}

impl ListMessages {
    /// A non-empty `id` fetches one message (and `direction` is not read);
    /// otherwise `direction=1` pages forward (`created > last`, oldest
    /// first) and `-1`, the default, backward (`created < last`, `last`
    /// absent or 0 meaning "from the newest").
    pub fn read(self) -> Result<Read, ApiError> {
        if let Some(id) = self.id.filter(|id| !id.is_empty()) {
            return Ok(Read::ById(id));
        }
        let last = self.last;
        match read("direction", self.direction)? {
            Some(1) => Ok(Read::Page(Page::Forward {
                after: last.unwrap_or(Cursor::START),
            })),
            None | Some(-1) => Ok(Read::Page(Page::Backward {
                before: last.filter(|cursor| *cursor != Cursor::START),
            })),
            Some(_) => Err(ApiError::invalid("`direction` must be 1 or -1")),
        }
    }
}

/// `limit`: 1 to `MAX_PAGE_LIMIT`, `DEFAULT_PAGE_LIMIT` when absent.
fn page_limit<'de, D: Deserializer<'de>>(value: D) -> Result<usize, D::Error> {
    match fields::unsigned(value)? {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(limit @ 1..) if limit <= MAX_PAGE_LIMIT as u64 => Ok(limit as usize),
        Some(_) => Err(Error::custom(format!(
            "must be between 1 and {MAX_PAGE_LIMIT}"
        ))),
    }
}

/// `POST /streams`.
#[derive(Debug, Deserialize)]
pub struct CreateStream {
    #[serde(deserialize_with = "fields::stream")]
    pub stream: Option<StreamName>,
    #[serde(deserialize_with = "fields::boolean")]
    pub private: Option<bool>,
    #[serde(deserialize_with = "fields::unsigned")]
    pub ttl: Option<u64>,
    #[serde(deserialize_with = "fields::boolean")]
    pub encrypted: Option<bool>,
    #[serde(deserialize_with = "fields::text")]
    pub salt: Option<String>,
    #[serde(deserialize_with = "fields::deferred_unsigned")]
    iterations: Deferred<u64>,
    #[serde(deserialize_with = "fields::text")]
    pub check: Option<String>,
    #[serde(deserialize_with = "fields::deferred_text")]
    kdf: Deferred<String>,
    #[serde(deserialize_with = "fields::boolean")]
    pub pipe: Option<bool>,
}

impl CreateStream {
    /// The key-derivation parameters, present exactly when `encrypted=true`.
    /// With it, a missing or malformed one is `invalid_encryption`
    /// (docs/crypto.md, section 1); without it, any of them is
    /// `invalid_parameter`.
    pub fn encryption(self) -> Result<Option<EncryptionParams>, ApiError> {
        let encrypted = self.encrypted.unwrap_or(false);
        let (salt, check) = (self.salt, self.check);
        let iterations = self.iterations.read();
        if !encrypted {
            if salt.is_some() || !matches!(iterations, Ok(None)) || check.is_some() {
                return Err(ApiError::invalid(
                    "`salt`, `iterations` and `check` only apply with `encrypted=true`",
                ));
            }
            return Ok(None);
        }
        let iterations =
            iterations.map_err(|err| ApiError::InvalidEncryption(format!("`iterations` {err}")))?;
        let (Some(salt), Some(iterations), Some(check)) = (salt, iterations, check) else {
            return Err(ApiError::InvalidEncryption(
                "`encrypted=true` needs `salt`, `iterations` and `check` (see docs/crypto.md)"
                    .into(),
            ));
        };
        Ok(Some(EncryptionParams {
            kdf: self
                .kdf
                .read()
                .map_err(|err| ApiError::InvalidEncryption(format!("`kdf` {err}")))?
                .unwrap_or_else(|| KDF_NAME.to_owned()),
            salt,
            // Out-of-range counts are refused by validation with a clear reason.
            iterations: u32::try_from(iterations).unwrap_or(u32::MAX),
            check,
        }))
    }
}

/// `GET /events` (and its WebSocket upgrade).
#[derive(Debug, Deserialize)]
pub struct Subscribe {
    #[serde(deserialize_with = "fields::stream")]
    pub stream: Option<StreamName>,
    #[serde(deserialize_with = "fields::deferred_cursor")]
    last: Deferred<Cursor>,
}

impl Subscribe {
    /// The `last=` cursor. `Last-Event-ID` wins over it, and when the header
    /// names a cursor this is not read at all (docs/api.md), so it is
    /// deferred.
    pub fn last(self) -> Result<Option<Cursor>, ApiError> {
        read("last", self.last)
    }
}

/// `POST /commands`.
#[derive(Debug, Deserialize)]
pub struct RunCommand {
    #[serde(deserialize_with = "fields::stream")]
    pub stream: Option<StreamName>,
    #[serde(deserialize_with = "fields::required_text")]
    pub prompt: String,
    #[serde(deserialize_with = "fields::boolean")]
    pub plaintext: Option<bool>,
}
