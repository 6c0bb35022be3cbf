//! Messages: senders, replies, `seq`, idempotent retries and paging.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{chat_test, ChatApp};
use crate::helpers::assert_error;

/// An app token, a channel with one participant: (token, channel, participant).
async fn channel_with_ada(chat: &ChatApp) -> (String, String, String) {
    let world = chat.world().await;
    let ada = chat.user(&world.token, "ada").await;
    let channel = chat.channel(&world.token, "general").await;
    let participant = chat.join(&world.token, &channel, &ada).await;
    (world.token, channel, participant)
}

fn seqs(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

chat_test! {
    async fn senders_must_be_participants_and_replies_stay_in_their_channel(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (t, channel, ada) = channel_with_ada(&chat).await;
        let first = chat.post(&t, &channel, &ada, "hello").await;
        assert!(first["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(first["seq"], 1);
        assert_eq!(first["sender_id"], ada.as_str());
        let path = format!("/v1/channels/{channel}/messages");
        let reply = chat
            .ok(&t, Method::POST, &path, Some(json!({"sender_id": ada, "text": "me again", "reply_to": first["id"]})), StatusCode::CREATED)
            .await;
        assert_eq!(reply["reply_to"], first["id"]);
        assert_eq!(reply["seq"], 2);
        // By user id works too.
        let by_user = chat
            .ok(&t, Method::POST, &path, Some(json!({"sender_id": first["user_id"], "text": "as user"})), StatusCode::CREATED)
            .await;
        assert_eq!(by_user["sender_id"], ada.as_str());

        let bob = chat.user(&t, "bob").await;
        let response = chat.send(Some(&t), Method::POST, &path, Some(json!({"sender_id": bob, "text": "not in"}))).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "not_participant").await;
        let other = chat.channel(&t, "other").await;
        let ada_user = first["user_id"].as_str().unwrap();
        let ada_in_other = chat.join(&t, &other, ada_user).await;
        let elsewhere = chat.post(&t, &other, &ada_in_other, "elsewhere").await;
        // A participant of another channel is not one of this channel.
        let response = chat.send(Some(&t), Method::POST, &path, Some(json!({"sender_id": ada_in_other, "text": "x"}))).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "not_participant").await;
        for reply_to in [elsewhere["id"].clone(), json!("msg_00000000000000000000000000000000")] {
            let response = chat
                .send(Some(&t), Method::POST, &path, Some(json!({"sender_id": ada, "text": "x", "reply_to": reply_to})))
                .await;
            assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reply_to").await;
        }
        for (body, code) in [
            (json!({"sender_id": ada, "text": "   "}), "invalid_parameter"),
            (json!({"sender_id": ada, "text": "x".repeat(4001)}), "invalid_parameter"),
            (json!({"sender_id": ada}), "invalid_json"),
        ] {
            let response = chat.send(Some(&t), Method::POST, &path, Some(body)).await;
            assert_error(response, StatusCode::BAD_REQUEST, code).await;
        }
        // Rejected posts took no sequence numbers.
        let next = chat.post(&t, &channel, &ada, "after the errors").await;
        assert_eq!(next["seq"], 4);
    }
}

chat_test! {
    async fn concurrent_posts_get_every_seq_exactly_once(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (t, channel, ada) = channel_with_ada(&chat).await;
        let seqs = chat.post_concurrently(&t, &channel, &ada, 20).await;
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        let channel_now = chat.ok(&t, Method::GET, &format!("/v1/channels/{channel}"), None, StatusCode::OK).await;
        assert_eq!(channel_now["last_seq"], 20);
    }
}

chat_test! {
    async fn a_retry_with_the_same_idempotency_key_returns_the_same_message(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (t, channel, ada) = channel_with_ada(&chat).await;
        let url = chat.app.url(&format!("/v1/channels/{channel}/messages"));
        let post = |key: &'static str, text: &'static str| {
            chat.app
                .client
                .post(&url)
                .bearer_auth(&t)
                .header("Idempotency-Key", key)
                .json(&json!({"sender_id": ada, "text": text}))
                .send()
        };
        let first = post("key-1", "once").await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: Value = first.json().await.unwrap();
        let retry = post("key-1", "once").await.unwrap();
        assert_eq!(retry.status(), StatusCode::OK);
        assert_eq!(retry.json::<Value>().await.unwrap(), first);
        let reused = post("key-1", "something else").await.unwrap();
        assert_error(reused, StatusCode::CONFLICT, "idempotency_conflict").await;

        // Ten concurrent retries of a new post make exactly one message.
        let racing = futures_util::future::join_all((0..10).map(|_| post("key-2", "raced"))).await;
        let mut ids = Vec::new();
        for response in racing {
            let response = response.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            ids.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one message for all the retries");
        let page = chat.ok(&t, Method::GET, &format!("/v1/channels/{channel}/messages"), None, StatusCode::OK).await;
        assert_eq!(seqs(&page), vec![1, 2], "no duplicate and no hole");
    }
}

chat_test! {
    async fn message_pages_by_seq_never_skip(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (t, channel, ada) = channel_with_ada(&chat).await;
        for i in 1..=7 {
            chat.post(&t, &channel, &ada, &format!("m{i}")).await;
        }
        let get = |query: String| {
            let path = format!("/v1/channels/{channel}/messages?{query}");
            let chat = &chat;
            let t = &t;
            async move { chat.ok(t, Method::GET, &path, None, StatusCode::OK).await }
        };
        let mut after = 0;
        let mut forward = Vec::new();
        loop {
            let page = get(format!("after={after}&limit=3")).await;
            forward.extend(seqs(&page));
            after = *forward.last().unwrap();
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
        }
        assert_eq!(forward, (1..=7).collect::<Vec<_>>());
        let newest = get("limit=3".into()).await;
        assert_eq!(seqs(&newest), vec![5, 6, 7]);
        assert_eq!(newest["has_more"], true);
        let older = get("before=5&limit=3".into()).await;
        assert_eq!(seqs(&older), vec![2, 3, 4]);
        let oldest = get("before=2&limit=3".into()).await;
        assert_eq!(seqs(&oldest), vec![1]);
        assert_eq!(oldest["has_more"], false);
        assert_eq!(seqs(&get("after=2&before=5".into()).await), vec![3, 4]);
        assert_eq!(seqs(&get("after=7".into()).await), Vec::<i64>::new());
        for bad in ["limit=0", "limit=201", "after=x"] {
            let response = chat.send(Some(&t), Method::GET, &format!("/v1/channels/{channel}/messages?{bad}"), None).await;
            assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        }
    }
}
