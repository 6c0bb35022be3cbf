//! The "new messages" jump: the transcript follows new messages while the
//! reader is at the bottom, stays put while they have scrolled up (counting
//! what arrives below), and the button takes them down.

use fantoccini::actions::{InputSource, WheelAction, WheelActions};
use serde_json::{json, Value};

use crate::process::Server;
use crate::webdriver::{Browser, DEADLINE};

const LIST: &str = "document.querySelector('[data-testid=messages]')";

async fn post(server: &Server, text: &str) {
    let response = reqwest::Client::new()
        .post(server.url("/messages"))
        .form(&[("stream", "scroll"), ("message", text)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn scroll_top(browser: &Browser) -> f64 {
    browser
        .script(&format!("return {LIST}.scrollTop;"))
        .await
        .as_f64()
        .unwrap()
}

/// Scrolls the transcript up with the mouse wheel, as a reader does, and
/// waits until it has stopped moving.
async fn wheel_up(browser: &Browser) {
    let centre = browser
        .script(&format!(
            "const r = {LIST}.getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];"
        ))
        .await;
    let wheel = WheelActions::new("wheel".into()).then(WheelAction::Scroll {
        duration: None,
        x: centre[0].as_i64().unwrap(),
        y: centre[1].as_i64().unwrap(),
        delta_x: 0,
        delta_y: -500,
    });
    browser.client.perform_actions(wheel).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut last = -1.0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = scroll_top(browser).await;
        if now == last && distance_to_bottom(browser).await > 200.0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the wheel did not scroll the transcript up"
        );
        last = now;
    }
}

async fn distance_to_bottom(browser: &Browser) -> f64 {
    browser
        .script(&format!(
            "const l = {LIST}; return l.scrollHeight - l.scrollTop - l.clientHeight;"
        ))
        .await
        .as_f64()
        .unwrap()
}

async fn wait_until_at_bottom(browser: &Browser, when: &str) {
    let script =
        format!("const l = {LIST}; return l.scrollHeight - l.scrollTop - l.clientHeight < 2;");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while browser.script(&script).await != Value::Bool(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transcript never scrolled to the bottom {when}: {}",
            browser
                .script(&format!(
                    "const l = {LIST}; return [l.scrollHeight, l.scrollTop, l.clientHeight];"
                ))
                .await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn new_messages_below_a_scrolled_up_view_are_counted_and_one_click_away() {
    let server = Server::start(&[]).await;
    for n in 1..=30 {
        post(&server, &format!("message {n}")).await;
    }
    let browser = Browser::start().await;
    browser.goto(&server.url("/#scroll")).await;
    browser.wait_for_message("message 30").await;
    assert_eq!(
        browser
            .script(&format!(
                "return {LIST}.scrollHeight > 2 * {LIST}.clientHeight;"
            ))
            .await,
        json!(true),
        "the transcript scrolls"
    );
    wait_until_at_bottom(&browser, "when opened").await;

    // At the bottom, the view follows and there is nothing to jump to.
    post(&server, "followed").await;
    browser.wait_for_message("followed").await;
    wait_until_at_bottom(&browser, "following a new message").await;
    assert_eq!(browser.count("[data-testid=jump-new]").await, 0);

    // Scrolled up, it stays put and counts.
    wheel_up(&browser).await;
    let before = scroll_top(&browser).await;
    post(&server, "below one").await;
    post(&server, "below two").await;
    browser.wait_for_message("below two").await;
    browser
        .wait_for_text("[data-testid=jump-new]", "2 new messages ↓")
        .await;
    let after = scroll_top(&browser).await;
    // Off-screen messages taking their real height may nudge it a little.
    assert!(
        (after - before).abs() < 50.0 && distance_to_bottom(&browser).await > 200.0,
        "no jump while reading: scrolled from {before} to {after}"
    );

    browser.click("[data-testid=jump-new]").await;
    wait_until_at_bottom(&browser, "after the jump").await;
    assert_eq!(browser.count("[data-testid=jump-new]").await, 0);

    // Scrolling down by hand counts as having seen them too.
    wheel_up(&browser).await;
    post(&server, "below three").await;
    browser
        .wait_for_text("[data-testid=jump-new]", "1 new message ↓")
        .await;
    browser
        .script(&format!("{LIST}.scrollTop = {LIST}.scrollHeight;"))
        .await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while browser.count("[data-testid=jump-new]").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the button stayed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    browser.close().await;
}
