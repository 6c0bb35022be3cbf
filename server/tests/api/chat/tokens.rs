//! The token exchange and what a token may reach: expiry, environments,
//! app isolation, user-scoped tokens, the wrong-secret limiter.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{chat_test, ChatApp, ADMIN};
use crate::helpers::{assert_error, DEADLINE};

chat_test! {
    async fn a_secret_buys_a_short_lived_bearer_token(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.test, "ttl_seconds": 60})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 60);
        assert_eq!(body["environment"], "test");
        assert!(body.get("user_id").is_none());
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.production})).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], 900, "the default lifetime");
        assert_eq!(body["environment"], "production");
        for ttl in [0, -5, 86_401] {
            let response = chat
                .exchange(json!({"app_id": world.app_id, "client_secret": world.production, "ttl_seconds": ttl}))
                .await;
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        }
        let response = chat.exchange(json!({"app_id": world.app_id})).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
        let response = chat.send(None, Method::GET, "/v1/users", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
        let response = chat.send(Some("mct_forged"), Method::GET, "/v1/users", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

chat_test! {
    async fn an_expired_token_is_refused_on_the_next_request(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.production, "ttl_seconds": 1})).await;
        let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        chat.ok(&token, Method::GET, "/v1/users", None, StatusCode::OK).await;
        // Poll until the second has passed; the deadline fails the test if
        // the token never expires.
        let expired = tokio::time::timeout(DEADLINE, async {
            loop {
                let response = chat.send(Some(&token), Method::GET, "/v1/users", None).await;
                if response.status() != StatusCode::OK {
                    return response;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the token never expired");
        assert_error(expired, StatusCode::UNAUTHORIZED, "token_expired").await;
    }
}

chat_test! {
    async fn wrong_secrets_are_rate_limited_per_address(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        for _ in 0..10 {
            let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": "sk_production_guess"})).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client_secret").await;
        }
        // Now even the right secret waits: guessing cannot go on at network speed.
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.production})).await;
        assert!(response.headers().contains_key("retry-after"));
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let response = chat.send(Some(ADMIN), Method::GET, "/v1/orgs", None).await;
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // An unknown app answers exactly like a wrong secret.
        let other = ChatApp::spawn(backend).await;
        let response = other.exchange(json!({"app_id": "app_00000000000000000000000000000000", "client_secret": "x"})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client_secret").await;
    }
}

chat_test! {
    async fn other_apps_and_environments_see_404_never_403(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let user = chat.user(&world.token, "ada").await;
        let channel = chat.channel(&world.token, "general").await;
        let participant = chat.join(&world.token, &channel, &user).await;
        let test_token = chat.token(&world.app_id, &world.test, None).await;
        let other_app = chat.new_app(&world.org_id).await;
        let other_token = chat
            .token(other_app["id"].as_str().unwrap(), other_app["secrets"]["production"].as_str().unwrap(), None)
            .await;
        for token in [&test_token, &other_token] {
            for (method, path, code) in [
                (Method::GET, format!("/v1/users/{user}"), "user_not_found"),
                (Method::DELETE, format!("/v1/users/{user}"), "user_not_found"),
                (Method::GET, format!("/v1/channels/{channel}"), "channel_not_found"),
                (Method::GET, format!("/v1/channels/{channel}/messages"), "channel_not_found"),
                (Method::GET, format!("/v1/channels/{channel}/participants"), "channel_not_found"),
                (Method::DELETE, format!("/v1/channels/{channel}/participants/{participant}"), "channel_not_found"),
                (Method::GET, format!("/v1/channels/{channel}/events"), "channel_not_found"),
            ] {
                let response = chat.send(Some(token), method, &path, None).await;
                assert_error(response, StatusCode::NOT_FOUND, code).await;
            }
            let listed = chat.ok(token, Method::GET, "/v1/users", None, StatusCode::OK).await;
            assert_eq!(listed["data"], json!([]));
        }
        // The same username is free in the other environment.
        chat.user(&test_token, "ada").await;
        // A user of another app cannot be added or given a token.
        let response = chat
            .send(Some(&other_token), Method::POST, "/v1/channels", Some(json!({"name": "x", "creator_id": user})))
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "user_not_found").await;
        let response = chat
            .exchange(json!({"app_id": other_app["id"], "client_secret": other_app["secrets"]["production"], "user_id": user}))
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "user_not_found").await;
    }
}

chat_test! {
    async fn a_user_token_acts_only_as_its_user(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let ada = chat.user(&world.token, "ada").await;
        let bob = chat.user(&world.token, "bob").await;
        let shared = chat.channel(&world.token, "shared").await;
        let private = chat.channel(&world.token, "bobs-only").await;
        let ada_in_shared = chat.join(&world.token, &shared, &ada).await;
        let bob_in_shared = chat.join(&world.token, &shared, &bob).await;
        chat.join(&world.token, &private, &bob).await;
        let ada_token = chat.token(&world.app_id, &world.production, Some(&ada)).await;

        chat.post(&ada_token, &shared, &ada_in_shared, "hi from ada").await;
        let response = chat
            .send(Some(&ada_token), Method::POST, &format!("/v1/channels/{shared}/messages"),
                Some(json!({"sender_id": bob_in_shared, "text": "pretending"})))
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response = chat
            .send(Some(&ada_token), Method::POST, &format!("/v1/channels/{shared}/typing"), Some(json!({"user_id": bob})))
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        for path in [
            format!("/v1/channels/{private}"),
            format!("/v1/channels/{private}/messages"),
            format!("/v1/channels/{private}/participants"),
            format!("/v1/channels/{private}/events"),
        ] {
            let response = chat.send(Some(&ada_token), Method::GET, &path, None).await;
            assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        }
        let channels = chat.ok(&ada_token, Method::GET, "/v1/channels", None, StatusCode::OK).await;
        assert_eq!(channels["data"].as_array().unwrap().len(), 1, "{channels}");
        assert_eq!(channels["data"][0]["id"], shared.as_str());
        // App-level management needs an app token.
        let response = chat.send(Some(&ada_token), Method::POST, "/v1/users", Some(json!({"username": "eve"}))).await;
        assert_error(response, StatusCode::FORBIDDEN, "user_token_not_allowed").await;
        let response = chat.send(Some(&ada_token), Method::DELETE, &format!("/v1/users/{bob}"), None).await;
        assert_error(response, StatusCode::FORBIDDEN, "user_token_not_allowed").await;
        let response = chat
            .send(Some(&ada_token), Method::PATCH, &format!("/v1/users/{bob}"), Some(json!({"bio": "hacked"})))
            .await;
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        chat.ok(&ada_token, Method::PATCH, &format!("/v1/users/{ada}"), Some(json!({"bio": "mathematician"})), StatusCode::OK)
            .await;
        // Deleting the user ends its token.
        chat.ok(&world.token, Method::DELETE, &format!("/v1/users/{ada}"), None, StatusCode::NO_CONTENT).await;
        let response = chat.send(Some(&ada_token), Method::GET, "/v1/channels", None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}
