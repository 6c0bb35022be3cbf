//! The JSON shapes of the chat API, and the checks on what clients send.
//!
//! Response types double as `sqlx::FromRow` rows where the columns match, so
//! a row goes to JSON without copying field by field. Every type derives
//! `ToSchema`, which is what `GET /v1/openapi.json` is generated from.
//! Times are Unix milliseconds.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ChatError;

/// Most characters in a name, username or title.
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters in a URL field (banner, icon, avatar).
pub const MAX_URL_CHARS: usize = 2048;
/// Most characters in a description or bio.
pub const MAX_ABOUT_CHARS: usize = 1000;
/// Most characters in a message.
pub const MAX_TEXT_CHARS: usize = 4000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub email: String,
    pub banner: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOrg {
    pub name: String,
    pub email: String,
    pub banner: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub banner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct App {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewApp {
    pub name: String,
}

/// The client secrets of an app; shown only when made or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Secrets {
    pub production: String,
    pub test: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppWithSecrets {
    #[serde(flatten)]
    pub app: App,
    pub secrets: Secrets,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub app_id: String,
    pub environment: String,
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub app_id: String,
    pub client_secret: String,
    pub user_id: Option<String>,
    /// Lifetime in seconds: default 900, at most 86,400.
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Option<String>,
    pub bio: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Option<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserPatch {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Option<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub banner: Option<String>,
    pub creator_id: Option<String>,
    /// The `seq` of the newest message (0 when there is none).
    pub last_seq: i64,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewChannel {
    pub name: String,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub banner: Option<String>,
    /// A user of the app; with a user-scoped token, that user.
    pub creator_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub icon: Option<String>,
    pub banner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Participant {
    pub id: String,
    pub channel_id: String,
    pub user_id: String,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewParticipant {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    /// Position in the channel: 1, 2, 3… without holes.
    pub seq: i64,
    /// The participant who sent it.
    pub sender_id: String,
    /// The user behind that participant.
    pub user_id: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMessage {
    /// A participant of the channel (`prt_…`), or the user id of one (`usr_…`).
    pub sender_id: String,
    pub text: String,
    pub reply_to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Typing {
    pub user_id: String,
}

/// One page of a list; pass `next_cursor` as `cursor` for the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A page of messages in `seq` order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    pub data: Vec<Message>,
    /// Whether more messages lie beyond this page in the direction asked.
    pub has_more: bool,
}

/// Checks a required text field: trimmed, not empty, at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, ChatError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ChatError::invalid(format!("`{field}` must not be empty")));
    }
    optional(field, Some(value), max).map(|v| v.unwrap_or_default())
}

/// Checks an optional text field: at most `max` characters.
pub fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ChatError> {
    match value {
        Some(value) if value.chars().count() > max => Err(ChatError::invalid(format!(
            "`{field}` is longer than {max} characters"
        ))),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Applies an optional text field of a PATCH body: absent leaves `target`
/// as it is, present replaces it after the length check of [`optional`].
pub fn patch_optional(
    field: &str,
    target: &mut Option<String>,
    value: Option<&str>,
    max: usize,
) -> Result<(), ChatError> {
    if value.is_some() {
        *target = optional(field, value, max)?;
    }
    Ok(())
}

/// Checks an e-mail address, loosely: one `@` with something on each side.
pub fn email(value: &str) -> Result<String, ChatError> {
    let value = required("email", value, 254)?;
    match value.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(value),
        _ => Err(ChatError::invalid("`email` is not an e-mail address")),
    }
}

/// Checks a username: 1-64 of letters, digits, `_`, `.` and `-`.
pub fn username(value: &str) -> Result<String, ChatError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ChatError::invalid(
            "`username` must be 1-64 letters, digits, `_`, `.` or `-`",
        ))
    }
}
