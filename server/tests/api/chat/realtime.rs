//! `GET /v1/channels/{id}/events`: live events over SSE and WebSocket,
//! resuming by `seq`, and connections that end with their token.

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::support::{chat_test, ChatApp, World, ADMIN};
use crate::helpers::{assert_error, DEADLINE};

/// A world with ada and bob in one channel: (world, channel, ada's
/// participant, bob's user id).
pub(super) async fn room(chat: &ChatApp) -> (World, String, String, String) {
    let world = chat.world().await;
    let ada = chat.user(&world.token, "ada").await;
    let bob = chat.user(&world.token, "bob").await;
    let channel = chat.channel(&world.token, "general").await;
    let ada_in = chat.join(&world.token, &channel, &ada).await;
    (world, channel, ada_in, bob)
}

chat_test! {
    async fn subscribers_see_messages_typing_joins_and_leaves_live(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, ada_in, bob) = room(&chat).await;
        let mut events = chat.events(&world.token, &channel, None).await;
        let message = chat.post(&world.token, &channel, &ada_in, "live").await;
        let event = events.next_of("message").await;
        assert_eq!(event.id.as_deref(), Some("1"));
        assert_eq!(event.json(), message);
        let bob_in = chat.join(&world.token, &channel, &bob).await;
        let join = events.next_event().await;
        assert_eq!((join.event.as_str(), join.json()["id"].as_str()), ("join", Some(bob_in.as_str())));
        chat.ok(&world.token, Method::POST, &format!("/v1/channels/{channel}/typing"), Some(json!({"user_id": bob})), StatusCode::NO_CONTENT)
            .await;
        let typing = events.next_event().await;
        assert_eq!(typing.event, "typing");
        assert_eq!(typing.json()["user_id"], bob.as_str());
        assert_eq!(typing.id, None, "typing is not a resumable position");
        chat.ok(&world.token, Method::DELETE, &format!("/v1/channels/{channel}/participants/{bob_in}"), None, StatusCode::NO_CONTENT)
            .await;
        let leave = events.next_event().await;
        assert_eq!((leave.event.as_str(), leave.json()["user_id"].as_str()), ("leave", Some(bob.as_str())));
        // Deleting the channel ends the stream with a reason.
        chat.ok(&world.token, Method::DELETE, &format!("/v1/channels/{channel}"), None, StatusCode::NO_CONTENT).await;
        let end = events.next_event().await;
        assert_eq!((end.event.as_str(), end.json()["code"].as_str()), ("end", Some("channel_not_found")));
        assert!(events.next_block().await.is_none(), "the server closed the stream");
    }
}

chat_test! {
    async fn last_event_id_replays_what_was_missed_and_a_lost_position_is_a_gap(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, ada_in, _) = room(&chat).await;
        for i in 1..=5 {
            chat.post(&world.token, &channel, &ada_in, &format!("m{i}")).await;
        }
        let mut events = chat.events(&world.token, &channel, Some(2)).await;
        let replayed: Vec<_> = [events.next_event().await, events.next_event().await, events.next_event().await]
            .iter()
            .map(|e| (e.event.clone(), e.id.clone().unwrap(), e.json()["text"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(replayed, vec![
            ("message".into(), "3".into(), "m3".into()),
            ("message".into(), "4".into(), "m4".into()),
            ("message".into(), "5".into(), "m5".into()),
        ]);
        chat.post(&world.token, &channel, &ada_in, "m6").await;
        assert_eq!(events.next_event().await.id.as_deref(), Some("6"), "live after the replay, nothing twice");

        let mut lost = chat.events(&world.token, &channel, Some(99)).await;
        let gap = lost.next_event().await;
        assert_eq!(gap.event, "gap");
        assert_eq!(gap.json()["last_seq"], 6);
        chat.post(&world.token, &channel, &ada_in, "m7").await;
        assert_eq!(lost.next_event().await.id.as_deref(), Some("7"));

        let response = chat
            .app.client.get(chat.app.url(&format!("/v1/channels/{channel}/events")))
            .bearer_auth(&world.token).header("Last-Event-ID", "yesterday").send().await.unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}

chat_test! {
    async fn eventsource_clients_may_pass_the_token_in_the_query(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, ada_in, _) = room(&chat).await;
        let url = format!("/v1/channels/{channel}/events");
        let response = chat.send(None, Method::GET, &url, None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
        let response = chat.send(None, Method::GET, &format!("{url}?access_token=mct_nope"), None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let response = chat.app.get(&format!("{url}?access_token={}", world.token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut events = crate::helpers::SseClient::from_response(response);
        chat.post(&world.token, &channel, &ada_in, "via query").await;
        assert_eq!(events.next_of("message").await.json()["text"], "via query");
        // Only the events route reads the query.
        let response = chat.send(None, Method::GET, &format!("/v1/users?access_token={}", world.token), None).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    }
}

chat_test! {
    async fn a_stream_ends_when_its_token_expires(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, _, _) = room(&chat).await;
        let response = chat.exchange(json!({"app_id": world.app_id, "client_secret": world.production, "ttl_seconds": 1})).await;
        let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        let mut events = chat.events(&token, &channel, None).await;
        // `next_event` fails the test if nothing comes within the deadline.
        let end = events.next_event().await;
        assert_eq!((end.event.as_str(), end.json()["code"].as_str()), ("end", Some("token_expired")));
        assert!(events.next_block().await.is_none());
    }
}

chat_test! {
    async fn a_stream_ends_when_its_secret_is_rotated(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, _, _) = room(&chat).await;
        let mut events = chat.events(&world.token, &channel, None).await;
        chat.ok(ADMIN, Method::POST, &format!("/v1/apps/{}/secrets/production/rotate", world.app_id), None, StatusCode::OK)
            .await;
        let end = events.next_event().await;
        assert_eq!((end.event.as_str(), end.json()["code"].as_str()), ("end", Some("invalid_token")));
    }
}

chat_test! {
    async fn a_websocket_carries_the_same_events(backend) {
        let chat = ChatApp::spawn(backend).await;
        let (world, channel, ada_in, _) = room(&chat).await;
        chat.post(&world.token, &channel, &ada_in, "before").await;
        let mut request = format!("ws://{}/v1/channels/{channel}/events", chat.app.addr)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", world.token).parse().unwrap());
        request.headers_mut().insert("last-event-id", "0".parse().unwrap());
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
        assert_eq!(response.status(), 101);
        let replayed = next_text(&mut socket).await;
        assert_eq!((replayed["event"].as_str(), replayed["id"].as_i64()), (Some("message"), Some(1)));
        assert_eq!(replayed["data"]["text"], "before");
        chat.post(&world.token, &channel, &ada_in, "after").await;
        let live = next_text(&mut socket).await;
        assert_eq!((live["id"].as_i64(), live["data"]["text"].as_str()), (Some(2), Some("after")));
    }
}

/// The next text frame of a WebSocket, as JSON.
pub(super) async fn next_text<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(Frame::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => {}
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

chat_test! {
    async fn live_connections_are_capped_per_address(backend) {
        let chat = ChatApp::spawn_with(backend, |config| {
            config.max_connections_per_ip = 2;
            config.keepalive_secs = 1;
        })
        .await;
        let (world, channel, _, _) = room(&chat).await;
        let first = chat.events(&world.token, &channel, None).await;
        let _second = chat.events(&world.token, &channel, None).await;
        let response = chat
            .send(Some(&world.token), Method::GET, &format!("/v1/channels/{channel}/events"), None)
            .await;
        assert!(response.headers().contains_key("retry-after"));
        assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_connections").await;
        // Closing one frees its slot (polled: the server notices the close
        // at the latest when its next keep-alive fails).
        drop(first);
        tokio::time::timeout(DEADLINE, async {
            loop {
                let response = chat
                    .send(Some(&world.token), Method::GET, &format!("/v1/channels/{channel}/events"), None)
                    .await;
                if response.status() == StatusCode::OK {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the slot was never freed");
    }
}
