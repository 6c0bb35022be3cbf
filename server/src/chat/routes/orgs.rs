//! Operator routes for organizations: `POST|GET /v1/orgs`,
//! `GET|PATCH|DELETE /v1/orgs/{org_id}`. Deleting an organization deletes
//! its apps and everything made with them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::chat::auth::Admin;
use crate::chat::db::now_ms;
use crate::chat::error::{ChatError, Entity};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{self, NewOrg, Org, OrgPatch, Page, MAX_NAME_CHARS, MAX_URL_CHARS};
use crate::chat::paging::{self, ListParams};
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, name, email, banner, created_at";

#[utoipa::path(post, path = "/v1/orgs", tag = "operator", security(("admin_token" = [])),
    request_body = NewOrg, responses((status = 201, body = Org)))]
pub async fn create(
    State(state): State<ChatState>,
    _admin: Admin,
    ChatJson(new): ChatJson<NewOrg>,
) -> Result<(StatusCode, Json<Org>), ApiError> {
    let org = Org {
        id: ids::new_id(ids::ORG),
        name: model::required("name", &new.name, MAX_NAME_CHARS)?,
        email: model::email(&new.email)?,
        banner: model::optional("banner", new.banner.as_deref(), MAX_URL_CHARS)?,
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO chat_orgs (id, name, email, banner, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&org.id)
    .bind(&org.name)
    .bind(&org.email)
    .bind(&org.banner)
    .bind(org.created_at)
    .execute(state.pool())
    .await?;
    tracing::info!(org = %org.id, "chat: organization created");
    Ok((StatusCode::CREATED, Json(org)))
}

#[utoipa::path(get, path = "/v1/orgs", tag = "operator", security(("admin_token" = [])),
    params(ListParams), responses((status = 200, body = Page<Org>)))]
pub async fn list(
    State(state): State<ChatState>,
    _admin: Admin,
    ChatQuery(params): ChatQuery<ListParams>,
) -> Result<Json<Page<Org>>, ApiError> {
    let (limit, after) = (params.limit()?, params.after()?);
    let rows: Vec<Org> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_orgs WHERE {} ORDER BY created_at, id LIMIT $3",
        paging::after_clause(1)
    ))
    .bind(after.created_at)
    .bind(after.id)
    .bind(limit + 1)
    .fetch_all(state.pool())
    .await?;
    let (data, next_cursor) = paging::page(rows, limit, |o| (o.created_at, &o.id));
    Ok(Json(Page { data, next_cursor }))
}

/// The organization, or 404.
pub async fn find(state: &ChatState, org_id: &str) -> Result<Org, ChatError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM chat_orgs WHERE id = $1"))
        .bind(org_id)
        .fetch_optional(state.pool())
        .await?
        .ok_or(ChatError::NotFound(Entity::Org))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}", tag = "operator", security(("admin_token" = [])),
    params(("org_id" = String, Path)), responses((status = 200, body = Org)))]
pub async fn get(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(org_id): Path<String>,
) -> Result<Json<Org>, ApiError> {
    Ok(Json(find(&state, &org_id).await?))
}

#[utoipa::path(patch, path = "/v1/orgs/{org_id}", tag = "operator", security(("admin_token" = [])),
    params(("org_id" = String, Path)), request_body = OrgPatch, responses((status = 200, body = Org)))]
pub async fn update(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(org_id): Path<String>,
    ChatJson(patch): ChatJson<OrgPatch>,
) -> Result<Json<Org>, ApiError> {
    let mut org = find(&state, &org_id).await?;
    if let Some(name) = &patch.name {
        org.name = model::required("name", name, MAX_NAME_CHARS)?;
    }
    if let Some(email) = &patch.email {
        org.email = model::email(email)?;
    }
    model::patch_optional(
        "banner",
        &mut org.banner,
        patch.banner.as_deref(),
        MAX_URL_CHARS,
    )?;
    sqlx::query("UPDATE chat_orgs SET name = $1, email = $2, banner = $3 WHERE id = $4")
        .bind(&org.name)
        .bind(&org.email)
        .bind(&org.banner)
        .bind(&org.id)
        .execute(state.pool())
        .await?;
    Ok(Json(org))
}

#[utoipa::path(delete, path = "/v1/orgs/{org_id}", tag = "operator", security(("admin_token" = [])),
    params(("org_id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(org_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let app_ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM chat_apps WHERE org_id = $1")
        .bind(&org_id)
        .fetch_all(state.pool())
        .await?;
    for (app_id,) in app_ids {
        super::apps::delete_app_data(&state, &app_id).await?;
    }
    let done = sqlx::query("DELETE FROM chat_orgs WHERE id = $1")
        .bind(&org_id)
        .execute(state.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(ChatError::NotFound(Entity::Org).into());
    }
    tracing::info!(org = %org_id, "chat: organization deleted");
    Ok(StatusCode::NO_CONTENT)
}
