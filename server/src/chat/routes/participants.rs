//! App routes for participants: `POST|GET /v1/channels/{channel_id}/participants`,
//! `DELETE /v1/channels/{channel_id}/participants/{participant_id}`.
//!
//! Adding and removing publish `join` and `leave` to the channel's live
//! subscribers. Adding needs an app token; a user-scoped token may remove
//! only its own participant (leave the channel).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::chat::auth::Caller;
use crate::chat::db::now_ms;
use crate::chat::error::{is_unique_violation, ChatError, Entity};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{NewParticipant, Page, Participant};
use crate::chat::paging::{self, ListParams};
use crate::chat::realtime::ChatEvent;
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, channel_id, user_id, created_at";

#[utoipa::path(post, path = "/v1/channels/{channel_id}/participants", tag = "participants",
    security(("access_token" = [])), params(("channel_id" = String, Path)),
    request_body = NewParticipant, responses((status = 201, body = Participant)))]
pub async fn add(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    ChatJson(new): ChatJson<NewParticipant>,
) -> Result<(StatusCode, Json<Participant>), ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    caller.require_app_token()?;
    let user = super::users::find(&state, &caller, &new.user_id).await?;
    let participant = Participant {
        id: ids::new_id(ids::PARTICIPANT),
        channel_id: channel.id,
        user_id: user.id,
        created_at: now_ms(),
    };
    let inserted = sqlx::query(
        "INSERT INTO chat_participants (id, channel_id, user_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&participant.id)
    .bind(&participant.channel_id)
    .bind(&participant.user_id)
    .bind(participant.created_at)
    .execute(state.pool())
    .await;
    match inserted {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => return Err(ChatError::AlreadyParticipant.into()),
        Err(err) => return Err(err.into()),
    }
    state.hub().publish(
        &participant.channel_id,
        ChatEvent::Join(participant.clone()),
    );
    Ok((StatusCode::CREATED, Json(participant)))
}

#[utoipa::path(get, path = "/v1/channels/{channel_id}/participants", tag = "participants",
    security(("access_token" = [])), params(("channel_id" = String, Path), ListParams),
    responses((status = 200, body = Page<Participant>)))]
pub async fn list(
    State(state): State<ChatState>,
    caller: Caller,
    Path(channel_id): Path<String>,
    ChatQuery(params): ChatQuery<ListParams>,
) -> Result<Json<Page<Participant>>, ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let (limit, after) = (params.limit()?, params.after()?);
    let rows: Vec<Participant> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_participants WHERE channel_id = $1 AND {} \
         ORDER BY created_at, id LIMIT $4",
        paging::after_clause(2)
    ))
    .bind(&channel.id)
    .bind(after.created_at)
    .bind(after.id)
    .bind(limit + 1)
    .fetch_all(state.pool())
    .await?;
    let (data, next_cursor) = paging::page(rows, limit, |p| (p.created_at, &p.id));
    Ok(Json(Page { data, next_cursor }))
}

/// The participant `id` of `channel_id`, found by participant id or by the
/// user id of one (`usr_…`); `None` when there is no such participant.
pub async fn resolve(
    state: &ChatState,
    channel_id: &str,
    id: &str,
) -> Result<Option<Participant>, ChatError> {
    let column = if id.starts_with(ids::USER) {
        "user_id"
    } else {
        "id"
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_participants WHERE channel_id = $1 AND {column} = $2"
    ))
    .bind(channel_id)
    .bind(id)
    .fetch_optional(state.pool())
    .await?)
}

#[utoipa::path(delete, path = "/v1/channels/{channel_id}/participants/{participant_id}",
    tag = "participants", security(("access_token" = [])),
    params(("channel_id" = String, Path), ("participant_id" = String, Path)),
    responses((status = 204)))]
pub async fn remove(
    State(state): State<ChatState>,
    caller: Caller,
    Path((channel_id, participant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let channel = super::channels::visible(&state, &caller, &channel_id).await?;
    let participant = resolve(&state, &channel.id, &participant_id)
        .await?
        .filter(|p| p.id == participant_id)
        .ok_or(ChatError::NotFound(Entity::Participant))?;
    if caller
        .user_id
        .as_deref()
        .is_some_and(|own| own != participant.user_id)
    {
        return Err(ChatError::Forbidden.into());
    }
    sqlx::query("DELETE FROM chat_participants WHERE id = $1")
        .bind(&participant.id)
        .execute(state.pool())
        .await?;
    state
        .hub()
        .publish(&channel.id, ChatEvent::Leave(participant));
    Ok(StatusCode::NO_CONTENT)
}
