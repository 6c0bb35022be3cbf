//! The two ways a subscription's events leave (`http/sse/mod.rs`): written
//! straight to the socket when `GET /events` is a connection's first
//! request, through hyper otherwise. Both must say the same thing.
//!
//! The paths are told apart by their heads: the socket path closes the
//! connection after the stream (`connection: close`), hyper keeps it alive.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{numbered, spawn_app, spawn_app_with, DEADLINE};
use crate::raw_http::{get_raw, RawSse};

/// Big enough not to matter.
const RECV_BUFFER: u32 = 1 << 20;

#[tokio::test]
async fn a_first_request_subscription_is_written_straight_to_the_socket() {
    let app = spawn_app().await;
    let mut sse = RawSse::connect(app.addr, "stream=direct", RECV_BUFFER).await;
    let head = sse.head().await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for line in [
        "content-type: text/event-stream",
        "cache-control: no-cache",
        "x-accel-buffering: no",
        // The shared layers ran: the same router answered.
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "transfer-encoding: chunked",
        "connection: close",
    ] {
        assert!(
            head.contains(&format!("\r\n{line}")),
            "{line} missing:\n{head}"
        );
    }
    assert!(head.contains("\r\ndate: "), "{head}");

    assert_eq!(sse.next_event().await.event, "presence");
    for text in ["one", "two", "three"] {
        app.post_ok("direct", text).await;
    }
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let event = sse.next_event().await;
        assert_eq!(event.event, "message");
        assert_eq!(event.json()["text"], text);
        ids.push(event.id.unwrap().parse::<u64>().unwrap());
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

#[tokio::test]
async fn a_subscription_after_another_request_is_served_by_hyper_the_same_way() {
    let app = spawn_app().await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let addr = app.addr;
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Read exactly the health answer (its length is in its head).
    let mut answer = Vec::new();
    let complete = |answer: &[u8]| {
        let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))?
            .parse()
            .ok()?;
        (body.len() == length).then_some(())
    };
    tokio::time::timeout(DEADLINE, async {
        while complete(&answer).is_none() {
            let mut buffer = [0u8; 1024];
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(read > 0, "closed after the first request");
            answer.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("the health answer");

    let mut sse = RawSse::subscribe(socket, "stream=kept&last=0").await;
    let head = sse.head().await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: text/event-stream"),
        "{head}"
    );
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    assert_eq!(sse.next_event().await.event, "presence");
    app.post_ok("kept", "via hyper").await;
    assert_eq!(sse.next_event().await.json()["text"], "via hyper");
}

#[tokio::test]
async fn a_subscriber_that_hangs_up_is_let_go_at_once() {
    let app = spawn_app().await;
    // Closed after reading all it was sent: the server reads the end of
    // the stream (FIN). Nothing is posted, so no write would notice: only
    // reading the socket tells that the client has gone.
    let mut sse = RawSse::connect(app.addr, "stream=leaving", RECV_BUFFER).await;
    assert_eq!(sse.next_event().await.event, "presence");
    app.wait_for_observers("leaving", 1).await;
    drop(sse);
    app.wait_for_observers("leaving", 0).await;

    // Closed with bytes unread: the client's kernel resets the connection.
    let sse = RawSse::connect(app.addr, "stream=leaving", RECV_BUFFER).await;
    app.wait_for_observers("leaving", 1).await;
    drop(sse);
    app.wait_for_observers("leaving", 0).await;
}

#[tokio::test]
async fn a_refused_subscription_gets_the_json_error_then_the_connection_closes() {
    let app = spawn_app().await;
    let (status, response) = get_raw(app.addr, "/events?stream=x&last=18446744073709551615").await;
    assert_eq!(status, 400, "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\ncontent-length: {}", body.len())),
        "{head}"
    );
    assert!(head.contains("\r\nconnection: close"), "{head}");
    let error: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["code"], "invalid_cursor", "{body}");
    // Refused, it created nothing.
    let (status, _) = app.get_json("/streams/x").await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
}

/// A replay of hundreds of messages comes in deliveries of up to 256
/// messages, each one chunk written with several vectored writes (at most
/// 62 frames each). (Writes cut short inside a frame are tested in
/// `http/sse/socket.rs`.)
#[tokio::test]
async fn a_long_replay_arrives_whole_and_in_order() {
    let app = spawn_app().await;
    let texts = numbered("replayed", 300);
    for text in &texts {
        app.post_ok("long", text).await;
    }
    // A small receive buffer, so the server's writes are cut short too.
    let mut sse = RawSse::connect(app.addr, "stream=long&last=0", 4096).await;
    assert!(sse.head().await.contains("\r\nconnection: close"));
    let mut received = Vec::new();
    let mut last_id = 0;
    while received.len() < texts.len() {
        let event = sse.next_event().await;
        if event.event != "message" {
            continue;
        }
        let id: u64 = event.id.clone().unwrap().parse().unwrap();
        assert!(id > last_id, "{id} after {last_id}");
        last_id = id;
        received.push(event.json()["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, texts);
}

/// A subscriber waiting for news lends its socket to posters, who write
/// new messages to it themselves (`store/direct.rs`): the subscriber's own
/// task is not woken for them.
#[tokio::test]
async fn a_waiting_subscriber_is_written_to_by_the_poster_itself() {
    let app = spawn_app().await;
    let mut sse = RawSse::connect(app.addr, "stream=walked", RECV_BUFFER).await;
    assert_eq!(sse.next_event().await.event, "presence");
    for text in ["one", "two", "three"] {
        // One at a time, each read before the next: each is one write.
        app.post_ok("walked", text).await;
        let event = sse.next_event().await;
        assert_eq!(event.json()["text"], text);
    }
    assert_eq!(app.metric("malten_direct_writes_total").await, 3);
    assert_eq!(app.metric("malten_deliveries_total").await, 3);
}

/// Keep-alives are the connection's own writes: its task takes the socket
/// back from posters first, and lends it again after. Posts around them
/// arrive whole, in order, with the chunked framing intact.
#[tokio::test]
async fn keep_alives_and_posts_share_a_lent_socket_in_order() {
    let app = spawn_app_with(|config| config.keepalive_secs = 1).await;
    let mut sse = RawSse::connect(app.addr, "stream=ticking", RECV_BUFFER).await;
    assert_eq!(sse.next_event().await.event, "presence");
    sse.next_comment().await;
    for text in numbered("tick", 6) {
        app.post_ok("ticking", &text).await;
        let event = sse.next_event().await;
        assert_eq!(event.json()["text"], text);
        // Not a timing assertion: lets keep-alive ticks (every half
        // second) fall between the posts.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    sse.next_comment().await;
    assert!(app.metric("malten_direct_writes_total").await > 0);
}

/// A reader that stops reading: posts are not held up by it, its socket's
/// buffers take what the posters write, and when it reads again it gets
/// every message whole, in order, without a gap. (The kernel lets a send
/// buffer grow to megabytes, more than a stream holds, so a poster's write
/// stopping part-way is tested in `http/sse/socket.rs`, on a socket with a
/// small buffer.)
#[tokio::test]
async fn a_reader_that_stops_reading_gets_every_message_whole_when_it_resumes() {
    let app = spawn_app().await;
    let mut sse = RawSse::connect(app.addr, "stream=stalled", 4096).await;
    assert_eq!(sse.next_event().await.event, "presence");
    let filler = "x".repeat(900);
    let texts: Vec<String> = numbered("stalled", 400)
        .into_iter()
        .map(|text| format!("{text} {filler}"))
        .collect();
    // Nothing is read meanwhile; posts are not held up by it.
    for text in &texts {
        app.post_ok("stalled", text).await;
    }
    let mut received = Vec::new();
    while received.len() < texts.len() {
        let event = sse.next_event().await;
        assert_eq!(event.event, "message", "no gap: {event:?}");
        received.push(event.json()["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, texts);
}

#[tokio::test]
async fn at_shutdown_the_stream_ends_with_the_notice_and_the_last_chunk() {
    let mut app = spawn_app().await;
    let mut sse = RawSse::connect(app.addr, "stream=ending", RECV_BUFFER).await;
    assert_eq!(sse.next_event().await.event, "presence");
    let (result, (events, ended)) = tokio::join!(app.shutdown(), sse.until_closed());
    result.expect("run returns cleanly");
    let system: Vec<_> = events.iter().filter(|e| e.event == "system").collect();
    assert_eq!(system.len(), 1, "{events:?}");
    assert_eq!(system[0].json()["code"], "shutdown");
    assert!(ended, "the chunked body was cut off, not ended");
}
