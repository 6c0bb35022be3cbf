//! Downgrade by squatting, in Chromium: a link (or this device's memory)
//! says what the stream must be, and the app refuses a stream that is not
//! that one: it shows a warning, decrypts nothing, shows nothing, and sends
//! nothing, even when the form is submitted behind the disabled button.
//! Every check of "nothing was sent" asks the server.

use malten_shared::crypto::{derive_key, EncryptionParams, KdfParams};
use malten_shared::link::{fingerprint, Link};
use serde_json::Value;

use crate::process::Server;
use crate::webdriver::{Browser, DEADLINE};

/// What the server holds in `stream`, oldest first (plain texts, or
/// envelopes).
async fn stored(server: &Server, stream: &str) -> Vec<String> {
    let page: Vec<Value> =
        reqwest::get(server.url(&format!("/messages?stream={stream}&limit=1024")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    page.iter()
        .rev()
        .map(|m| {
            m.get("text")
                .or(m.get("envelope"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn stream_info(server: &Server, stream: &str) -> Option<Value> {
    let response = reqwest::get(server.url(&format!("/streams/{stream}")))
        .await
        .unwrap();
    match response.status().as_u16() {
        404 => None,
        200 => Some(response.json().await.unwrap()),
        status => panic!("GET /streams/{stream}: {status}"),
    }
}

async fn post_form(server: &Server, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn post_plain(server: &Server, stream: &str, text: &str) {
    let response = post_form(
        server,
        "/messages",
        &[("stream", stream), ("message", text)],
    )
    .await;
    assert!(response.status().is_success(), "{}", response.status());
}

/// Creates `stream` (kept ten minutes), plain or encrypted with
/// `passphrase` and a fresh salt, as anyone can once the name is free.
async fn create(
    server: &Server,
    stream: &str,
    passphrase: Option<&str>,
) -> Option<EncryptionParams> {
    let mut form = vec![("stream", stream.to_owned()), ("ttl", "600".to_owned())];
    let params = passphrase.map(|passphrase| {
        let kdf = KdfParams::generate().unwrap();
        let key = derive_key(passphrase, &kdf).unwrap();
        EncryptionParams::new(&kdf, &key).unwrap()
    });
    if let Some(params) = &params {
        form.extend([
            ("encrypted", "true".to_owned()),
            ("salt", params.salt.clone()),
            ("iterations", params.iterations.to_string()),
            ("check", params.check.clone()),
        ]);
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_form(server, "/streams", &form).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    params
}

/// Leaves a stream's page for the explore page, which ends its live
/// connection (an observer keeps a stream from expiring).
async fn leave(browser: &Browser, server: &Server) {
    browser.goto(&server.url("/#")).await;
    browser.wait_for("[data-testid=create-form]").await;
}

/// Polls until the idle stream has expired (the sweeper runs every second).
async fn wait_until_gone(server: &Server, stream: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while let Some(info) = stream_info(server, stream).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stream} never expired: {info}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Creates an encrypted stream through the app's form with a one-second
/// TTL, waits until the page is open, and returns its share links
/// (with and without the passphrase).
async fn create_in_app(
    browser: &Browser,
    server: &Server,
    name: &str,
    passphrase: &str,
) -> (String, String) {
    browser.goto(&server.url("/")).await;
    browser.fill("[data-testid=create-name]", name).await;
    browser
        .fill("[data-testid=create-passphrase]", passphrase)
        .await;
    browser.fill("[data-testid=create-ttl]", "1").await;
    browser.click("[data-testid=create-submit]").await;
    browser.wait_for("[data-testid=composer-input]").await;
    (
        browser.value_of("[data-testid=share-secret-link]").await,
        browser.value_of("[data-testid=share-link]").await,
    )
}

/// Opens `url` and checks the page refuses the stream: the warning says
/// `why`, no passphrase is asked, nothing is shown, the composer is
/// disabled, and a submit behind the disabled button is refused by the send
/// path itself.
async fn assert_refused(browser: &Browser, url: &str, why: &str) {
    // A new document each time, so nothing is read off the previous page.
    browser.goto("about:blank").await;
    browser.goto(url).await;
    browser
        .wait_for_text("[data-testid=pin-warning]", why)
        .await;
    assert_eq!(browser.count("[data-testid=passphrase-form]").await, 0);
    assert_eq!(browser.count("[data-testid=message]").await, 0);
    assert_eq!(
        browser.count("[data-testid=share]").await,
        0,
        "no links pinned to it"
    );
    let disabled = browser
        .script(
            "return document.querySelector('[data-testid=composer-input]').disabled && \
             document.querySelector('[data-testid=send]').disabled",
        )
        .await;
    assert_eq!(disabled, true, "the composer is disabled");
    browser
        .fill(
            "[data-testid=composer-input]",
            "must never leave the browser",
        )
        .await;
    browser
        .script("document.querySelector('[data-testid=composer]').requestSubmit()")
        .await;
    browser.wait_for_text("[data-testid=send-error]", why).await;
}

#[tokio::test]
async fn a_squatted_name_is_refused_and_nothing_is_posted_to_it() {
    let server = Server::start(&[]).await;
    // The squatter is first: a plain post makes `room` a plain stream.
    post_plain(&server, "room", "squatter was here").await;

    // The app's own encrypted create of `room` is refused by the server,
    // and the app says so and sends nothing instead.
    let browser = Browser::start().await;
    browser.goto(&server.url("/")).await;
    browser.fill("[data-testid=create-name]", "room").await;
    browser
        .fill("[data-testid=create-passphrase]", "tulip anchor violet")
        .await;
    browser.click("[data-testid=create-submit]").await;
    browser
        .wait_for_text("[data-testid=create-error]", "nothing was sent")
        .await;
    assert_eq!(browser.count("[data-testid=composer-input]").await, 0);

    // A pinned link (with or without its passphrase) and a link made before
    // pins (a secret, so some encrypted stream) all refuse the plain stream.
    let kdf = KdfParams::generate().unwrap();
    let params =
        EncryptionParams::new(&kdf, &derive_key("tulip anchor violet", &kdf).unwrap()).unwrap();
    let fp = fingerprint(&params);
    for fragment in [
        format!("#room/tulip%20anchor%20violet!e{fp}"),
        format!("#room!e{fp}"),
        "#room/tulip%20anchor%20violet".to_owned(),
    ] {
        assert_refused(&browser, &server.url(&format!("/{fragment}")), "plain text").await;
    }
    assert_eq!(stored(&server, "room").await, ["squatter was here"]);
    // The browser logs the refused create (409); the app logs nothing.
    let errors = browser.console_errors().await;
    assert!(
        errors
            .iter()
            .all(|e| e.contains("/streams - Failed to load resource") && e.contains("409")),
        "{errors:#?}"
    );
    browser.close().await;
}

#[tokio::test]
async fn an_expired_private_stream_made_again_plain_or_with_another_salt_is_refused() {
    let server = Server::start(&["--min-ttl", "1"]).await;
    let creator = Browser::start().await;
    let mut links = Vec::new();
    for name in ["vault-a", "vault-b"] {
        let (secret_link, link) =
            create_in_app(&creator, &server, name, "tulip anchor violet").await;
        assert!(
            secret_link.contains("!e") && link.contains("!e"),
            "{secret_link} {link}"
        );
        links.push([secret_link, link]);
        // Leaving the page lets the idle stream expire.
        leave(&creator, &server).await;
    }
    wait_until_gone(&server, "vault-a").await;
    wait_until_gone(&server, "vault-b").await;

    // Gone: a post would make it again as plain text, so nothing is sent.
    let guest = Browser::start().await;
    assert_refused(&guest, &links[0][0], "no longer exists").await;
    assert!(stream_info(&server, "vault-a").await.is_none());

    // Someone who knows the name makes it again as plain text...
    create(&server, "vault-a", None).await;
    post_plain(&server, "vault-a", "squatter was here").await;
    // ... or encrypted with their own passphrase.
    create(&server, "vault-b", Some("the squatter's own")).await;
    for url in &links[0] {
        assert_refused(&guest, url, "plain text").await;
    }
    for url in &links[1] {
        assert_refused(&guest, url, "is not the one the link was made for").await;
    }
    assert_eq!(stored(&server, "vault-a").await, ["squatter was here"]);
    assert!(stored(&server, "vault-b").await.is_empty());
    tokio::join!(creator.close(), guest.close());
}

#[tokio::test]
async fn a_stream_made_again_with_the_same_passphrase_and_another_salt_is_refused() {
    let server = Server::start(&["--min-ttl", "1"]).await;
    let creator = Browser::start().await;
    let (secret_link, _) = create_in_app(&creator, &server, "club", "tulip anchor violet").await;
    leave(&creator, &server).await;
    wait_until_gone(&server, "club").await;
    // The passphrase alone would open it: the key check passes.
    let params = create(&server, "club", Some("tulip anchor violet"))
        .await
        .unwrap();
    assert!(!secret_link.ends_with(&fingerprint(&params)));

    let guest = Browser::start().await;
    assert_refused(&guest, &secret_link, "is not the one the link was made for").await;
    assert!(stored(&server, "club").await.is_empty());

    // A bare link in the creator's tab is checked against the pin this tab
    // kept with the passphrase (trust on first use); it can be forgotten.
    assert_refused(
        &creator,
        &server.url("/#club"),
        "is not the one the link was made for",
    )
    .await;
    creator.click("[data-testid=pin-forget]").await;
    creator.wait_for("[data-testid=passphrase-form]").await;
    assert!(stored(&server, "club").await.is_empty());
    tokio::join!(creator.close(), guest.close());
}

#[tokio::test]
async fn a_pinned_link_to_the_right_stream_opens_decrypts_and_posts() {
    let server = Server::start(&[]).await;
    let creator = Browser::start().await;
    creator.goto(&server.url("/")).await;
    creator.click("[data-testid=new-private]").await;
    creator.wait_for("[data-testid=composer-input]").await;
    creator.send_message("for link holders only").await;
    let secret_link = creator.value_of("[data-testid=share-secret-link]").await;
    let (base, link) = Link::parse_url(&secret_link).unwrap();
    assert_eq!(base, server.base_url);
    let info = stream_info(&server, link.stream.as_str()).await.unwrap();
    let params: EncryptionParams = serde_json::from_value(info["encryption"].clone()).unwrap();
    assert_eq!(
        link,
        Link::pinned(
            &serde_json::from_value(info).unwrap(),
            link.secret.as_deref()
        )
    );
    assert!(secret_link.ends_with(&format!("!e{}", fingerprint(&params))));
    // The creator's own address bar carries the pin, not the passphrase.
    let own = creator.client.current_url().await.unwrap();
    assert_eq!(own.fragment(), Some(&link.without_secret().fragment()[1..]));

    let guest = Browser::start().await;
    guest.goto(&secret_link).await;
    guest.wait_for_message("for link holders only").await;
    assert_eq!(guest.count("[data-testid=pin-warning]").await, 0);
    guest.send_message("and back, still sealed").await;
    creator.wait_for_message("and back, still sealed").await;
    let held = stored(&server, link.stream.as_str()).await;
    assert_eq!(held.len(), 2);
    assert!(held
        .iter()
        .all(|m| !m.contains("sealed") && !m.contains("link holders")));
    tokio::join!(creator.close(), guest.close());
}
