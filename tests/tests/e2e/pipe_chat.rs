//! The web app in real Chromium as one end of a secure pipe, `malten pipe`
//! as the other: a two-party chat, text both ways, both ends finishing
//! verified; a third end refused; a chunk out of sequence shown as an
//! error, never as data.

use tokio::io::AsyncWriteExt;

use crate::pipe::{forge, new_pipe, stream_of, wait_for_observers};
use crate::process::Server;
use crate::terminal::{Running, DEADLINE};
use crate::webdriver::Browser;

/// Opens the pipe `link` in `browser` and waits until it is joined.
async fn open_in_browser(server: &Server, browser: &Browser, link: &str) {
    let fragment = link.split_once('#').unwrap().1;
    browser.goto(&server.url(&format!("/#{fragment}"))).await;
    browser.wait_for("[data-testid=pipe-label]").await;
}

#[tokio::test]
async fn the_web_app_chats_with_malten_pipe_both_ways() {
    let server = Server::start(&[]).await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let browser = Browser::start().await;
    open_in_browser(&server, &browser, &link).await;
    assert!(browser
        .text_of("[data-testid=pipe-label]")
        .await
        .contains("between exactly two ends"));
    wait_for_observers(&server, &stream, 1).await;

    let mut cli = Running::spawn(&["pipe", &link], &[]);
    browser
        .wait_for_text("[data-testid=pipe-peer]", "The other end is connected")
        .await;
    let mut stdin = cli.stdin.take().unwrap();
    stdin
        .write_all("from the terminal, ünïcode ✓\n".as_bytes())
        .await
        .unwrap();
    browser
        .wait_for_message("from the terminal, ünïcode ✓")
        .await;

    browser
        .send_message("typed in Chromium <b>not bold</b>")
        .await;
    assert_eq!(cli.next_line().await, "typed in Chromium <b>not bold</b>");
    assert_eq!(browser.count("[data-testid=messages] b").await, 0);

    // The terminal's input ends: it sends its count and digest, which the
    // app verifies and confirms; the app finishes too, and the terminal
    // exits 0 once it verified the app's data.
    drop(stdin);
    browser
        .wait_for_text(
            "[data-testid=messages]",
            "The other end has finished sending",
        )
        .await;
    browser.click("[data-testid=pipe-finish]").await;
    let status = tokio::time::timeout(DEADLINE, cli.child.wait())
        .await
        .expect("the terminal end exits")
        .unwrap();
    assert!(status.success(), "{status}; stderr: {}", cli.stderr());
    browser
        .wait_for_text(
            "[data-testid=messages]",
            "The other end has everything you sent",
        )
        .await;
    assert_eq!(browser.count("[data-testid=pipe-error]").await, 0);
    browser.assert_no_console_errors().await;
    browser.close().await;
}

#[tokio::test]
async fn a_browser_that_would_be_a_third_end_is_told_the_pipe_is_full() {
    let server = Server::start(&[]).await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let first = Running::spawn(&["pipe", &link], &[]);
    let second = Running::spawn(&["pipe", &link], &[]);
    wait_for_observers(&server, &stream, 2).await;
    let browser = Browser::start().await;
    open_in_browser(&server, &browser, &link).await;
    browser
        .wait_for_text("[data-testid=pipe-error]", "pipe_full")
        .await;
    assert_eq!(browser.count("[data-testid=composer]").await, 0);
    browser.close().await;
    drop((first, second));
}

#[tokio::test]
async fn a_chunk_out_of_sequence_is_an_error_never_data() {
    let server = Server::start(&[]).await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let browser = Browser::start().await;
    open_in_browser(&server, &browser, &link).await;
    wait_for_observers(&server, &stream, 1).await;
    // "abc", then chunk 3 where 2 was due.
    forge(
        &server,
        &link,
        &["d peer 1 YWJj".into(), "d peer 3 ZGVm".into()],
    )
    .await;
    browser
        .wait_for_text("[data-testid=pipe-error]", "lost or reordered")
        .await;
    assert_eq!(browser.message_texts().await, ["abc"]);
    browser.close().await;
}
