//! The web app in real Chromium as one end of a secure pipe, `malten pipe`
//! as the other: a two-party chat, text both ways, both ends finishing
//! verified; more chunks than the send window, acknowledged and shown
//! whole; data that is not text counted; a third end refused; a chunk out
//! of sequence shown as an error, never as data.

use tokio::io::AsyncWriteExt;

use std::process::Stdio;

use crate::pipe::{fast_server, forge, new_pipe, stream_of, wait_for_observers};
use crate::process::Server;
use crate::terminal::{client, Running, DEADLINE};
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

/// More chunks than a sender may have unacknowledged (256), cut inside
/// characters: the sender only finishes if the app acknowledges as it
/// reads and verifies the final digest, and the app shows every line whole.
#[tokio::test]
async fn a_long_text_sent_with_pipe_send_arrives_whole_and_acknowledged() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let browser = Browser::start().await;
    open_in_browser(&server, &browser, &link).await;
    wait_for_observers(&server, &stream, 1).await;

    // 300 lines of 801 bytes: 321 chunks of 750 bytes, many of them
    // ending inside a two-byte "ä".
    let line = "ä".repeat(400);
    let input = format!("{line}\n").repeat(300);
    let dir = std::env::temp_dir().join(format!("malten-pipe-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.txt");
    std::fs::write(&path, &input).unwrap();
    let sender = client(&["pipe", "--send", &link], &[])
        .stdin(std::fs::File::open(&path).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(DEADLINE * 4, sender.wait_with_output())
        .await
        .expect("the sender finishes: the app acknowledged and verified")
        .unwrap();
    assert!(
        output.status.success(),
        "{}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    browser
        .wait_for_text(
            "[data-testid=messages]",
            "The other end has finished sending",
        )
        .await;
    let texts = browser.message_texts().await;
    assert_eq!(texts.len(), 300);
    assert!(texts.iter().all(|text| *text == line));
    assert_eq!(browser.count("[data-testid=pipe-error]").await, 0);
    browser.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn data_that_is_not_text_is_shown_as_a_byte_count_never_as_garbage() {
    let server = Server::start(&[]).await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let browser = Browser::start().await;
    open_in_browser(&server, &browser, &link).await;
    wait_for_observers(&server, &stream, 1).await;
    // "ok\n", then the bytes ff fe fd and "abc".
    forge(
        &server,
        &link,
        &[
            "d peer 1 b2sK".into(),
            "d peer 2 __79".into(),
            "d peer 3 YWJj".into(),
        ],
    )
    .await;
    browser.wait_for_message("binary data, 6 bytes").await;
    assert_eq!(
        browser.message_texts().await,
        ["ok", "binary data, 6 bytes"]
    );
    assert_eq!(browser.count("[data-testid=pipe-error]").await, 0);
    browser.close().await;
}
