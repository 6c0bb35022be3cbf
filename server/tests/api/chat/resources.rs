//! Users, channels and participants, and what deleting takes with it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{chat_test, ChatApp};
use crate::helpers::assert_error;

chat_test! {
    async fn users_are_made_read_patched_and_unique_per_app(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let t = world.token.as_str();
        let user = chat
            .ok(t, Method::POST, "/v1/users",
                Some(json!({"username": "ada", "first_name": "Ada", "last_name": "Lovelace", "bio": "engines"})),
                StatusCode::CREATED)
            .await;
        let id = user["id"].as_str().unwrap();
        assert!(id.starts_with("usr_"));
        assert_eq!(chat.ok(t, Method::GET, &format!("/v1/users/{id}"), None, StatusCode::OK).await, user);
        let response = chat.send(Some(t), Method::POST, "/v1/users", Some(json!({"username": "ada"}))).await;
        assert_error(response, StatusCode::CONFLICT, "username_taken").await;
        for bad in ["", "has space", "ünïcode", &"x".repeat(65)] {
            let response = chat.send(Some(t), Method::POST, "/v1/users", Some(json!({"username": bad}))).await;
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        }
        let patched = chat
            .ok(t, Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"avatar": "https://x.example/a.png"})), StatusCode::OK)
            .await;
        assert_eq!(patched["avatar"], "https://x.example/a.png");
        assert_eq!(patched["first_name"], "Ada");
        chat.user(t, "bob").await;
        let response = chat.send(Some(t), Method::PATCH, &format!("/v1/users/{id}"), Some(json!({"username": "bob"}))).await;
        assert_error(response, StatusCode::CONFLICT, "username_taken").await;
        let page = chat.ok(t, Method::GET, "/v1/users?limit=1", None, StatusCode::OK).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        let cursor = page["next_cursor"].as_str().expect("a second page");
        let next = chat.ok(t, Method::GET, &format!("/v1/users?limit=1&cursor={cursor}"), None, StatusCode::OK).await;
        assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);
        assert_eq!(next["next_cursor"], Value::Null);
    }
}

chat_test! {
    async fn channels_are_made_read_patched_and_deleted(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let t = world.token.as_str();
        let ada = chat.user(t, "ada").await;
        let channel = chat
            .ok(t, Method::POST, "/v1/channels",
                Some(json!({"name": "general", "description": "all things", "creator_id": ada})),
                StatusCode::CREATED)
            .await;
        let id = channel["id"].as_str().unwrap();
        assert!(id.starts_with("chn_"));
        assert_eq!(channel["creator_id"], ada.as_str());
        assert_eq!(channel["last_seq"], 0);
        let patched = chat
            .ok(t, Method::PATCH, &format!("/v1/channels/{id}"), Some(json!({"icon": "https://x.example/i.png"})), StatusCode::OK)
            .await;
        assert_eq!(patched["icon"], "https://x.example/i.png");
        assert_eq!(patched["description"], "all things");
        let listed = chat.ok(t, Method::GET, "/v1/channels", None, StatusCode::OK).await;
        assert_eq!(listed["data"][0], patched);
        let response = chat.send(Some(t), Method::POST, "/v1/channels", Some(json!({"name": "  "}))).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        chat.ok(t, Method::DELETE, &format!("/v1/channels/{id}"), None, StatusCode::NO_CONTENT).await;
        let response = chat.send(Some(t), Method::GET, &format!("/v1/channels/{id}"), None).await;
        assert_error(response, StatusCode::NOT_FOUND, "channel_not_found").await;
    }
}

chat_test! {
    async fn participants_join_once_and_leave(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let t = world.token.as_str();
        let ada = chat.user(t, "ada").await;
        let channel = chat.channel(t, "general").await;
        let participant = chat.join(t, &channel, &ada).await;
        assert!(participant.starts_with("prt_"));
        let path = format!("/v1/channels/{channel}/participants");
        let response = chat.send(Some(t), Method::POST, &path, Some(json!({"user_id": ada}))).await;
        assert_error(response, StatusCode::CONFLICT, "already_participant").await;
        let response = chat.send(Some(t), Method::POST, &path, Some(json!({"user_id": "usr_00000000000000000000000000000000"}))).await;
        assert_error(response, StatusCode::NOT_FOUND, "user_not_found").await;
        let listed = chat.ok(t, Method::GET, &path, None, StatusCode::OK).await;
        assert_eq!(listed["data"][0]["user_id"], ada.as_str());
        chat.ok(t, Method::DELETE, &format!("{path}/{participant}"), None, StatusCode::NO_CONTENT).await;
        let response = chat.send(Some(t), Method::DELETE, &format!("{path}/{participant}"), None).await;
        assert_error(response, StatusCode::NOT_FOUND, "participant_not_found").await;
        assert_eq!(chat.ok(t, Method::GET, &path, None, StatusCode::OK).await["data"], json!([]));
    }
}

chat_test! {
    async fn a_deleted_user_takes_its_participants_with_it(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let t = world.token.as_str();
        let ada = chat.user(t, "ada").await;
        let bob = chat.user(t, "bob").await;
        let one = chat.channel(t, "one").await;
        let two = chat.channel(t, "two").await;
        let ada_in_one = chat.join(t, &one, &ada).await;
        chat.join(t, &two, &ada).await;
        chat.join(t, &one, &bob).await;
        chat.post(t, &one, &ada_in_one, "before").await;
        chat.ok(t, Method::DELETE, &format!("/v1/users/{ada}"), None, StatusCode::NO_CONTENT).await;
        for channel in [&one, &two] {
            let listed = chat.ok(t, Method::GET, &format!("/v1/channels/{channel}/participants"), None, StatusCode::OK).await;
            assert!(!listed.to_string().contains(&ada), "{listed}");
        }
        // The old participant can no longer send; the history stays.
        let response = chat
            .send(Some(t), Method::POST, &format!("/v1/channels/{one}/messages"), Some(json!({"sender_id": ada_in_one, "text": "ghost"})))
            .await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "not_participant").await;
        let messages = chat.ok(t, Method::GET, &format!("/v1/channels/{one}/messages"), None, StatusCode::OK).await;
        assert_eq!(messages["data"][0]["text"], "before");
        // And the username is free again.
        chat.user(t, "ada").await;
    }
}

chat_test! {
    async fn a_deleted_channel_takes_its_participants_and_messages_with_it(backend) {
        let chat = ChatApp::spawn(backend).await;
        let world = chat.world().await;
        let t = world.token.as_str();
        let ada = chat.user(t, "ada").await;
        let channel = chat.channel(t, "doomed").await;
        let participant = chat.join(t, &channel, &ada).await;
        chat.post(t, &channel, &participant, "last words").await;
        chat.ok(t, Method::DELETE, &format!("/v1/channels/{channel}"), None, StatusCode::NO_CONTENT).await;
        // The user is now in no channel: a user token lists none.
        let ada_token = chat.token(&world.app_id, &world.production, Some(&ada)).await;
        let listed = chat.ok(&ada_token, Method::GET, "/v1/channels", None, StatusCode::OK).await;
        assert_eq!(listed["data"], json!([]));
        // Deleting the user afterwards works: no participant row holds it.
        chat.ok(t, Method::DELETE, &format!("/v1/users/{ada}"), None, StatusCode::NO_CONTENT).await;
    }
}
