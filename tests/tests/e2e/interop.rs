//! The terminal client and the web app in real Chromium on one encrypted
//! stream: what one sends, the other decrypts.
//!
//! The browser opens links of the form `#stream/secret` (no pin), which the
//! app reads with or without pinned links.

use serde_json::Value;

use crate::process::Server;
use crate::terminal::{malten, Running};
use crate::webdriver::Browser;

#[tokio::test]
async fn the_cli_and_the_web_app_read_each_others_encrypted_messages() {
    let server = Server::start(&[]).await;
    let run = malten(&["new", "--server", &server.base_url], &[], "").await;
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    let secret_link = lines[1].to_owned();
    let (unpinned, _) = secret_link.rsplit_once('!').unwrap();
    let fragment = unpinned.split_once('#').unwrap().1.to_owned();

    let browser = Browser::start().await;
    browser.goto(&server.url(&format!("/#{fragment}"))).await;
    browser.wait_for("[data-testid=composer-input]").await;

    malten(
        &[
            "send",
            &secret_link,
            "--nick",
            "terminal",
            "sealed in a shell",
        ],
        &[],
        "",
    )
    .await
    .ok();
    browser.wait_for_message("sealed in a shell").await;
    assert!(browser
        .text_of("[data-testid=nick]")
        .await
        .contains("terminal"));

    let mut follow = Running::spawn(&["follow", &secret_link, "--new", "--json"], &[]);
    // `--new`: only what comes after it subscribed, which it has once the
    // server counts a second observer (the browser is the first).
    let stream = fragment.split('/').next().unwrap().to_owned();
    wait_for_observers(&server, &stream, 2).await;
    browser.fill("[data-testid=nick-input]", "browser").await;
    browser.send_message("typed in Chromium").await;
    let line: Value = serde_json::from_str(&follow.next_line().await).unwrap();
    assert_eq!(line["text"], "typed in Chromium");
    assert_eq!(line["nick"], "browser");
    assert_eq!(line["encrypted"], true);
    follow.child.kill().await.unwrap();

    browser.assert_no_console_errors().await;
    browser.close().await;
}

async fn wait_for_observers(server: &Server, stream: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + crate::terminal::DEADLINE;
    loop {
        let info: Value = reqwest::get(server.url(&format!("/streams/{stream}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["observers"].as_u64() >= Some(want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "observers: {info}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
