//! Paging of lists: `limit` (default 50, at most 200) and an opaque cursor.
//!
//! Lists are ordered by `(created_at, id)`, which is stable and total, so a
//! cursor is simply the position of the last item returned. It is encoded
//! (base64url) so clients treat it as opaque and we may change it later.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ChatError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` of every list route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page: default 50, at most 200.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A position in a `(created_at, id)`-ordered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub created_at: i64,
    pub id: String,
}

impl ListParams {
    pub fn limit(&self) -> Result<i64, ChatError> {
        checked_limit(self.limit)
    }

    /// Where the page starts: after this item, or at the beginning.
    pub fn after(&self) -> Result<After, ChatError> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(After {
                created_at: i64::MIN,
                id: String::new(),
            }),
            Some(raw) => decode(raw).ok_or_else(|| ChatError::invalid("`cursor` is not valid")),
        }
    }
}

/// `limit` checked against 1..=200, 50 when absent.
pub fn checked_limit(limit: Option<i64>) -> Result<i64, ChatError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ChatError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// The cursor for the page after `last`.
pub fn encode(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

fn decode(raw: &str) -> Option<After> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (created_at, id) = text.split_once(':')?;
    Some(After {
        created_at: created_at.parse().ok()?,
        id: id.to_owned(),
    })
}

/// Splits one extra fetched row off `rows`: the page, and the cursor for the
/// next page if there is one. Queries fetch `limit + 1` rows to know.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> (i64, &str),
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let cursor = rows.last().map(|last| {
        let (created_at, id) = position(last);
        encode(created_at, id)
    });
    (rows, cursor)
}

/// The SQL condition for "after the cursor", with `$n` and `$n+1` bound to
/// [`After::created_at`] and [`After::id`].
pub fn after_clause(n: usize) -> String {
    format!(
        "(created_at > ${n} OR (created_at = ${n} AND id > ${}))",
        n + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let params = ListParams {
            limit: None,
            cursor: Some(encode(1700, "usr_ab")),
        };
        assert_eq!(
            params.after().unwrap(),
            After {
                created_at: 1700,
                id: "usr_ab".into()
            }
        );
        for bad in ["!!", "bm9jb2xvbg", "eDp5"] {
            let params = ListParams {
                limit: None,
                cursor: Some(bad.into()),
            };
            assert!(params.after().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn limits_default_to_50_and_stop_at_200() {
        assert_eq!(checked_limit(None).unwrap(), 50);
        assert_eq!(checked_limit(Some(200)).unwrap(), 200);
        assert!(checked_limit(Some(201)).is_err());
        assert!(checked_limit(Some(0)).is_err());
    }
}
