//! Messages and typing: `POST|GET /v1/channels/{channel_id}/messages`,
//! `POST /v1/channels/{channel_id}/typing`.
//!
//! A post takes the next `seq` of its channel in the same transaction that
//! inserts it (`UPDATE … SET last_seq = last_seq + 1 RETURNING last_seq`),
//! so sequence numbers have no holes and no duplicates, whatever the
//! concurrency and on every node. With an `Idempotency-Key`, the key is
//! unique per channel in the database: a retry, even one racing the
//! original, finds the stored message and returns it instead of a second.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use sqlx::AnyPool;
use utoipa::IntoParams;

use crate::chat::auth::Caller;
use crate::chat::db::now_ms;
use crate::chat::error::{is_unique_violation, ChatError};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{
    self, Message, MessagePage, NewMessage, Participant, Typing, MAX_TEXT_CHARS,
};
use crate::chat::paging::checked_limit;
use crate::chat::realtime::ChatEvent;
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, channel_id, seq, sender_id, user_id, text, reply_to, created_at";
/// Longest `Idempotency-Key` accepted.
const MAX_KEY_CHARS: usize = 255;

/// The sending participant, checked against the caller.
async fn sender(
    state: &ChatState,
    caller: &Caller,
    channel_id: &str,
    id: &str,
) -> Result<Participant, ChatError> {
    let participant = super::participants::resolve(state, channel_id, id)
        .await?
        .ok_or(ChatError::NotParticipant)?;
    if caller
        .user_id
        .as_deref()
        .is_some_and(|own| own != participant.user_id)
    {
        return Err(ChatError::Forbidden);
    }
    Ok(participant)
}

#[utoipa::path(post, path = "/v1/channels/{channel_id}/messages", tag = "messages",
    security(("access_token" = [])),
    params(("channel_id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key returns the same message")),
    request_body = NewMessage,
    responses((status = 201, body = Message), (status = 200, body = Message, description = "A retry: the stored message")))]
pub async fn post(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    ChatJson(new): ChatJson<NewMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let key = idempotency_key(&headers)?;
    let sender = sender(&state, &caller, &channel.id, &new.sender_id).await?;
    let text = model::required("text", &new.text, MAX_TEXT_CHARS)?;
    let pool = state.pool().clone();
    if let Some(reply_to) = &new.reply_to {
        let same_channel =
            sqlx::query("SELECT 1 FROM chat_messages WHERE id = $1 AND channel_id = $2")
                .bind(reply_to)
                .bind(&channel.id)
                .fetch_optional(&pool)
                .await?;
        if same_channel.is_none() {
            return Err(ChatError::InvalidReplyTo.into());
        }
    }
    let mut message = Message {
        id: ids::new_id(ids::MESSAGE),
        channel_id: channel.id,
        seq: 0,
        sender_id: sender.id,
        user_id: sender.user_id,
        text,
        reply_to: new.reply_to,
        created_at: now_ms(),
    };
    if let Some(key) = &key {
        if let Some(stored) = by_key(&pool, &message.channel_id, key).await? {
            return Ok((StatusCode::OK, Json(same_as(stored, &message)?)));
        }
    }
    let mut tx = pool.begin().await?;
    message.seq = sqlx::query_scalar(
        "UPDATE chat_channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
    )
    .bind(&message.channel_id)
    .fetch_one(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO chat_messages (id, channel_id, seq, sender_id, user_id, text, reply_to, idempotency_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&message.id)
    .bind(&message.channel_id)
    .bind(message.seq)
    .bind(&message.sender_id)
    .bind(&message.user_id)
    .bind(&message.text)
    .bind(&message.reply_to)
    .bind(&key)
    .bind(message.created_at)
    .execute(&mut *tx)
    .await;
    match (inserted, &key) {
        (Ok(_), _) => tx.commit().await?,
        // A concurrent retry with the same key won: return its message.
        (Err(err), Some(key)) if is_unique_violation(&err) => {
            tx.rollback().await?;
            let stored = by_key(&pool, &message.channel_id, key)
                .await?
                .ok_or_else(|| ChatError::Internal(err.into()))?;
            return Ok((StatusCode::OK, Json(same_as(stored, &message)?)));
        }
        (Err(err), _) => return Err(err.into()),
    }
    state
        .hub()
        .publish(&message.channel_id, ChatEvent::Message(message.clone()));
    Ok((StatusCode::CREATED, Json(message)))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ChatError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_CHARS => Ok(Some(key.to_owned())),
        _ => Err(ChatError::invalid(format!(
            "`Idempotency-Key` must be 1-{MAX_KEY_CHARS} visible ASCII characters"
        ))),
    }
}

async fn by_key(pool: &AnyPool, channel_id: &str, key: &str) -> Result<Option<Message>, ChatError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_messages WHERE channel_id = $1 AND idempotency_key = $2"
    ))
    .bind(channel_id)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

/// The stored message if the retry asks for the same thing; a key reused
/// for a different message is a client bug worth reporting.
fn same_as(stored: Message, asked: &Message) -> Result<Message, ChatError> {
    let same = stored.sender_id == asked.sender_id
        && stored.text == asked.text
        && stored.reply_to == asked.reply_to;
    if same {
        Ok(stored)
    } else {
        Err(ChatError::IdempotencyConflict)
    }
}

/// `?before=&after=&limit=` of the message list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only messages with a smaller `seq`.
    pub before: Option<i64>,
    /// Only messages with a larger `seq`.
    pub after: Option<i64>,
    /// Messages per page: default 50, at most 200.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/channels/{channel_id}/messages", tag = "messages",
    security(("access_token" = [])), params(("channel_id" = String, Path), MessageQuery),
    responses((status = 200, body = MessagePage,
        description = "In `seq` order. With `after`, the oldest messages after it; otherwise the newest (before `before`)")))]
pub async fn list(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    ChatQuery(query): ChatQuery<MessageQuery>,
) -> Result<Json<MessagePage>, ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let limit = checked_limit(query.limit)?;
    let page = page(state.pool(), &channel.id, query.after, query.before, limit).await?;
    Ok(Json(page))
}

/// One page of a channel's messages, ascending by `seq`. With `after`, the
/// page starts right after it (paging forward never skips); otherwise it is
/// the newest `limit` before `before` (or before the end).
pub async fn page(
    pool: &AnyPool,
    channel_id: &str,
    after: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<MessagePage, ChatError> {
    let forward = after.is_some();
    let sql = format!(
        "SELECT {COLUMNS} FROM chat_messages WHERE channel_id = $1 AND seq > $2 AND seq < $3 \
         ORDER BY seq {} LIMIT $4",
        if forward { "ASC" } else { "DESC" }
    );
    let mut data: Vec<Message> = sqlx::query_as(&sql)
        .bind(channel_id)
        .bind(after.unwrap_or(0))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let has_more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    if !forward {
        data.reverse();
    }
    Ok(MessagePage { data, has_more })
}

#[utoipa::path(post, path = "/v1/channels/{channel_id}/typing", tag = "messages",
    security(("access_token" = [])), params(("channel_id" = String, Path)),
    request_body = Typing, responses((status = 204)))]
pub async fn typing(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    ChatJson(typing): ChatJson<Typing>,
) -> Result<StatusCode, ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let participant = sender(&state, &caller, &channel.id, &typing.user_id).await?;
    state.hub().publish(
        &channel.id,
        ChatEvent::Typing {
            user_id: participant.user_id,
            participant_id: participant.id,
        },
    );
    Ok(StatusCode::NO_CONTENT)
}
