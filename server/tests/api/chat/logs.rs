//! The admin token, client secrets and access tokens never reach the logs.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::support::{chat_test, ChatApp, ADMIN};
use crate::log_capture::LogCapture;

chat_test! {
    /// `#[tokio::test]` runs on one thread, so the thread-local subscriber
    /// sees every line the server logs at every level.
    async fn secrets_and_tokens_never_reach_the_logs(backend) {
        let captured = LogCapture::start();

        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let ada = chat.user(&world.token, "ada").await;
        let channel = chat.channel(&world.token, "general").await;
        let participant = chat.join(&world.token, &channel, &ada).await;
        let user_token = chat.token(&world.app_id, &world.test, None).await;
        let text = "text-that-stays-private";
        chat.post(&world.token, &channel, &participant, text).await;
        let mut events = chat
            .app
            .get(&format!("/v1/channels/{channel}/events?access_token={}", world.token))
            .await;
        assert_eq!(events.status(), StatusCode::OK);
        let _ = events.chunk().await;
        chat.send(Some("wrong-admin"), Method::GET, "/v1/orgs", None).await;
        chat.exchange(json!({"app_id": world.app_id, "client_secret": "sk_test_wrong-guess"})).await;
        let rotated = chat
            .ok(ADMIN, Method::POST, &format!("/v1/apps/{}/secrets/test/rotate", world.app_id), None, StatusCode::OK)
            .await;

        let logs = captured.text();
        assert!(logs.contains("chat: client secret rotated"), "the capture works:\n{logs}");
        for secret in [
            ADMIN,
            &world.production,
            &world.test,
            &world.token,
            &user_token,
            rotated["secret"].as_str().unwrap(),
            "wrong-admin",
            "sk_test_wrong-guess",
            text,
        ] {
            assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
        }
    }
}
