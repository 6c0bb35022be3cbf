//! Operator routes: the admin token, organizations, apps and secrets.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{chat_test, ChatApp, ADMIN};
use crate::helpers::{assert_error, spawn_app_with};

#[tokio::test]
async fn every_v1_route_answers_chat_disabled_without_an_admin_token() {
    // Whatever the environment of the test run says.
    let app = spawn_app_with(|config| config.admin_token = None).await;
    for path in [
        "/v1/orgs",
        "/v1/token",
        "/v1/channels/chn_x/events",
        "/v1/openapi.json",
        "/v1",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "chat_disabled").await;
    }
    let response = app
        .client
        .post(app.url("/v1/orgs"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "chat_disabled").await;
    // The stream API is untouched.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

chat_test! {
    async fn operator_routes_need_the_admin_token(backend) {
        let chat = ChatApp::spawn(backend).await;
        let response = chat.send(None, Method::GET, "/v1/orgs", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
        let response = chat.send(Some("not-the-token"), Method::GET, "/v1/orgs", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_admin_token").await;
        // An app's access token is no admin token either.
        let world = chat.world().await;
        let response = chat.send(Some(&world.token), Method::GET, "/v1/orgs", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_admin_token").await;
        let response = chat.send(Some(ADMIN), Method::GET, "/v1/nothing-here", None).await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = chat.send(Some(ADMIN), Method::PUT, "/v1/orgs", None).await;
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

chat_test! {
    async fn organizations_are_created_read_updated_and_deleted(backend) {
        let chat = ChatApp::spawn(backend).await;
        let org = chat.org().await;
        let id = org["id"].as_str().unwrap();
        assert!(id.starts_with("org_") && id.len() == 36, "{id}");
        assert!(id[4..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(org["name"], "Acme");
        assert!(org["created_at"].as_i64().unwrap() > 0);
        let path = format!("/v1/orgs/{id}");
        assert_eq!(chat.ok(ADMIN, Method::GET, &path, None, StatusCode::OK).await, org);
        let patched = chat
            .ok(ADMIN, Method::PATCH, &path, Some(json!({"banner": "https://acme.example/b.png"})), StatusCode::OK)
            .await;
        assert_eq!(patched["banner"], "https://acme.example/b.png");
        assert_eq!(patched["name"], "Acme");
        chat.ok(ADMIN, Method::DELETE, &path, None, StatusCode::NO_CONTENT).await;
        let response = chat.send(Some(ADMIN), Method::GET, &path, None).await;
        assert_error(response, StatusCode::NOT_FOUND, "org_not_found").await;
    }
}

chat_test! {
    async fn bad_organization_input_gets_the_error_contract(backend) {
        let chat = ChatApp::spawn(backend).await;
        let cases: [(Value, &str, &str); 5] = [
            (json!({"name": "", "email": "a@b.example"}), "invalid_parameter", "empty name"),
            (json!({"name": "A", "email": "nope"}), "invalid_parameter", "bad email"),
            (json!({"name": "A".repeat(101), "email": "a@b.example"}), "invalid_parameter", "long name"),
            (json!({"email": "a@b.example"}), "invalid_json", "missing name"),
            (json!("just a string"), "invalid_json", "not an object"),
        ];
        for (body, code, why) in cases {
            let response = chat.send(Some(ADMIN), Method::POST, "/v1/orgs", Some(body)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], code, "{why}: {body}");
        }
        let response = chat
            .app
            .client
            .post(chat.app.url("/v1/orgs"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
        let huge = json!({"name": "A", "email": "a@b.example", "banner": "x".repeat(20_000)});
        let response = chat.send(Some(ADMIN), Method::POST, "/v1/orgs", Some(huge)).await;
        assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    }
}

chat_test! {
    async fn lists_page_with_limit_and_cursor_without_skipping(backend) {
        let chat = ChatApp::spawn(backend).await;
        let mut made = Vec::new();
        for _ in 0..5 {
            made.push(chat.org().await["id"].as_str().unwrap().to_owned());
        }
        let mut seen = Vec::new();
        let mut path = "/v1/orgs?limit=2".to_owned();
        for _ in 0..10 {
            let page = chat.ok(ADMIN, Method::GET, &path, None, StatusCode::OK).await;
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= 2);
            seen.extend(data.iter().map(|org| org["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/orgs?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        made.sort();
        seen.sort();
        assert_eq!(seen, made, "every org exactly once");
        let all = chat.ok(ADMIN, Method::GET, "/v1/orgs", None, StatusCode::OK).await;
        assert_eq!(all["data"].as_array().unwrap().len(), 5);
        for bad in ["limit=0", "limit=201", "limit=ten", "cursor=%21%21"] {
            let response = chat.send(Some(ADMIN), Method::GET, &format!("/v1/orgs?{bad}"), None).await;
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        }
    }
}

chat_test! {
    async fn apps_show_their_secrets_only_once(backend) {
        let chat = ChatApp::spawn(backend).await;
        let org_id = chat.org().await["id"].as_str().unwrap().to_owned();
        let app = chat.new_app(&org_id).await;
        let app_id = app["id"].as_str().unwrap();
        assert!(app_id.starts_with("app_"));
        let production = app["secrets"]["production"].as_str().unwrap();
        let test = app["secrets"]["test"].as_str().unwrap();
        assert_ne!(production, test);
        let fetched = chat.ok(ADMIN, Method::GET, &format!("/v1/apps/{app_id}"), None, StatusCode::OK).await;
        assert_eq!(fetched["org_id"], org_id.as_str());
        assert!(fetched.get("secrets").is_none(), "{fetched}");
        let listed = chat.ok(ADMIN, Method::GET, &format!("/v1/orgs/{org_id}/apps"), None, StatusCode::OK).await;
        assert_eq!(listed["data"][0]["id"], app_id);
        assert!(!listed.to_string().contains(production));
        let response = chat.send(Some(ADMIN), Method::POST, "/v1/orgs/org_00000000000000000000000000000000/apps", Some(json!({"name": "x"}))).await;
        assert_error(response, StatusCode::NOT_FOUND, "org_not_found").await;
        chat.ok(ADMIN, Method::DELETE, &format!("/v1/apps/{app_id}"), None, StatusCode::NO_CONTENT).await;
        let response = chat.send(Some(ADMIN), Method::GET, &format!("/v1/apps/{app_id}"), None).await;
        assert_error(response, StatusCode::NOT_FOUND, "app_not_found").await;
    }
}

chat_test! {
    async fn rotating_a_secret_revokes_it_and_its_tokens_at_once(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let test_token = chat.token(&world.app_id, &world.test, None).await;
        let rotated = chat
            .ok(ADMIN, Method::POST, &format!("/v1/apps/{}/secrets/production/rotate", world.app_id), None, StatusCode::OK)
            .await;
        let new_secret = rotated["secret"].as_str().unwrap();
        assert_ne!(new_secret, world.production);
        let response = chat.send(Some(&world.token), Method::GET, "/v1/users", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.production})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client_secret").await;
        let token = chat.token(&world.app_id, new_secret, None).await;
        chat.ok(&token, Method::GET, "/v1/users", None, StatusCode::OK).await;
        // The other environment is untouched.
        chat.ok(&test_token, Method::GET, "/v1/users", None, StatusCode::OK).await;
        let response = chat
            .send(Some(ADMIN), Method::POST, &format!("/v1/apps/{}/secrets/staging/rotate", world.app_id), None)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}
