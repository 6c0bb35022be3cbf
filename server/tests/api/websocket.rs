use futures_util::StreamExt;
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
