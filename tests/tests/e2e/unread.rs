//! The unread count in the tab title while the tab is hidden.
//!
//! Hidden how: headless Chromium has no window a test can minimise, and a
//! second tab would have to be switched back to (which shows the first
//! again) before its title could be read. So the test overrides
//! `document.hidden` and `document.visibilityState` on the page and fires
//! `visibilitychange`, as the browser does when the tab is hidden; the app
//! reads both through the same DOM API either way. Nothing in the app
//! exists for the test.

use serde_json::json;

use crate::process::Server;
use crate::webdriver::{Browser, DEADLINE};

const SET_VISIBILITY: &str = "const hidden = arguments[0]; \
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden}); \
    Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => hidden ? 'hidden' : 'visible'}); \
    document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));";

async fn set_hidden(browser: &Browser, hidden: bool) {
    browser
        .client
        .execute(SET_VISIBILITY, vec![json!(hidden)])
        .await
        .unwrap();
}

async fn wait_for_title(browser: &Browser, want: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let title = browser.client.title().await.unwrap();
        if title == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected the title {want:?}, it is {title:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn post(server: &Server, text: &str) {
    let response = reqwest::Client::new()
        .post(server.url("/messages"))
        .form(&[("stream", "den"), ("message", text)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn the_title_counts_messages_that_arrive_while_hidden_and_never_shows_their_text() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#den")).await;
    browser
        .wait_for_text("[data-testid=observers]", "1 watching")
        .await;
    wait_for_title(&browser, "#den · Malten").await;

    // Seen while visible: not unread.
    post(&server, "seen at once").await;
    browser.wait_for_message("seen at once").await;
    set_hidden(&browser, true).await;
    post(&server, "first secret words").await;
    post(&server, "second secret words").await;
    browser.wait_for_message("second secret words").await;
    wait_for_title(&browser, "(2) #den · Malten").await;
    let title = browser.client.title().await.unwrap();
    assert!(!title.contains("secret"), "no message text in the title");

    set_hidden(&browser, false).await;
    wait_for_title(&browser, "#den · Malten").await;
    // Back to the app's own title when the stream is left.
    browser.goto(&server.url("/#")).await;
    wait_for_title(&browser, "Malten").await;
    browser.close().await;
}
