//! A small client of the `/ws` session protocol for the tests.

use futures_util::{SinkExt, StreamExt};
use malten_shared::protocol::{decode_text, encode_text};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::helpers::{TestApp, DEADLINE};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    socket: Socket,
}

/// Base64 of UTF-8, as the protocol carries text.
pub fn b64(text: &str) -> String {
    encode_text(text)
}

/// The text in a `data` field.
pub fn text_of(data: &Value) -> String {
    decode_text(data.as_str().expect("data is a string")).expect("data is base64 UTF-8")
}

/// Polls, within the deadline, until a new `/ws` connection is accepted:
/// the per-address slot `why` names has been freed.
pub async fn wait_until_a_connection_is_accepted(app: &TestApp, why: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
        .await
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline, "{why}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

impl WsClient {
    /// Connects to `/ws`; the message of the day is left unread.
    pub async fn connect(app: &TestApp) -> Self {
        let (socket, response) = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr))
            .await
            .expect("websocket upgrade");
        assert_eq!(response.status(), 101);
        Self { socket }
    }

    /// Connects and reads the message of the day.
    pub async fn connect_past_motd(app: &TestApp) -> Self {
        let mut client = Self::connect(app).await;
        let motd = client.recv().await;
        assert_eq!(motd["msg"], "system", "expected the MOTD first: {motd}");
        client
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Frame::Text(text.into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, frame: Frame) {
        self.socket.send(frame).await.unwrap();
    }

    /// The next text frame as JSON (pings and pongs skipped).
    pub async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("no frame within the deadline")
                .expect("the connection ended")
                .expect("a readable frame");
            match frame {
                Frame::Text(text) => return serde_json::from_str(&text).unwrap(),
                Frame::Ping(_) | Frame::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame of any kind, as received.
    pub async fn next_frame(&mut self) -> Frame {
        tokio::time::timeout(DEADLINE, self.socket.next())
            .await
            .expect("no frame within the deadline")
            .expect("the connection ended")
            .expect("a readable frame")
    }

    /// Sends `frame` and returns the next frame.
    pub async fn request(&mut self, frame: Value) -> Value {
        self.send(frame).await;
        self.recv().await
    }

    /// Reads until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let frame = tokio::time::timeout(DEADLINE, self.socket.next())
                .await
                .expect("no close within the deadline");
            match frame {
                Some(Ok(Frame::Close(Some(close)))) => return u16::from(close.code),
                Some(Ok(Frame::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("connection broke instead of closing: {err}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    /// Creates a session and returns its id.
    pub async fn create_session(&mut self, settings: Value) -> String {
        let reply = self
            .request(json!({"msg": "session", "cid": "create",
                            "content": {"request": "create", "settings": settings}}))
            .await;
        assert_eq!(reply["content"]["success"], true, "create failed: {reply}");
        reply["content"]["session_id"].as_str().unwrap().to_owned()
    }

    /// Sends a prompt; returns the next frame (the reply, unless streaming).
    pub async fn chat(&mut self, cid: &str, prompt: &str) -> Value {
        self.request(json!({"msg": "chat", "cid": cid,
                            "content": {"type": "text", "data": b64(prompt)}}))
            .await
    }

    /// A session request with `content`; returns the answer's content.
    pub async fn session(&mut self, content: Value) -> Value {
        let reply = self
            .request(json!({"msg": "session", "cid": "s", "content": content}))
            .await;
        assert_eq!(reply["msg"], "session", "{reply}");
        assert_eq!(reply["cid"], "s", "{reply}");
        reply["content"].clone()
    }
}
