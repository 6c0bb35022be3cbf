//! Presence in the web app: the count changes live as readers come and go,
//! in plain and encrypted streams, with a short note saying so; and a tab
//! that navigates away (kept in Chromium's back/forward cache) stops
//! counting at once and, brought back, counts again and shows what was
//! posted meanwhile.

use std::time::Duration;

use serde_json::json;

use crate::process::Server;
use crate::webdriver::Browser;

/// Well under the 12 s or more a page kept in the back/forward cache held
/// its connection open before the app closed it on `pagehide`.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Polls until `browser` shows `count` watching, within `within`.
async fn wait_for_watching(browser: &Browser, count: u64, within: Duration) {
    let want = format!("{count} watching");
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let shown = browser
            .client
            .execute(
                "const el = document.querySelector('[data-testid=observers]'); return el ? el.textContent : null;",
                vec![],
            )
            .await
            .unwrap();
        if shown == json!(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {want:?} within {within:?}, the page shows {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(server: &Server, stream: &str, text: &str) {
    let response = reqwest::Client::new()
        .post(server.url("/messages"))
        .form(&[("stream", stream), ("message", text)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn the_count_follows_readers_coming_and_going_live_in_a_plain_stream() {
    let server = Server::start(&[]).await;
    // The stream exists before anyone opens it (no 404 in the console).
    post(&server, "lobby", "hello").await;
    let (alice, bob) = tokio::join!(Browser::start(), Browser::start());
    alice.goto(&server.url("/#lobby")).await;
    wait_for_watching(&alice, 1, crate::webdriver::DEADLINE).await;

    bob.goto(&server.url("/#lobby")).await;
    wait_for_watching(&alice, 2, crate::webdriver::DEADLINE).await;
    alice
        .wait_for_text("[data-testid=presence-note]", "Someone joined")
        .await;
    wait_for_watching(&bob, 2, crate::webdriver::DEADLINE).await;
    // Bob's own arrival is not news to him.
    assert_eq!(bob.text_of("[data-testid=presence-note]").await, "");

    // Closing the browser closes its connection; no post is needed for the
    // server to notice.
    bob.close().await;
    wait_for_watching(&alice, 1, PROMPTLY).await;
    alice
        .wait_for_text("[data-testid=presence-note]", "Someone left")
        .await;
    alice.assert_no_console_errors().await;
    alice.close().await;
}

#[tokio::test]
async fn the_count_follows_readers_live_in_an_encrypted_stream_without_names() {
    let server = Server::start(&[]).await;
    let (alice, bob) = tokio::join!(Browser::start(), Browser::start());
    let passphrase = "orchid lantern pebble";
    alice.goto(&server.url("/")).await;
    alice.fill("[data-testid=create-name]", "hush").await;
    alice
        .fill("[data-testid=create-passphrase]", passphrase)
        .await;
    alice.click("[data-testid=create-submit]").await;
    alice.wait_for("[data-testid=nick-input]").await;
    alice.fill("[data-testid=nick-input]", "alice").await;
    wait_for_watching(&alice, 1, crate::webdriver::DEADLINE).await;

    bob.goto(&server.url(&format!("/#hush/{}", passphrase.replace(' ', "%20"))))
        .await;
    bob.wait_for("[data-testid=nick-input]").await;
    wait_for_watching(&alice, 2, crate::webdriver::DEADLINE).await;
    alice
        .wait_for_text("[data-testid=presence-note]", "Someone joined")
        .await;
    bob.close().await;
    wait_for_watching(&alice, 1, PROMPTLY).await;
    let note = alice.text_of("[data-testid=presence-note]").await;
    assert_eq!(note, "Someone left", "no name, nothing the server lacks");
    alice.close().await;
}

#[tokio::test]
async fn a_tab_that_navigates_away_stops_counting_and_comes_back_with_what_it_missed() {
    let server = Server::start(&[]).await;
    let (alice, bob) = tokio::join!(Browser::start(), Browser::start());
    alice.goto(&server.url("/#porch")).await;
    // Alice's subscription creates the stream: Bob's page, loaded before
    // that, would log the app's expected 404 for its info as a console
    // error, which this test asserts there is none of.
    wait_for_watching(&alice, 1, crate::webdriver::DEADLINE).await;
    bob.goto(&server.url("/#porch")).await;
    wait_for_watching(&alice, 2, crate::webdriver::DEADLINE).await;
    post(&server, "porch", "before").await;
    bob.wait_for_message("before").await;
    // Survives only if the page is kept, not reloaded, when Bob comes back.
    bob.script("window.keptInCache = true;").await;

    bob.goto("about:blank").await;
    wait_for_watching(&alice, 1, PROMPTLY).await;
    post(&server, "porch", "while away").await;

    bob.client.back().await.unwrap();
    bob.wait_for_message("while away").await;
    assert_eq!(
        bob.script("return window.keptInCache === true;").await,
        json!(true),
        "the page came back from the back/forward cache"
    );
    assert_eq!(bob.message_texts().await, ["before", "while away"]);
    wait_for_watching(&alice, 2, crate::webdriver::DEADLINE).await;
    wait_for_watching(&bob, 2, crate::webdriver::DEADLINE).await;
    // Live again, not only replayed.
    post(&server, "porch", "after").await;
    bob.wait_for_message("after").await;
    assert_eq!(bob.message_texts().await, ["before", "while away", "after"]);
    bob.assert_no_console_errors().await;
    tokio::join!(alice.close(), bob.close());
}
