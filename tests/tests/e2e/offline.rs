//! The installable, offline shell: the web app manifest and the service
//! worker load; with the server stopped the shell still opens (from the
//! worker's cache) and says it is offline; when a server answers again on
//! the same address the app reconnects by itself; no request ever goes
//! anywhere but the server that served the app; and the browser's own
//! "no network" shows as well.

use serde_json::{json, Value};

use crate::process::Server;
use crate::webdriver::Browser;

/// Waits until the page's service worker is activated and controls the
/// page, and returns the worker's script URL.
async fn service_worker_in_control(browser: &Browser) -> String {
    let script = "const done = arguments[arguments.length - 1];\
        if (!('serviceWorker' in navigator)) { done('no service worker support'); return; }\
        navigator.serviceWorker.ready.then(registration => {\
            const ready = () => done(registration.active.scriptURL);\
            if (navigator.serviceWorker.controller) ready();\
            else navigator.serviceWorker.addEventListener('controllerchange', ready);\
        });\
        setTimeout(() => done('no service worker in control'), 15000);";
    let url = browser
        .client
        .execute_async(script, vec![])
        .await
        .expect("the script runs");
    url.as_str().unwrap_or_default().to_owned()
}

/// What the worker's caches hold, as URLs.
async fn cached_urls(browser: &Browser) -> Vec<String> {
    let script = "const done = arguments[arguments.length - 1];\
        (async () => {\
            const urls = [];\
            for (const name of await caches.keys()) {\
                const cache = await caches.open(name);\
                for (const request of await cache.keys()) urls.push(request.url);\
            }\
            return urls;\
        })().then(done, err => done(['error: ' + err]));";
    let urls = browser.client.execute_async(script, vec![]).await.unwrap();
    serde_json::from_value(urls).unwrap()
}

#[tokio::test]
async fn the_manifest_and_the_service_worker_load_and_the_app_is_installable() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/")).await;
    browser.wait_for("[data-testid=product-name]").await;
    assert_eq!(
        service_worker_in_control(&browser).await,
        server.url("/sw.js")
    );

    let manifest_url = browser
        .script(
            "const link = document.querySelector('link[rel=manifest]'); return link && link.href",
        )
        .await;
    assert_eq!(manifest_url, json!(server.url("/manifest.webmanifest")));
    let manifest: Value = reqwest::get(server.url("/manifest.webmanifest"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["name"], "Malten");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    for icon in manifest["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().unwrap();
        let response = reqwest::get(server.url(src)).await.unwrap();
        assert_eq!(response.status(), 200, "{src}");
        assert_eq!(
            response.headers()["content-type"],
            icon["type"].as_str().unwrap(),
            "{src}"
        );
    }
    // Chromium's own verdict on the manifest and on installability.
    let parsed = browser.cdp("Page.getAppManifest", json!({})).await;
    assert_eq!(parsed["errors"], json!([]), "{parsed}");
    let installable = browser.cdp("Page.getInstallabilityErrors", json!({})).await;
    assert_eq!(
        installable["installabilityErrors"],
        json!([]),
        "{installable}"
    );
    browser.assert_no_console_errors().await;
    browser.close().await;
}

#[tokio::test]
async fn with_the_server_stopped_the_shell_opens_offline_and_reconnects_by_itself() {
    let mut server = Server::start(&[]).await;
    let origin = server.base_url.clone();
    let address = origin.trim_start_matches("http://").to_owned();
    let browser = Browser::start_logging_network().await;
    browser.goto(&server.url("/#offline-room")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    assert_eq!(
        service_worker_in_control(&browser).await,
        server.url("/sw.js")
    );
    assert_eq!(browser.count("[data-testid=offline]").await, 0);

    server.child.kill().await.unwrap();
    browser.script("location.reload()").await;
    // The shell came from the worker's cache: the app runs and says why
    // there is nothing to show.
    browser.wait_for("[data-testid=offline]").await;
    browser.wait_for("[data-testid=product-name]").await;
    let offline = browser.text_of("[data-testid=offline]").await;
    assert!(offline.contains("Offline"), "{offline}");

    // A server on the same address again: the app notices by itself.
    let server = Server::start_at(&address, &[]).await;
    assert_eq!(server.base_url, origin, "the same address");
    browser.wait_for("[data-testid=composer-input]").await;
    browser
        .wait_until(
            "the offline notice to go",
            "return document.querySelector('[data-testid=offline]') === null",
            vec![],
        )
        .await;
    let posted = reqwest::Client::new()
        .post(server.url("/messages"))
        .form(&[("stream", "offline-room"), ("message", "back online")])
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    browser.wait_for_message("back online").await;

    // The worker keeps the app's files, never what the API answered.
    let cached = cached_urls(&browser).await;
    assert!(
        cached.contains(&server.url("/")),
        "the shell is cached: {cached:?}"
    );
    assert!(
        cached.iter().any(|url| url.ends_with(".wasm")),
        "{cached:?}"
    );
    for url in &cached {
        let path = url.strip_prefix(&origin).unwrap_or_else(|| {
            panic!("a cached URL of another origin: {url}");
        });
        for api in [
            "/messages",
            "/events",
            "/streams",
            "/commands",
            "/ws",
            "/v1",
            "/healthz",
        ] {
            assert!(!path.starts_with(api), "an API answer is cached: {url}");
        }
    }

    // Every request over the network went to the app's own server (the
    // log also holds the browser's own `chrome://` pages from before the
    // first navigation).
    let requested = browser.requested_urls().await;
    assert!(
        requested.iter().any(|url| url.ends_with(".wasm")),
        "the network log works: {requested:?}"
    );
    let elsewhere: Vec<&String> = requested
        .iter()
        .filter(|url| {
            ["http:", "https:", "ws:", "wss:"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        })
        .filter(|url| !url.starts_with(&format!("{origin}/")))
        .collect();
    assert!(elsewhere.is_empty(), "requests elsewhere: {elsewhere:?}");
    browser.close().await;
}

#[tokio::test]
async fn the_app_says_when_the_browser_has_no_network_and_stops_saying_it_after() {
    let server = Server::start(&[]).await;
    let browser = Browser::start().await;
    browser.goto(&server.url("/#no-network")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    assert_eq!(browser.count("[data-testid=offline]").await, 0);
    // DevTools' offline mode: `navigator.onLine` turns false and the page
    // gets an `offline` event, as when a device loses its network.
    let conditions = |offline: bool| {
        json!({
            "offline": offline, "latency": 0,
            "downloadThroughput": -1, "uploadThroughput": -1,
        })
    };
    browser.cdp("Network.enable", json!({})).await;
    browser
        .cdp("Network.emulateNetworkConditions", conditions(true))
        .await;
    browser
        .wait_for_text("[data-testid=offline]", "no network")
        .await;
    browser
        .cdp("Network.emulateNetworkConditions", conditions(false))
        .await;
    browser
        .wait_until(
            "the offline notice to go",
            "return document.querySelector('[data-testid=offline]') === null",
            vec![],
        )
        .await;
    browser.close().await;
}
