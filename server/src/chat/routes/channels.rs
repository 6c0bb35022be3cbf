//! App routes for channels: `POST|GET /v1/channels`,
//! `GET|PATCH|DELETE /v1/channels/{channel_id}`.
//!
//! [`visible`] is the one access check for everything under a channel:
//! another app's or environment's channel answers 404, and a user-scoped
//! token may only reach channels its user participates in (403).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::chat::auth::Caller;
use crate::chat::db::{self, now_ms};
use crate::chat::error::{ChatError, Entity};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{self, Channel, ChannelPatch, NewChannel, Page};
use crate::chat::model::{MAX_ABOUT_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS};
use crate::chat::paging::{self, ListParams};
use crate::chat::realtime::ChatEvent;
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, name, description, icon, banner, creator_id, last_seq, created_at";

#[utoipa::path(post, path = "/v1/channels", tag = "channels", security(("access_token" = [])),
    request_body = NewChannel, responses((status = 201, body = Channel)))]
pub async fn create(
    State(state): State<ChatState>,
    caller: Caller,
    ChatJson(new): ChatJson<NewChannel>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    let creator_id = match (&caller.user_id, new.creator_id) {
        (Some(own), Some(asked)) if *own != asked => return Err(ChatError::Forbidden.into()),
        (Some(own), _) => Some(own.clone()),
        (None, Some(asked)) => Some(super::users::find(&state, &caller, &asked).await?.id),
        (None, None) => None,
    };
    let channel = Channel {
        id: ids::new_id(ids::CHANNEL),
        name: model::required("name", &new.name, MAX_NAME_CHARS)?,
        description: model::optional("description", new.description.as_deref(), MAX_ABOUT_CHARS)?,
        icon: model::optional("icon", new.icon.as_deref(), MAX_URL_CHARS)?,
        banner: model::optional("banner", new.banner.as_deref(), MAX_URL_CHARS)?,
        creator_id,
        last_seq: 0,
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO chat_channels (id, app_id, environment, name, description, icon, banner, creator_id, last_seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)",
    )
    .bind(&channel.id)
    .bind(&caller.app_id)
    .bind(&caller.environment)
    .bind(&channel.name)
    .bind(&channel.description)
    .bind(&channel.icon)
    .bind(&channel.banner)
    .bind(&channel.creator_id)
    .bind(channel.created_at)
    .execute(state.pool())
    .await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

#[utoipa::path(get, path = "/v1/channels", tag = "channels", security(("access_token" = [])),
    params(ListParams), responses((status = 200, body = Page<Channel>,
        description = "With a user-scoped token, only the channels the user participates in")))]
pub async fn list(
    State(state): State<ChatState>,
    caller: Caller,
    ChatQuery(params): ChatQuery<ListParams>,
) -> Result<Json<Page<Channel>>, ApiError> {
    let (limit, after) = (params.limit()?, params.after()?);
    // A user-scoped token sees its user's channels; `$6` is NULL otherwise.
    let rows: Vec<Channel> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_channels WHERE app_id = $1 AND environment = $2 AND {} \
         AND ($6 IS NULL OR id IN (SELECT channel_id FROM chat_participants WHERE user_id = $6)) \
         ORDER BY created_at, id LIMIT $5",
        paging::after_clause(3)
    ))
    .bind(&caller.app_id)
    .bind(&caller.environment)
    .bind(after.created_at)
    .bind(after.id)
    .bind(limit + 1)
    .bind(&caller.user_id)
    .fetch_all(state.pool())
    .await?;
    let (data, next_cursor) = paging::page(rows, limit, |c| (c.created_at, &c.id));
    Ok(Json(Page { data, next_cursor }))
}

/// The channel if the caller may see it: 404 outside its app and
/// environment, 403 for a user-scoped token whose user is not in it.
pub async fn visible(
    state: &ChatState,
    caller: &Caller,
    channel_id: &str,
) -> Result<Channel, ChatError> {
    let pool = state.pool().clone();
    let channel: Channel = db::find_in_app(
        &pool,
        "chat_channels",
        COLUMNS,
        channel_id,
        &caller.app_id,
        &caller.environment,
    )
    .await?
    .ok_or(ChatError::NotFound(Entity::Channel))?;
    if let Some(user_id) = &caller.user_id {
        let member =
            sqlx::query("SELECT 1 FROM chat_participants WHERE channel_id = $1 AND user_id = $2")
                .bind(channel_id)
                .bind(user_id)
                .fetch_optional(&pool)
                .await?;
        if member.is_none() {
            return Err(ChatError::Forbidden);
        }
    }
    Ok(channel)
}

#[utoipa::path(get, path = "/v1/channels/{channel_id}", tag = "channels", security(("access_token" = [])),
    params(("channel_id" = String, Path)), responses((status = 200, body = Channel)))]
pub async fn get(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
) -> Result<Json<Channel>, ApiError> {
    Ok(Json(visible(&state, &caller, &channel_id).await?))
}

#[utoipa::path(patch, path = "/v1/channels/{channel_id}", tag = "channels", security(("access_token" = [])),
    params(("channel_id" = String, Path)), request_body = ChannelPatch, responses((status = 200, body = Channel)))]
pub async fn update(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    ChatJson(patch): ChatJson<ChannelPatch>,
) -> Result<Json<Channel>, ApiError> {
    let mut channel = visible(&state, &caller, &channel_id).await?;
    caller.require_app_token()?;
    if let Some(name) = &patch.name {
        channel.name = model::required("name", name, MAX_NAME_CHARS)?;
    }
    model::patch_optional(
        "description",
        &mut channel.description,
        patch.description.as_deref(),
        MAX_ABOUT_CHARS,
    )?;
    model::patch_optional(
        "icon",
        &mut channel.icon,
        patch.icon.as_deref(),
        MAX_URL_CHARS,
    )?;
    model::patch_optional(
        "banner",
        &mut channel.banner,
        patch.banner.as_deref(),
        MAX_URL_CHARS,
    )?;
    sqlx::query("UPDATE chat_channels SET name = $1, description = $2, icon = $3, banner = $4 WHERE id = $5")
        .bind(&channel.name)
        .bind(&channel.description)
        .bind(&channel.icon)
        .bind(&channel.banner)
        .bind(&channel.id)
        .execute(state.pool())
        .await?;
    Ok(Json(channel))
}

#[utoipa::path(delete, path = "/v1/channels/{channel_id}", tag = "channels", security(("access_token" = [])),
    params(("channel_id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let channel = visible(&state, &caller, &channel_id).await?;
    caller.require_app_token()?;
    db::delete_all(
        state.pool(),
        &[
            "DELETE FROM chat_participants WHERE channel_id = $1",
            "DELETE FROM chat_messages WHERE channel_id = $1",
            "DELETE FROM chat_channels WHERE id = $1",
        ],
        &channel.id,
    )
    .await?;
    state.hub().publish(&channel.id, ChatEvent::Deleted);
    Ok(StatusCode::NO_CONTENT)
}
