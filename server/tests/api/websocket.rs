use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::helpers::{numbered, spawn_app, TestApp, DEADLINE};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, query: &str) -> Socket {
    let url = format!("ws://{}/events?{query}", app.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket upgrade");
    assert_eq!(response.status(), 101);
    socket
}

async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Frame::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn the_events_endpoint_upgrades_to_a_websocket_with_the_same_events() {
    let app = spawn_app().await;
    let mut socket = connect(&app, "stream=ws").await;
    let presence = next_event(&mut socket).await;
    assert_eq!(presence["event"], "presence");
    assert_eq!(presence["data"]["observers"], 1);
    let stored = app.post_ok("ws", "over the socket").await;
    let message = next_event(&mut socket).await;
    assert_eq!(message["event"], "message");
    assert_eq!(message["id"], stored["created"]);
    assert_eq!(message["data"], stored);
}

#[tokio::test]
async fn the_websocket_replays_after_a_cursor_and_reports_gaps() {
    let app = spawn_app().await;
    let mut stored = Vec::new();
    for text in numbered("w", 1026) {
        stored.push(app.post_ok("wsr", &text).await);
    }
    let recent = stored[1023]["created"].as_str().unwrap();
    let mut socket = connect(&app, &format!("stream=wsr&last={recent}")).await;
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let event = next_event(&mut socket).await;
        if event["event"] == "message" {
            texts.push(event["data"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(texts, ["w-1024", "w-1025"]);

    let oldest = stored[0]["created"].as_str().unwrap();
    let mut behind = connect(&app, &format!("stream=wsr&last={oldest}")).await;
    let gap = loop {
        let event = next_event(&mut behind).await;
        if event["event"] != "presence" {
            break event;
        }
    };
    assert_eq!(gap["event"], "gap");
    assert_eq!(gap["data"]["available_from"], stored[2]["created"]);
}

/// What a client sends is read through the server's small read buffer
/// (`READ_BUFFER_BYTES`, 256 bytes) and ignored: a frame of 4,096 bytes (the
/// message limit) arrives whole and leaves the subscription working, a
/// ping behind it is answered, and a frame over the limit ends the socket.
#[tokio::test]
async fn client_frames_up_to_the_limit_are_ignored_and_a_longer_one_ends_the_socket() {
    let app = spawn_app().await;
    let mut socket = connect(&app, "stream=wsin").await;
    assert_eq!(next_event(&mut socket).await["event"], "presence");

    socket
        .send(Frame::Text("x".repeat(4096).into()))
        .await
        .unwrap();
    socket
        .send(Frame::Ping(b"after".to_vec().into()))
        .await
        .unwrap();
    // The pong proves the server has read past the long frame.
    let pong = tokio::time::timeout(DEADLINE, async {
        loop {
            match socket.next().await.unwrap().unwrap() {
                Frame::Pong(payload) => break payload,
                Frame::Text(_) | Frame::Ping(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&pong[..], b"after");
    let stored = app.post_ok("wsin", "still subscribed").await;
    let message = next_event(&mut socket).await;
    assert_eq!(message["event"], "message");
    assert_eq!(message["data"], stored);

    socket
        .send(Frame::Text("x".repeat(4097).into()))
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the server ends the socket after a frame over the limit");
}
