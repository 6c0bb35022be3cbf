//! App routes for users: `POST|GET /v1/users`,
//! `GET|PATCH|DELETE /v1/users/{user_id}`.
//!
//! Users belong to one app and one environment; every query is filtered by
//! both, so another app's (or environment's) user answers 404. A
//! user-scoped token may read users and edit itself; making, listing and
//! deleting users needs an app token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::chat::auth::Caller;
use crate::chat::db::{self, now_ms};
use crate::chat::error::{is_unique_violation, ChatError, Entity};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{self, NewUser, Page, Participant, User, UserPatch};
use crate::chat::model::{MAX_ABOUT_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS};
use crate::chat::paging::{self, ListParams};
use crate::chat::realtime::ChatEvent;
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, username, first_name, last_name, avatar, bio, created_at";

#[utoipa::path(post, path = "/v1/users", tag = "users", security(("access_token" = [])),
    request_body = NewUser, responses((status = 201, body = User)))]
pub async fn create(
    State(state): State<ChatState>,
    caller: Caller,
    ChatJson(new): ChatJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require_app_token()?;
    let user = User {
        id: ids::new_id(ids::USER),
        username: model::username(&new.username)?,
        first_name: model::optional("first_name", new.first_name.as_deref(), MAX_NAME_CHARS)?,
        last_name: model::optional("last_name", new.last_name.as_deref(), MAX_NAME_CHARS)?,
        avatar: model::optional("avatar", new.avatar.as_deref(), MAX_URL_CHARS)?,
        bio: model::optional("bio", new.bio.as_deref(), MAX_ABOUT_CHARS)?,
        created_at: now_ms(),
    };
    let inserted = sqlx::query(
        "INSERT INTO chat_users (id, app_id, environment, username, first_name, last_name, avatar, bio, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&user.id)
    .bind(&caller.app_id)
    .bind(&caller.environment)
    .bind(&user.username)
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(&user.avatar)
    .bind(&user.bio)
    .bind(user.created_at)
    .execute(state.pool())
    .await;
    match inserted {
        Ok(_) => Ok((StatusCode::CREATED, Json(user))),
        Err(err) if is_unique_violation(&err) => Err(ChatError::UsernameTaken.into()),
        Err(err) => Err(err.into()),
    }
}

#[utoipa::path(get, path = "/v1/users", tag = "users", security(("access_token" = [])),
    params(ListParams), responses((status = 200, body = Page<User>)))]
pub async fn list(
    State(state): State<ChatState>,
    caller: Caller,
    ChatQuery(params): ChatQuery<ListParams>,
) -> Result<Json<Page<User>>, ApiError> {
    caller.require_app_token()?;
    let (limit, after) = (params.limit()?, params.after()?);
    let rows: Vec<User> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_users WHERE app_id = $1 AND environment = $2 AND {} \
         ORDER BY created_at, id LIMIT $5",
        paging::after_clause(3)
    ))
    .bind(&caller.app_id)
    .bind(&caller.environment)
    .bind(after.created_at)
    .bind(after.id)
    .bind(limit + 1)
    .fetch_all(state.pool())
    .await?;
    let (data, next_cursor) = paging::page(rows, limit, |u| (u.created_at, &u.id));
    Ok(Json(Page { data, next_cursor }))
}

/// The user if it belongs to the caller's app and environment, else 404.
pub async fn find(state: &ChatState, caller: &Caller, user_id: &str) -> Result<User, ChatError> {
    db::find_in_app(
        state.pool(),
        "chat_users",
        COLUMNS,
        user_id,
        &caller.app_id,
        &caller.environment,
    )
    .await?
    .ok_or(ChatError::NotFound(Entity::User))
}

#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users", security(("access_token" = [])),
    params(("user_id" = String, Path)), responses((status = 200, body = User)))]
pub async fn get(
    State(state): State<ChatState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(find(&state, &caller, &user_id).await?))
}

#[utoipa::path(patch, path = "/v1/users/{user_id}", tag = "users", security(("access_token" = [])),
    params(("user_id" = String, Path)), request_body = UserPatch, responses((status = 200, body = User)))]
pub async fn update(
    State(state): State<ChatState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ChatJson(patch): ChatJson<UserPatch>,
) -> Result<Json<User>, ApiError> {
    let mut user = find(&state, &caller, &user_id).await?;
    if caller.user_id.as_deref().is_some_and(|own| own != user.id) {
        return Err(ChatError::Forbidden.into());
    }
    if let Some(username) = &patch.username {
        user.username = model::username(username)?;
    }
    model::patch_optional(
        "first_name",
        &mut user.first_name,
        patch.first_name.as_deref(),
        MAX_NAME_CHARS,
    )?;
    model::patch_optional(
        "last_name",
        &mut user.last_name,
        patch.last_name.as_deref(),
        MAX_NAME_CHARS,
    )?;
    model::patch_optional(
        "avatar",
        &mut user.avatar,
        patch.avatar.as_deref(),
        MAX_URL_CHARS,
    )?;
    model::patch_optional("bio", &mut user.bio, patch.bio.as_deref(), MAX_ABOUT_CHARS)?;
    let updated = sqlx::query(
        "UPDATE chat_users SET username = $1, first_name = $2, last_name = $3, avatar = $4, bio = $5 \
         WHERE id = $6",
    )
    .bind(&user.username)
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(&user.avatar)
    .bind(&user.bio)
    .bind(&user.id)
    .execute(state.pool())
    .await;
    match updated {
        Ok(_) => Ok(Json(user)),
        Err(err) if is_unique_violation(&err) => Err(ChatError::UsernameTaken.into()),
        Err(err) => Err(err.into()),
    }
}

#[utoipa::path(delete, path = "/v1/users/{user_id}", tag = "users", security(("access_token" = [])),
    params(("user_id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<ChatState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_app_token()?;
    let user = find(&state, &caller, &user_id).await?;
    let pool = state.pool().clone();
    let participants: Vec<Participant> = sqlx::query_as(
        "SELECT id, channel_id, user_id, created_at FROM chat_participants WHERE user_id = $1",
    )
    .bind(&user.id)
    .fetch_all(&pool)
    .await?;
    db::delete_all(
        &pool,
        &[
            "DELETE FROM chat_participants WHERE user_id = $1",
            "DELETE FROM chat_tokens WHERE user_id = $1",
            "DELETE FROM chat_users WHERE id = $1",
        ],
        &user.id,
    )
    .await?;
    for participant in participants {
        let channel_id = participant.channel_id.clone();
        state
            .hub()
            .publish(&channel_id, ChatEvent::Leave(participant));
    }
    Ok(StatusCode::NO_CONTENT)
}
