//! `GET /v1/openapi.json` matches the routes, both ways.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::support::{chat_test, ChatApp, ADMIN};

/// The route table of the issue (and of `docs/chat.md`): the contract.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/orgs"),
    ("get", "/v1/orgs"),
    ("get", "/v1/orgs/{org_id}"),
    ("patch", "/v1/orgs/{org_id}"),
    ("delete", "/v1/orgs/{org_id}"),
    ("post", "/v1/orgs/{org_id}/apps"),
    ("get", "/v1/orgs/{org_id}/apps"),
    ("get", "/v1/apps/{app_id}"),
    ("delete", "/v1/apps/{app_id}"),
    ("post", "/v1/apps/{app_id}/secrets/{environment}/rotate"),
    ("post", "/v1/token"),
    ("post", "/v1/users"),
    ("get", "/v1/users"),
    ("get", "/v1/users/{user_id}"),
    ("patch", "/v1/users/{user_id}"),
    ("delete", "/v1/users/{user_id}"),
    ("post", "/v1/channels"),
    ("get", "/v1/channels"),
    ("get", "/v1/channels/{channel_id}"),
    ("patch", "/v1/channels/{channel_id}"),
    ("delete", "/v1/channels/{channel_id}"),
    ("post", "/v1/channels/{channel_id}/participants"),
    ("get", "/v1/channels/{channel_id}/participants"),
    (
        "delete",
        "/v1/channels/{channel_id}/participants/{participant_id}",
    ),
    ("post", "/v1/channels/{channel_id}/messages"),
    ("get", "/v1/channels/{channel_id}/messages"),
    ("post", "/v1/channels/{channel_id}/typing"),
    ("get", "/v1/channels/{channel_id}/events"),
    ("get", "/v1/openapi.json"),
];

chat_test! {
    async fn the_openapi_document_lists_exactly_the_routes_that_answer(backend) {
        let chat = ChatApp::spawn(backend).await;
        let response = chat.app.get("/v1/openapi.json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let doc: Value = response.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                    documented.push((method.clone(), path.clone()));
                }
            }
        }
        for (method, path) in ROUTES {
            assert!(documented.contains(&(method.to_string(), path.to_string())), "{method} {path} is not documented");
        }
        // Every documented operation is routed: it never answers the
        // router's own 404 `not_found` or 405.
        for (method, path) in &documented {
            let concrete = path
                .replace("{environment}", "test")
                .replace("{org_id}", "org_00000000000000000000000000000000")
                .replace("{app_id}", "app_00000000000000000000000000000000")
                .replace("{user_id}", "usr_00000000000000000000000000000000")
                .replace("{channel_id}", "chn_00000000000000000000000000000000")
                .replace("{participant_id}", "prt_00000000000000000000000000000000");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = chat.send(Some(ADMIN), method.clone(), &concrete, None).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete}");
            assert_ne!(body["code"], "not_found", "{method} {concrete} is documented but not routed");
        }
        assert_eq!(documented.len(), ROUTES.len(), "undocumented extras or missing routes: {documented:?}");
    }
}
