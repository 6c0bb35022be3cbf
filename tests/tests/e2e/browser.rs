//! The web app in real headless Chromium: plain and encrypted streams,
//! between browsers, curl and the Rust reference implementation.

use malten_shared::crypto::{derive_key, open, seal, EncryptionParams, Plaintext, PlaintextKind};
use serde_json::Value;

use crate::process::Server;
use crate::proxy::Proxy;
use crate::webdriver::Browser;

async fn post(server: &Server, form: &[(&str, &str)], path: &str) -> Value {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn messages_raw(server: &Server, stream: &str) -> String {
    reqwest::get(server.url(&format!("/messages?stream={stream}&limit=1024")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Creates an encrypted stream through the form and returns its name.
async fn create_encrypted_stream(browser: &Browser, server: &Server, name: &str, passphrase: &str) {
    browser.goto(&server.url("/")).await;
    browser.fill("[data-testid=create-name]", name).await;
    browser
        .fill("[data-testid=create-passphrase]", passphrase)
        .await;
    browser.click("[data-testid=create-submit]").await;
    browser
        .wait_for_text("[data-testid=stream-name]", &format!("#{name}"))
        .await;
    browser.wait_for("[data-testid=composer-input]").await;
}

async fn unlock(browser: &Browser, passphrase: &str) {
    browser
        .fill("[data-testid=passphrase-input]", passphrase)
        .await;
    browser.click("[data-testid=passphrase-submit]").await;
}

#[tokio::test]
async fn the_app_loads_renders_the_public_streams_and_logs_no_errors() {
    let server = Server::start(&[]).await;
    post(
        &server,
        &[("stream", "browser-lobby"), ("private", "false")],
        "/streams",
    )
    .await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/")).await;
    // Rendered by the WASM app, so seeing it proves the module ran.
    assert_eq!(
        browser.text_of("[data-testid=product-name]").await,
        "Malten"
    );
    let row = browser.text_of("[data-testid=stream-row]").await;
    assert!(
        row.contains("browser-lobby") && row.contains("0 messages"),
        "{row}"
    );
    browser.assert_no_console_errors().await;
    browser.close().await;
}

#[tokio::test]
async fn two_browsers_sharing_a_passphrase_talk_both_ways_and_the_server_sees_only_ciphertext() {
    let server = Server::start(&[]).await;
    let (alice, bob) = tokio::join!(Browser::start(), Browser::start());
    create_encrypted_stream(&alice, &server, "secret-room", "tulip anchor violet").await;

    bob.goto(&server.url("/#secret-room")).await;
    unlock(&bob, "tulip anchor violet").await;
    bob.wait_for("[data-testid=composer-input]").await;

    alice.fill("[data-testid=nick-input]", "alice").await;
    alice.send_message("hello from alice").await;
    bob.wait_for_message("hello from alice").await;
    bob.send_message("hi alice, bob here").await;
    alice.wait_for_message("hi alice, bob here").await;
    assert_eq!(
        bob.message_texts().await,
        ["hello from alice", "hi alice, bob here"]
    );
    assert!(bob.text_of("[data-testid=nick]").await.contains("alice"));

    let raw = messages_raw(&server, "secret-room").await;
    let stored: Vec<Value> = serde_json::from_str(&raw).unwrap();
    assert_eq!(stored.len(), 2);
    for text in ["hello", "alice", "bob here"] {
        assert!(
            !raw.contains(text),
            "the server holds plaintext {text:?}: {raw}"
        );
    }
    assert!(stored
        .iter()
        .all(|m| m.get("text").is_none() && m["envelope"].is_string()));
    alice.assert_no_console_errors().await;
    bob.assert_no_console_errors().await;
    tokio::join!(alice.close(), bob.close());
}

#[tokio::test]
async fn a_wrong_passphrase_is_caught_by_the_key_check_and_nothing_is_posted() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    create_encrypted_stream(&browser, &server, "locked", "the right one").await;
    browser.send_message("only message").await;

    let stranger = Browser::start().await;
    stranger.goto(&server.url("/#locked")).await;
    unlock(&stranger, "a wrong one").await;
    let error = stranger.text_of("[data-testid=passphrase-error]").await;
    assert!(error.contains("does not open"), "{error}");
    assert!(
        stranger.count("[data-testid=composer-input]").await == 0,
        "no composer with a wrong key"
    );
    assert!(
        stranger.count("[data-testid=message]").await == 0,
        "nothing shown with a wrong key"
    );
    let stored: Vec<Value> = serde_json::from_str(&messages_raw(&server, "locked").await).unwrap();
    assert_eq!(stored.len(), 1);
    tokio::join!(browser.close(), stranger.close());
}

#[tokio::test]
async fn a_private_link_with_the_secret_opens_and_decrypts_at_once() {
    let server = Server::start(&[]).await;
    let creator = Browser::start().await;
    creator.goto(&server.url("/")).await;
    creator.click("[data-testid=new-private]").await;
    creator.wait_for("[data-testid=composer-input]").await;
    creator.send_message("for link holders only").await;
    let link = creator.value_of("[data-testid=share-secret-link]").await;
    let fragment = link.split_once('#').expect("a fragment").1.to_owned();
    let (stream, rest) = fragment.split_once('/').expect("stream/secret!pin");
    let (secret, pin) = rest.split_once('!').expect("secret!pin");
    assert_eq!(stream.len(), 22, "a random 128-bit id");
    assert!(pin.starts_with('e') && pin.len() == 17, "pinned: {pin}");
    // README: "Share" gives the link without the passphrase too, pinned.
    let plain_link = creator.value_of("[data-testid=share-link]").await;
    assert_eq!(plain_link, server.url(&format!("/#{stream}!{pin}")));
    assert!(!plain_link.contains(secret), "{plain_link}");
    // README: the stream and its messages are labelled end-to-end encrypted.
    let labels = privacy_labels(&creator).await;
    assert!(labels.len() >= 2, "the stream and its message: {labels:?}");
    assert!(
        labels.iter().all(|label| label == "End-to-end encrypted"),
        "{labels:?}"
    );

    // The link without the passphrase opens the stream but asks for it.
    let asked = Browser::start().await;
    asked.goto(&plain_link).await;
    asked.wait_for("[data-testid=passphrase-form]").await;
    assert_eq!(asked.count("[data-testid=message]").await, 0);
    asked.close().await;

    let guest = Browser::start().await;
    guest.goto(&server.url(&format!("/#{fragment}"))).await;
    guest.wait_for_message("for link holders only").await;
    assert_eq!(
        guest.count("[data-testid=passphrase-form]").await,
        0,
        "no prompt"
    );
    // The secret does not linger in the address bar; the pin does.
    let url = guest.client.current_url().await.unwrap();
    assert_eq!(url.fragment(), Some(&*format!("{stream}!{pin}")));
    tokio::join!(creator.close(), guest.close());
}

#[tokio::test]
async fn envelopes_made_by_the_rust_reference_open_in_the_browser_and_vice_versa() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    create_encrypted_stream(
        &browser,
        &server,
        "interop",
        "shared between implementations",
    )
    .await;
    browser.send_message("sealed by WebCrypto").await;

    let info: Value = reqwest::get(server.url("/streams/interop"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params: EncryptionParams = serde_json::from_value(info["encryption"].clone()).unwrap();
    let key = derive_key(
        "shared between implementations",
        &params.kdf_params().unwrap(),
    )
    .unwrap();
    assert!(
        params.verify_key(&key),
        "the browser's key check verifies in Rust"
    );
    let stored: Vec<Value> = serde_json::from_str(&messages_raw(&server, "interop").await).unwrap();
    let opened = open(&key, "interop", stored[0]["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(opened.text, "sealed by WebCrypto");

    let envelope = seal(
        &key,
        "interop",
        &Plaintext::new("sealed by Rust", PlaintextKind::Message, 1).with_nick("ferris"),
    )
    .unwrap();
    post(
        &server,
        &[("stream", "interop"), ("message", &envelope)],
        "/messages",
    )
    .await;
    browser.wait_for_message("sealed by Rust").await;
    browser.close().await;
}

#[tokio::test]
async fn a_plain_stream_works_between_curl_and_the_browser() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#curl-room")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    let curl = std::process::Command::new("curl")
        .args([
            "-sf",
            "-d",
            "stream=curl-room",
            "-d",
            "message=hello from curl",
            &server.url("/messages"),
        ])
        .output()
        .expect("curl is installed");
    assert!(curl.status.success(), "{curl:?}");
    browser.wait_for_message("hello from curl").await;
    browser.send_message("hello back from the browser").await;
    let read = std::process::Command::new("curl")
        .args(["-sf", &server.url("/messages?stream=curl-room")])
        .output()
        .unwrap();
    let page: Vec<Value> = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(page[0]["text"], "hello back from the browser");
    assert!(
        browser
            .text_of("[data-testid=message]")
            .await
            .contains("plain"),
        "labelled plain"
    );
    let labels = privacy_labels(&browser).await;
    assert!(!labels.is_empty());
    assert!(
        labels
            .iter()
            .all(|label| label == "Plain: the server can read it"),
        "{labels:?}"
    );
    browser.close().await;
}

/// The full sentence (the title) of every privacy badge on the page.
async fn privacy_labels(browser: &Browser) -> Vec<String> {
    let titles = browser
        .script(
            "return Array.from(document.querySelectorAll('[data-testid=privacy-badge]'))\
             .map(badge => badge.title)",
        )
        .await;
    titles
        .as_array()
        .expect("an array of titles")
        .iter()
        .map(|title| title.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn markup_in_messages_renders_as_inert_text() {
    let server = Server::start(&[]).await;
    let payloads = [
        r#"<img src=x onerror="document.title='pwned'">"#,
        "<script>document.title='pwned'</script>",
        r#"<a href="javascript:document.title='pwned'">click</a>"#,
        "javascript:alert(1)",
    ];
    for payload in payloads {
        post(
            &server,
            &[("stream", "xss"), ("message", payload)],
            "/messages",
        )
        .await;
    }
    let browser = Browser::start().await;
    browser.goto(&server.url("/#xss")).await;
    browser.wait_for_message(payloads[3]).await;
    assert_eq!(browser.message_texts().await, payloads);
    let injected = browser
        .script("return document.querySelectorAll('[data-testid=messages] img, [data-testid=messages] script, [data-testid=messages] a[href^=javascript]').length")
        .await;
    assert_eq!(injected, 0);
    // The stream's own title: no payload changed it.
    assert_eq!(
        browser.script("return document.title").await,
        "#xss · Malten"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_dropped_live_connection_resumes_without_loss_or_duplicates() {
    let server = Server::start(&[]).await;
    let upstream = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let via_proxy = format!("http://{}", proxy.addr);
    let browser = Browser::start().await;
    browser.goto(&format!("{via_proxy}/#resume")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    post(
        &server,
        &[("stream", "resume"), ("message", "before the drop")],
        "/messages",
    )
    .await;
    browser.wait_for_message("before the drop").await;

    let connections_before = proxy.accepted();
    proxy.cut();
    for text in ["during 1", "during 2", "during 3"] {
        post(
            &server,
            &[("stream", "resume"), ("message", text)],
            "/messages",
        )
        .await;
    }
    browser.wait_for_message("during 3").await;
    post(
        &server,
        &[("stream", "resume"), ("message", "after")],
        "/messages",
    )
    .await;
    browser.wait_for_message("after").await;
    assert!(
        proxy.accepted() > connections_before,
        "the browser reconnected"
    );
    assert_eq!(
        browser.message_texts().await,
        [
            "before the drop",
            "during 1",
            "during 2",
            "during 3",
            "after"
        ]
    );
    browser.close().await;
}

#[tokio::test]
async fn the_composer_counts_characters_like_the_server() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#counter")).await;
    browser
        .fill("[data-testid=composer-input]", "héllo 😀")
        .await;
    assert_eq!(
        browser.text_of("[data-testid=char-counter]").await,
        "7/1024"
    );
    browser
        .fill("[data-testid=composer-input]", &"é".repeat(1025))
        .await;
    assert_eq!(
        browser.text_of("[data-testid=char-counter]").await,
        "1025/1024"
    );
    assert_eq!(
        browser
            .script("return document.querySelector('[data-testid=send]').disabled")
            .await,
        true
    );
    browser.close().await;
}
