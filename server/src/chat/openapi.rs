//! `GET /v1/openapi.json`, generated from the code.
//!
//! The router and the document come from the same place: each handler's
//! `#[utoipa::path]` names its method and path, and [`router`] registers the
//! handlers through `utoipa_axum::routes!`, which both routes them and adds
//! them to the document. A route cannot exist without its documentation.

use axum::extract::State;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::{apps, channels, events, messages, orgs, participants, token, users};
use super::ChatState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Malten chat API", version = "1", description = "Chat as a service; see docs/chat.md."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "operator", description = "Organizations and apps, with the admin token"),
        (name = "token", description = "Exchanging a client secret for an access token"),
        (name = "users"), (name = "channels"), (name = "participants"), (name = "messages"),
        (name = "realtime", description = "Server-Sent Events or WebSocket"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("admin_token", bearer());
        components.add_security_scheme("access_token", bearer());
    }
}

/// Every `/v1` route, with its documentation.
pub fn router() -> OpenApiRouter<ChatState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(orgs::create, orgs::list))
        .routes(routes!(orgs::get, orgs::update, orgs::delete))
        .routes(routes!(apps::create, apps::list))
        .routes(routes!(apps::get, apps::delete))
        .routes(routes!(apps::rotate))
        .routes(routes!(token::exchange))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(channels::create, channels::list))
        .routes(routes!(channels::get, channels::update, channels::delete))
        .routes(routes!(participants::add, participants::list))
        .routes(routes!(participants::remove))
        .routes(routes!(messages::post, messages::list))
        .routes(routes!(messages::typing))
        .routes(routes!(events::subscribe))
        .routes(routes!(document))
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "token",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document(State(_state): State<ChatState>) -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

/// The document, built once per call (it is small and rarely asked for).
pub fn spec() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}
