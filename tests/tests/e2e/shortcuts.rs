//! The keyboard shortcuts panel: `?` (when not typing) and the header's
//! button open it, it lists every shortcut, Escape closes it and focus goes
//! back where it was. Keys are pressed through WebDriver actions, as a
//! keyboard would.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::{json, Value};

use crate::process::Server;
use crate::webdriver::{Browser, DEADLINE};

async fn press(browser: &Browser, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    browser.client.perform_actions(keys).await.unwrap();
}

async fn panel_open(browser: &Browser) -> bool {
    browser
        .script("return document.querySelector('[data-testid=shortcuts]').open;")
        .await
        == Value::Bool(true)
}

async fn wait_for_panel(browser: &Browser, open: bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while panel_open(browser).await != open {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the panel never became {}",
            if open { "open" } else { "closed" }
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn question_mark_and_the_button_open_the_shortcuts_and_escape_closes_them() {
    let server = Server::start(&[]).await;
    // The stream exists before it is opened (no 404 in the console).
    let created = reqwest::Client::new()
        .post(server.url("/messages"))
        .form(&[("stream", "keys"), ("message", "hello")])
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let browser = Browser::start().await;
    browser.goto(&server.url("/#keys")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    assert!(!panel_open(&browser).await);

    press(&browser, '?').await;
    wait_for_panel(&browser, true).await;
    let listed = browser.text_of("[data-testid=shortcuts-list]").await;
    for keys in ["Enter", "Shift + Enter", "?", "Esc"] {
        assert!(listed.contains(keys), "{keys} is listed: {listed}");
    }
    assert_eq!(
        browser
            .script("const d = document.querySelector('[data-testid=shortcuts]'); return document.getElementById(d.getAttribute('aria-labelledby')).textContent;")
            .await,
        json!("Keyboard shortcuts"),
        "the dialog is named"
    );
    press(&browser, Key::Escape.into()).await;
    wait_for_panel(&browser, false).await;

    // From the button: focus returns to it.
    browser.click("[data-testid=shortcuts-button]").await;
    wait_for_panel(&browser, true).await;
    press(&browser, Key::Escape.into()).await;
    wait_for_panel(&browser, false).await;
    assert_eq!(
        browser
            .script("return document.activeElement.dataset.testid;")
            .await,
        json!("shortcuts-button")
    );

    // Typing a `?` in the message box is typing.
    browser.click("[data-testid=composer-input]").await;
    press(&browser, '?').await;
    assert_eq!(browser.value_of("[data-testid=composer-input]").await, "?");
    assert!(!panel_open(&browser).await);
    browser.assert_no_console_errors().await;
    browser.close().await;
}
