//! The whole flow of the issue, as an embedding app would run it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{chat_test, ChatApp, ADMIN};

chat_test! {
    async fn operator_to_app_to_two_users_chatting_live(backend) {
        let chat = ChatApp::spawn(backend).await;
        // The operator makes an organization and an app.
        let org = chat
            .ok(ADMIN, Method::POST, "/v1/orgs", Some(json!({"name": "Acme", "email": "ops@acme.example"})), StatusCode::CREATED)
            .await;
        let app = chat
            .ok(ADMIN, Method::POST, &format!("/v1/orgs/{}/apps", org["id"].as_str().unwrap()), Some(json!({"name": "Helpdesk"})), StatusCode::CREATED)
            .await;
        let app_id = app["id"].as_str().unwrap();
        // The app's backend exchanges its secret and sets things up.
        let server_token = chat.token(app_id, app["secrets"]["production"].as_str().unwrap(), None).await;
        let ada = chat.user(&server_token, "ada").await;
        let bob = chat.user(&server_token, "bob").await;
        let channel = chat.channel(&server_token, "support").await;
        chat.join(&server_token, &channel, &ada).await;
        chat.join(&server_token, &channel, &bob).await;
        // Each person's browser gets a token scoped to them.
        let ada_token = chat.token(app_id, app["secrets"]["production"].as_str().unwrap(), Some(&ada)).await;
        let bob_token = chat.token(app_id, app["secrets"]["production"].as_str().unwrap(), Some(&bob)).await;
        let mut ada_events = chat.events(&ada_token, &channel, None).await;
        let mut bob_events = chat.events(&bob_token, &channel, None).await;

        chat.ok(&ada_token, Method::POST, &format!("/v1/channels/{channel}/typing"), Some(json!({"user_id": ada})), StatusCode::NO_CONTENT)
            .await;
        let typing = bob_events.next_of("typing").await;
        assert_eq!(typing.json()["user_id"], ada.as_str());
        let hello = chat.post(&ada_token, &channel, &ada, "hello bob").await;
        assert_eq!(bob_events.next_of("message").await.json(), hello);
        assert_eq!(ada_events.next_of("message").await.json(), hello);

        chat.ok(&bob_token, Method::POST, &format!("/v1/channels/{channel}/typing"), Some(json!({"user_id": bob})), StatusCode::NO_CONTENT)
            .await;
        assert_eq!(ada_events.next_of("typing").await.json()["user_id"], bob.as_str());
        let reply = chat
            .ok(&bob_token, Method::POST, &format!("/v1/channels/{channel}/messages"),
                Some(json!({"sender_id": bob, "text": "hi ada", "reply_to": hello["id"]})), StatusCode::CREATED)
            .await;
        let seen = ada_events.next_of("message").await;
        assert_eq!(seen.json(), reply);
        assert_eq!(seen.json()["reply_to"], hello["id"]);

        for i in 0..3 {
            chat.post(&ada_token, &channel, &ada, &format!("more {i}")).await;
        }
        let page: Value = chat
            .ok(&bob_token, Method::GET, &format!("/v1/channels/{channel}/messages?after=0&limit=2"), None, StatusCode::OK)
            .await;
        assert_eq!(page["data"][0]["text"], "hello bob");
        assert_eq!(page["data"][1]["text"], "hi ada");
        assert_eq!(page["has_more"], true);
        let rest = chat
            .ok(&bob_token, Method::GET, &format!("/v1/channels/{channel}/messages?after=2"), None, StatusCode::OK)
            .await;
        let texts: Vec<_> = rest["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["more 0", "more 1", "more 2"]);
    }
}
