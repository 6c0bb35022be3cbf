//! `ChatApp`: a server with the chat API on SQLite or PostgreSQL, and typed
//! helpers for the usual set-up (org → app → token → users → channel).

use malten_server::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, SseClient, TestApp};

/// The admin token every chat test server gets.
pub const ADMIN: &str = "admin-token-for-tests-7f3e";

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each test body once per backend, as `name::sqlite` and
/// `name::postgres`.
macro_rules! chat_test {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            async fn body($backend: $crate::chat::support::Backend) $body

            #[tokio::test]
            async fn sqlite() {
                body($crate::chat::support::Backend::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                body($crate::chat::support::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use chat_test;

pub struct ChatApp {
    pub app: TestApp,
}

/// What most tests start from: an org, an app with its secrets, and an app
/// token for the production environment.
pub struct World {
    pub org_id: String,
    pub app_id: String,
    pub production: String,
    pub test: String,
    pub token: String,
}

impl ChatApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let url = match backend {
            Backend::Sqlite => "sqlite::memory:".to_owned(),
            Backend::Postgres => super::pg::new_database().await,
        };
        let app = spawn_app_with(move |config| {
            config.admin_token = Some(ADMIN.parse().unwrap());
            config.database_url = url.parse().unwrap();
            configure(config);
        })
        .await;
        Self { app }
    }

    pub async fn send(
        &self,
        bearer: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.app.client.request(method, self.app.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A request with a bearer token, answered with status and JSON (or null).
    pub async fn call(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.send(Some(bearer), method, path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Like [`Self::call`], failing the test unless the status is `expected`.
    pub async fn ok(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, json) = self.call(bearer, method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path} answered {json}");
        json
    }

    pub async fn org(&self) -> Value {
        self.ok(
            ADMIN,
            Method::POST,
            "/v1/orgs",
            Some(json!({"name": "Acme", "email": "ops@acme.example"})),
            StatusCode::CREATED,
        )
        .await
    }

    pub async fn new_app(&self, org_id: &str) -> Value {
        self.ok(
            ADMIN,
            Method::POST,
            &format!("/v1/orgs/{org_id}/apps"),
            Some(json!({"name": "Support"})),
            StatusCode::CREATED,
        )
        .await
    }

    /// `POST /v1/token`, returning the whole response.
    pub async fn exchange(&self, body: Value) -> reqwest::Response {
        self.send(None, Method::POST, "/v1/token", Some(body)).await
    }

    pub async fn token(&self, app_id: &str, secret: &str, user_id: Option<&str>) -> String {
        let response = self
            .exchange(json!({"app_id": app_id, "client_secret": secret, "user_id": user_id}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn world(&self) -> World {
        let org = self.org().await;
        let org_id = org["id"].as_str().unwrap().to_owned();
        let app = self.new_app(&org_id).await;
        let app_id = app["id"].as_str().unwrap().to_owned();
        let production = app["secrets"]["production"].as_str().unwrap().to_owned();
        let test = app["secrets"]["test"].as_str().unwrap().to_owned();
        let token = self.token(&app_id, &production, None).await;
        World {
            org_id,
            app_id,
            production,
            test,
            token,
        }
    }

    pub async fn user(&self, token: &str, username: &str) -> String {
        let user = self
            .ok(
                token,
                Method::POST,
                "/v1/users",
                Some(json!({"username": username})),
                StatusCode::CREATED,
            )
            .await;
        user["id"].as_str().unwrap().to_owned()
    }

    pub async fn channel(&self, token: &str, name: &str) -> String {
        let channel = self
            .ok(
                token,
                Method::POST,
                "/v1/channels",
                Some(json!({"name": name})),
                StatusCode::CREATED,
            )
            .await;
        channel["id"].as_str().unwrap().to_owned()
    }

    /// Adds `user_id` to `channel_id`, returning the participant id.
    pub async fn join(&self, token: &str, channel_id: &str, user_id: &str) -> String {
        let participant = self
            .ok(
                token,
                Method::POST,
                &format!("/v1/channels/{channel_id}/participants"),
                Some(json!({"user_id": user_id})),
                StatusCode::CREATED,
            )
            .await;
        participant["id"].as_str().unwrap().to_owned()
    }

    pub async fn post(&self, token: &str, channel_id: &str, sender_id: &str, text: &str) -> Value {
        self.ok(
            token,
            Method::POST,
            &format!("/v1/channels/{channel_id}/messages"),
            Some(json!({"sender_id": sender_id, "text": text})),
            StatusCode::CREATED,
        )
        .await
    }

    /// Posts `count` messages (`m0`, `m1`, ...) at once and returns their
    /// `seq` values, sorted.
    pub async fn post_concurrently(
        &self,
        token: &str,
        channel_id: &str,
        sender_id: &str,
        count: usize,
    ) -> Vec<i64> {
        let texts: Vec<String> = (0..count).map(|i| format!("m{i}")).collect();
        let posts = texts
            .iter()
            .map(|text| self.post(token, channel_id, sender_id, text));
        let mut seqs: Vec<i64> = futures_util::future::join_all(posts)
            .await
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        seqs.sort();
        seqs
    }

    /// Opens the event stream of a channel with a bearer token, waiting for
    /// the response (by then the subscription exists).
    pub async fn events(
        &self,
        token: &str,
        channel_id: &str,
        last_event_id: Option<i64>,
    ) -> SseClient {
        let mut request = self
            .app
            .client
            .get(self.app.url(&format!("/v1/channels/{channel_id}/events")))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "events refused");
        SseClient::from_response(response)
    }
}
