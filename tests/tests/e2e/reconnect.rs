//! The web app's live connection when the server refuses to resume it: a
//! `400 invalid_cursor` (a cursor the server cannot have issued, as after it
//! restarted with its clock behind) makes the browser's `EventSource` give
//! up for good; the app must open a new one and say what may be missing.

use std::sync::Arc;

use crate::process::Server;
use crate::proxy::Proxy;
use crate::webdriver::{Browser, DEADLINE};

/// Beyond any cursor the server can have issued.
const FUTURE: &str = "18446744073709551615";

/// Replaces a resume cursor in the request line (`last=N`, N > 0) by one
/// from the future. `last=0` (the app's first history page) is left alone.
fn cursor_from_the_future(head: &str) -> String {
    let (line, rest) = head.split_once("\r\n").unwrap_or((head, ""));
    let mut out = String::with_capacity(head.len());
    let mut tail = line;
    while let Some(at) = tail.find("last=") {
        let (before, after) = tail.split_at(at + "last=".len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (cursor, after) = after.split_at(digits);
        out.push_str(if cursor.is_empty() || cursor == "0" {
            cursor
        } else {
            FUTURE
        });
        tail = after;
    }
    out.push_str(tail);
    format!("{out}\r\n{rest}")
}

#[test]
fn only_nonzero_cursors_in_the_request_line_are_rewritten() {
    assert_eq!(
        cursor_from_the_future("GET /events?stream=a&last=42 HTTP/1.1\r\nX: last=5\r\n\r\n"),
        format!("GET /events?stream=a&last={FUTURE} HTTP/1.1\r\nX: last=5\r\n\r\n")
    );
    let history = "GET /messages?stream=a&direction=-1&last=0 HTTP/1.1\r\n\r\n";
    assert_eq!(cursor_from_the_future(history), history);
}

#[tokio::test]
async fn a_refused_cursor_reconnects_without_it_and_says_messages_may_be_missing() {
    let server = Server::start(&[]).await;
    let upstream = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start_rewriting(upstream, Arc::new(cursor_from_the_future)).await;
    let form = |text: &'static str| [("stream", "restarted"), ("message", text)];
    let client = reqwest::Client::new();
    // A message first, so the page resumes its live connection after a
    // real cursor, which every request then carries as one from the future.
    let posted = client
        .post(server.url("/messages"))
        .form(&form("before"))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());

    // Through the proxy, resuming is refused as the app will see it.
    let refused = client
        .get(format!(
            "http://{}/events?stream=restarted&last=1",
            proxy.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "invalid_cursor");

    let browser = Browser::start().await;
    browser
        .goto(&format!("http://{}/#restarted", proxy.addr))
        .await;
    browser.wait_for_message("before").await;
    // The new connection starts with the next new message: post only once
    // the server holds the subscription.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let info: serde_json::Value = client
            .get(server.url("/streams/restarted"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["observers"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never subscribed again: {info}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let posted = client
        .post(server.url("/messages"))
        .form(&form("live again"))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    browser.wait_for_message("live again").await;
    assert_eq!(browser.message_texts().await, ["before", "live again"]);
    // And it says that messages may be missing.
    browser
        .wait_for_text("[data-testid=messages]", "could not resume")
        .await;
    browser.close().await;
}
