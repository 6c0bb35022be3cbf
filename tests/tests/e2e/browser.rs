//! The web app in real headless Chromium.

use crate::process::Server;
use crate::webdriver::Browser;

#[tokio::test]
async fn the_app_loads_renders_the_public_streams_and_logs_no_errors() {
    let server = Server::start(&[]).await;
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/streams"))
        .form(&[("stream", "browser-lobby"), ("private", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    // Rendered by the WASM app, so seeing it proves the module ran.
    assert_eq!(
        browser.text_of("[data-testid=product-name]").await,
        "Malten"
    );
    let row = browser.text_of("[data-testid=stream-row]").await;
    assert!(row.contains("browser-lobby"), "{row}");
    assert!(row.contains("0 messages"), "{row}");
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    browser.close().await;
}
