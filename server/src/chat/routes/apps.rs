//! Operator routes for apps: `POST|GET /v1/orgs/{org_id}/apps`,
//! `GET|DELETE /v1/apps/{app_id}` and
//! `POST /v1/apps/{app_id}/secrets/{environment}/rotate`.
//!
//! An app has one client secret per environment. Secrets are shown once,
//! when made, and stored only as hashes. Rotating replaces the secret and
//! bumps the environment's generation, so the old secret and every token
//! made from it stop working at once (see `auth::authenticate`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::chat::auth::{Admin, ENVIRONMENTS};
use crate::chat::db::{self, now_ms};
use crate::chat::error::{ChatError, Entity};
use crate::chat::extract::{ChatJson, ChatQuery};
use crate::chat::model::{self, App, AppWithSecrets, NewApp, Page, RotatedSecret, Secrets};
use crate::chat::paging::{self, ListParams};
use crate::chat::realtime::ChatEvent;
use crate::chat::{ids, ChatState};
use crate::error::ApiError;

const COLUMNS: &str = "id, org_id, name, created_at";

#[utoipa::path(post, path = "/v1/orgs/{org_id}/apps", tag = "operator", security(("admin_token" = [])),
    params(("org_id" = String, Path)), request_body = NewApp,
    responses((status = 201, body = AppWithSecrets, description = "The secrets are shown only here and on rotation")))]
pub async fn create(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(org_id): Path<String>,
    ChatJson(new): ChatJson<NewApp>,
) -> Result<(StatusCode, Json<AppWithSecrets>), ApiError> {
    super::orgs::find(&state, &org_id).await?;
    let app = App {
        id: ids::new_id(ids::APP),
        org_id,
        name: model::required("name", &new.name, model::MAX_NAME_CHARS)?,
        created_at: now_ms(),
    };
    let secrets = Secrets {
        production: ids::new_secret("production"),
        test: ids::new_secret("test"),
    };
    sqlx::query(
        "INSERT INTO chat_apps (id, org_id, name, production_secret_hash, test_secret_hash, \
         production_generation, test_generation, created_at) VALUES ($1, $2, $3, $4, $5, 1, 1, $6)",
    )
    .bind(&app.id)
    .bind(&app.org_id)
    .bind(&app.name)
    .bind(ids::hash(&secrets.production))
    .bind(ids::hash(&secrets.test))
    .bind(app.created_at)
    .execute(state.pool())
    .await?;
    tracing::info!(app = %app.id, org = %app.org_id, "chat: app created");
    Ok((StatusCode::CREATED, Json(AppWithSecrets { app, secrets })))
}

#[utoipa::path(get, path = "/v1/orgs/{org_id}/apps", tag = "operator", security(("admin_token" = [])),
    params(("org_id" = String, Path), ListParams), responses((status = 200, body = Page<App>)))]
pub async fn list(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(org_id): Path<String>,
    ChatQuery(params): ChatQuery<ListParams>,
) -> Result<Json<Page<App>>, ApiError> {
    super::orgs::find(&state, &org_id).await?;
    let (limit, after) = (params.limit()?, params.after()?);
    let rows: Vec<App> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM chat_apps WHERE org_id = $1 AND {} ORDER BY created_at, id LIMIT $4",
        paging::after_clause(2)
    ))
    .bind(&org_id)
    .bind(after.created_at)
    .bind(after.id)
    .bind(limit + 1)
    .fetch_all(state.pool())
    .await?;
    let (data, next_cursor) = paging::page(rows, limit, |a| (a.created_at, &a.id));
    Ok(Json(Page { data, next_cursor }))
}

async fn find(state: &ChatState, app_id: &str) -> Result<App, ChatError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM chat_apps WHERE id = $1"))
        .bind(app_id)
        .fetch_optional(state.pool())
        .await?
        .ok_or(ChatError::NotFound(Entity::App))
}

#[utoipa::path(get, path = "/v1/apps/{app_id}", tag = "operator", security(("admin_token" = [])),
    params(("app_id" = String, Path)), responses((status = 200, body = App)))]
pub async fn get(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(app_id): Path<String>,
) -> Result<Json<App>, ApiError> {
    Ok(Json(find(&state, &app_id).await?))
}

#[utoipa::path(delete, path = "/v1/apps/{app_id}", tag = "operator", security(("admin_token" = [])),
    params(("app_id" = String, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<ChatState>,
    _admin: Admin,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    find(&state, &app_id).await?;
    delete_app_data(&state, &app_id).await?;
    sqlx::query("DELETE FROM chat_apps WHERE id = $1")
        .bind(&app_id)
        .execute(state.pool())
        .await?;
    tracing::info!(app = %app_id, "chat: app deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes what an app made (tokens, users, channels and, with them,
/// participants and messages), ending the live connections to its channels.
/// The foreign keys would cascade too; doing it here keeps the order clear
/// and lets subscribers know.
pub async fn delete_app_data(state: &ChatState, app_id: &str) -> Result<(), ChatError> {
    let pool = state.pool().clone();
    let channels: Vec<(String,)> = sqlx::query_as("SELECT id FROM chat_channels WHERE app_id = $1")
        .bind(app_id)
        .fetch_all(&pool)
        .await?;
    db::delete_all(
        &pool,
        &[
            "DELETE FROM chat_tokens WHERE app_id = $1",
            "DELETE FROM chat_participants WHERE channel_id IN (SELECT id FROM chat_channels WHERE app_id = $1)",
            "DELETE FROM chat_messages WHERE channel_id IN (SELECT id FROM chat_channels WHERE app_id = $1)",
            "DELETE FROM chat_channels WHERE app_id = $1",
            "DELETE FROM chat_users WHERE app_id = $1",
        ],
        app_id,
    )
    .await?;
    for (channel_id,) in channels {
        state.hub().publish(&channel_id, ChatEvent::Deleted);
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/apps/{app_id}/secrets/{environment}/rotate", tag = "operator",
    security(("admin_token" = [])),
    params(("app_id" = String, Path), ("environment" = String, Path, description = "`production` or `test`")),
    responses((status = 200, body = RotatedSecret)))]
pub async fn rotate(
    State(state): State<ChatState>,
    _admin: Admin,
    Path((app_id, environment)): Path<(String, String)>,
) -> Result<Json<RotatedSecret>, ApiError> {
    if !ENVIRONMENTS.contains(&environment.as_str()) {
        return Err(ChatError::invalid("the environment must be `production` or `test`").into());
    }
    let secret = ids::new_secret(&environment);
    // The column names come from the fixed list above, never from input.
    let done = sqlx::query(&format!(
        "UPDATE chat_apps SET {environment}_secret_hash = $1, \
         {environment}_generation = {environment}_generation + 1 WHERE id = $2"
    ))
    .bind(ids::hash(&secret))
    .bind(&app_id)
    .execute(state.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(ChatError::NotFound(Entity::App).into());
    }
    sqlx::query("DELETE FROM chat_tokens WHERE app_id = $1 AND environment = $2")
        .bind(&app_id)
        .bind(&environment)
        .execute(state.pool())
        .await?;
    tracing::info!(app = %app_id, environment = %environment, "chat: client secret rotated");
    Ok(Json(RotatedSecret {
        app_id,
        environment,
        secret,
    }))
}
