//! LLM commands from the web app, against the local OpenAI-compatible stub.

use malten_tests::llm_stub::LlmStub;
use serde_json::Value;

use crate::process::Server;
use crate::webdriver::Browser;

async fn server_with(stub: &LlmStub) -> Server {
    Server::start(&["--llm-base-url", &stub.base_url]).await
}

async fn stored(server: &Server, stream: &str) -> (String, Vec<Value>) {
    let raw =
        reqwest::get(server.url(&format!("/messages?stream={stream}&direction=1&limit=1024")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let parsed = serde_json::from_str(&raw).unwrap();
    (raw, parsed)
}

#[tokio::test]
async fn ai_in_a_plain_stream_stores_the_prompt_and_the_reply_for_everyone() {
    let stub = LlmStub::replying(&["Four", "."]).await;
    let server = server_with(&stub).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#ask")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    browser
        .fill("[data-testid=composer-input]", "/ai what is 2+2?")
        .await;
    browser.click("[data-testid=send]").await;
    browser.wait_for_message("Four.").await;
    browser.wait_for_message("what is 2+2?").await;
    let (_, messages) = stored(&server, "ask").await;
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["command", "reply"]);
    let reply_row = browser
        .script("return [...document.querySelectorAll('[data-testid=message]')].find(e => e.textContent.includes('Four.')).textContent")
        .await;
    assert!(
        reply_row.as_str().unwrap().contains("LLM"),
        "labelled as sent to an LLM: {reply_row}"
    );
    browser.close().await;
}

#[tokio::test]
async fn ai_in_an_encrypted_stream_asks_first_then_posts_prompt_and_reply_encrypted() {
    let stub = LlmStub::replying(&["Summary: ", "all quiet."]).await;
    let server = server_with(&stub).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/")).await;
    browser.fill("[data-testid=create-name]", "e2e-ask").await;
    browser
        .fill("[data-testid=create-passphrase]", "ask carefully")
        .await;
    browser.click("[data-testid=create-submit]").await;
    browser.wait_for("[data-testid=composer-input]").await;

    // Declining the warning sends nothing anywhere.
    browser
        .fill("[data-testid=composer-input]", "/ai summarise please")
        .await;
    browser.click("[data-testid=send]").await;
    let warning = browser
        .client
        .get_alert_text()
        .await
        .expect("a confirmation dialog");
    assert!(
        warning.contains("leave the end-to-end encryption"),
        "{warning}"
    );
    browser.client.dismiss_alert().await.unwrap();
    assert!(stub.requests().is_empty());

    browser.click("[data-testid=send]").await;
    browser.client.accept_alert().await.unwrap();
    browser.wait_for_message("Summary: all quiet.").await;
    browser.wait_for_message("summarise please").await;
    assert_eq!(
        stub.requests().len(),
        1,
        "the prompt went to the model once"
    );

    let (raw, messages) = stored(&server, "e2e-ask").await;
    assert_eq!(messages.len(), 2, "prompt and reply, posted by the browser");
    assert!(messages
        .iter()
        .all(|m| m["envelope"].is_string() && m.get("text").is_none()));
    assert!(
        !raw.contains("summarise") && !raw.contains("all quiet"),
        "stored encrypted: {raw}"
    );
    browser.close().await;
}

#[tokio::test]
async fn without_an_llm_the_app_says_commands_are_unavailable_and_posts_nothing() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#nollm")).await;
    browser.wait_for("[data-testid=llm-unavailable]").await;
    browser
        .fill("[data-testid=composer-input]", "/ai hello?")
        .await;
    browser.click("[data-testid=send]").await;
    let error = browser.text_of("[data-testid=send-error]").await;
    assert!(error.contains("unavailable"), "{error}");
    let (_, messages) = stored(&server, "nollm").await;
    assert!(messages.is_empty());
    browser.close().await;
}
