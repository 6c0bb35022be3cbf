//! Dictation in the composer: hidden without the browser's speech
//! recognition; with it, the user is told first where the audio goes, the
//! words only fill the message box, and nothing is sent until Send.
//!
//! Headless Chromium's own recognition would need a microphone and Google's
//! service, so a stand-in recognition object is installed before the app's
//! scripts run (DevTools `Page.addScriptToEvaluateOnNewDocument`): it
//! "hears" a fixed sentence when started and counts starts and stops.

use fantoccini::key::Key;
use serde_json::Value;

use crate::process::Server;
use crate::webdriver::Browser;

const HEARD: &str = "hello from the microphone";

/// Takes the browser's speech recognition away, whatever this Chromium has.
const NO_RECOGNITION: &str =
    "delete window.SpeechRecognition; delete window.webkitSpeechRecognition;";

/// A recognition object that hears [`HEARD`] (first as an interim result,
/// then final) when started, and ends when stopped.
const STUB_RECOGNITION: &str = r#"
delete window.webkitSpeechRecognition;
window.speechLog = { starts: 0, stops: 0 };
window.SpeechRecognition = class {
  start() {
    window.speechLog.starts += 1;
    window.speechLog.current = this;
    const result = (transcript, isFinal) => Object.assign([{ transcript, confidence: 0.9 }], { isFinal });
    setTimeout(() => {
      if (this.onstart) this.onstart(new Event('start'));
      if (this.onresult) this.onresult({ resultIndex: 0, results: [result('hello from', false)] });
      if (this.onresult) this.onresult({ resultIndex: 0, results: [result('hello from the microphone', true)] });
    }, 0);
  }
  stop() {
    window.speechLog.stops += 1;
    setTimeout(() => { if (this.onend) this.onend(new Event('end')); }, 0);
  }
  abort() { this.stop(); }
};
"#;

async fn speech_log(browser: &Browser) -> (u64, u64) {
    let log = browser.script("return window.speechLog").await;
    (
        log["starts"].as_u64().unwrap(),
        log["stops"].as_u64().unwrap(),
    )
}

async fn pressed(browser: &Browser) -> String {
    let value = browser
        .script(
            "return document.querySelector('[data-testid=dictate]').getAttribute('aria-pressed')",
        )
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

async fn until_draft_is(browser: &Browser, text: &str) {
    browser
        .wait_until(
            &format!("the message box to read {text:?}"),
            &format!(
                "return document.querySelector('[data-testid=composer-input]').value === {text:?}"
            ),
            vec![],
        )
        .await;
}

async fn until_not_listening(browser: &Browser) {
    browser.wait_until(
        "dictation to stop",
        "return document.querySelector('[data-testid=dictate]').getAttribute('aria-pressed') === 'false'",
        vec![]
    )
    .await;
}

async fn press_escape(browser: &Browser) {
    let focused = browser.client.active_element().await.unwrap();
    focused.send_keys(&Key::Escape.to_string()).await.unwrap();
}

/// The number of messages stored in `stream` (none exist before the first).
async fn stored_messages(server: &Server, stream: &str) -> usize {
    let response = reqwest::get(server.url(&format!("/messages?stream={stream}&limit=1024")))
        .await
        .unwrap();
    if response.status() == 404 {
        return 0;
    }
    let messages: Vec<Value> = response.json().await.unwrap();
    messages.len()
}

#[tokio::test]
async fn the_microphone_button_is_hidden_where_the_browser_has_no_speech_recognition() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.before_every_page(NO_RECOGNITION).await;
    browser.goto(&server.url("/#no-mic")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    browser.wait_for("[data-testid=send]").await;
    assert_eq!(browser.count("[data-testid=dictate]").await, 0);
    browser.close().await;
}

#[tokio::test]
async fn dictation_explains_where_the_audio_goes_first_then_only_fills_the_message_box() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.before_every_page(STUB_RECOGNITION).await;
    browser.goto(&server.url("/#dictation")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    assert_eq!(pressed(&browser).await, "false");

    // The first use explains; declining starts nothing.
    browser.click("[data-testid=dictate]").await;
    let explanation = browser
        .client
        .get_alert_text()
        .await
        .expect("an explanation first");
    assert!(
        explanation.contains("Google") && explanation.contains("audio"),
        "{explanation}"
    );
    browser.client.dismiss_alert().await.unwrap();
    assert_eq!(speech_log(&browser).await, (0, 0));
    assert_eq!(pressed(&browser).await, "false");

    // Agreeing starts it; the words land in the message box.
    browser.click("[data-testid=dictate]").await;
    browser.client.accept_alert().await.unwrap();
    until_draft_is(&browser, HEARD).await;
    assert_eq!(pressed(&browser).await, "true");
    press_escape(&browser).await;
    until_not_listening(&browser).await;
    assert_eq!(speech_log(&browser).await, (1, 1));

    // Agreed once on this device: not asked again; a second click stops.
    browser.fill("[data-testid=composer-input]", "Typed.").await;
    browser.click("[data-testid=dictate]").await;
    until_draft_is(&browser, &format!("Typed. {HEARD}")).await;
    browser.click("[data-testid=dictate]").await;
    until_not_listening(&browser).await;
    assert_eq!(speech_log(&browser).await, (2, 2));

    // Sending (or typing) while it listens stops it: words heard after
    // that do not bring the sent text back.
    browser.fill("[data-testid=composer-input]", "").await;
    browser.click("[data-testid=dictate]").await;
    until_draft_is(&browser, HEARD).await;
    browser.fill("[data-testid=composer-input]", "").await;
    browser
        .script(
            "window.speechLog.current.onresult({ resultIndex: 0, results: \
             [Object.assign([{ transcript: 'heard late' }], { isFinal: true })] })",
        )
        .await;
    until_not_listening(&browser).await;
    assert_eq!(
        browser.value_of("[data-testid=composer-input]").await,
        "",
        "words heard late stay out of the box"
    );
    assert_eq!(speech_log(&browser).await, (3, 3));

    assert_eq!(
        stored_messages(&server, "dictation").await,
        0,
        "nothing is sent before Send"
    );
    browser.close().await;
}

#[tokio::test]
async fn in_an_encrypted_stream_dictation_asks_before_each_use() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.before_every_page(STUB_RECOGNITION).await;
    browser.goto(&server.url("/")).await;
    browser.fill("[data-testid=create-name]", "hushed").await;
    browser
        .fill("[data-testid=create-passphrase]", "speak softly")
        .await;
    browser.click("[data-testid=create-submit]").await;
    browser.wait_for("[data-testid=composer-input]").await;

    for round in 1..=2 {
        browser.click("[data-testid=dictate]").await;
        let warning = browser
            .client
            .get_alert_text()
            .await
            .unwrap_or_else(|_| panic!("asked before use {round}"));
        assert!(
            warning.contains("end-to-end encrypted") && warning.contains("Google"),
            "{warning}"
        );
        browser.client.accept_alert().await.unwrap();
        until_draft_is(&browser, HEARD).await;
        press_escape(&browser).await;
        until_not_listening(&browser).await;
        assert_eq!(speech_log(&browser).await, (round, round));
        browser.fill("[data-testid=composer-input]", "").await;
    }
    // Declining the third time starts nothing.
    browser.click("[data-testid=dictate]").await;
    browser.client.dismiss_alert().await.unwrap();
    assert_eq!(speech_log(&browser).await, (2, 2));
    assert_eq!(pressed(&browser).await, "false");
    assert_eq!(stored_messages(&server, "hushed").await, 0);
    browser.close().await;
}
