//! Screenshots of the main screens at phone and desktop sizes, for people
//! reviewing the app: `cargo test -p malten-tests --test e2e -- --ignored
//! screenshots`, then look in `target/screenshots/`.

use std::path::Path;

use crate::process::Server;
use crate::webdriver::Browser;

#[tokio::test]
#[ignore = "writes PNG files for people to look at; run on demand"]
async fn screenshots() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    for (label, width, height) in [("phone", 390, 844), ("desktop", 1200, 900)] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&server.url("/")).await;
        browser.wait_for("[data-testid=create-form]").await;
        browser
            .save_screenshot(&out.join(format!("explore-{label}.png")))
            .await;

        let stream = format!("shots-{label}");
        browser.fill("[data-testid=create-name]", &stream).await;
        browser
            .fill("[data-testid=create-passphrase]", "screenshot passphrase")
            .await;
        browser.click("[data-testid=create-submit]").await;
        browser.wait_for("[data-testid=composer-input]").await;
        browser.fill("[data-testid=nick-input]", "ann").await;
        browser
            .send_message("Hello! This stream is end-to-end encrypted.")
            .await;
        browser
            .send_message("A link: https://example.com and a tag: #lobby")
            .await;
        browser
            .save_screenshot(&out.join(format!("stream-{label}.png")))
            .await;
    }
    browser.close().await;
}
