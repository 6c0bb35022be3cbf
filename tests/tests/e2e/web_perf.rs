//! The web app's speed in this machine's Chromium: key derivation,
//! decrypting and rendering 1024 messages, and the download size.
//!
//! A benchmark, not a test: it asserts only that the work happened and
//! prints figures. Run it with `make bench-web`.

use std::path::Path;
use std::process::Command;

use malten_shared::crypto::{
    derive_key, seal, EncryptionParams, KdfParams, Plaintext, PlaintextKind, MIN_ITERATIONS,
};
use serde_json::Value;

use crate::process::Server;
use crate::webdriver::Browser;

const PASSPHRASE: &str = "benchmark passphrase";

/// Creates an encrypted stream holding 1024 messages of `chars` characters.
async fn fill_stream(server: &Server, stream: &str, chars: usize) {
    let kdf = KdfParams::new([3; 16], MIN_ITERATIONS).unwrap();
    let key = derive_key(PASSPHRASE, &kdf).unwrap();
    let params = EncryptionParams::new(&kdf, &key).unwrap();
    let http = reqwest::Client::new();
    let iterations = params.iterations.to_string();
    let created = http
        .post(server.url("/streams"))
        .form(&[
            ("stream", stream),
            ("encrypted", "true"),
            ("salt", &params.salt),
            ("iterations", &iterations),
            ("check", &params.check),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for i in 0..1024 {
        let text: String = format!("message {i} ")
            .chars()
            .chain(std::iter::repeat('x'))
            .take(chars)
            .collect();
        let plaintext =
            Plaintext::new(text, PlaintextKind::Message, 1_700_000_000_000).with_nick("bench");
        let envelope = seal(&key, stream, &plaintext).unwrap();
        let response = http
            .post(server.url("/messages"))
            .form(&[("stream", stream), ("message", &envelope)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

/// Milliseconds of the app's own User Timing measures (see `frontend/src/perf.rs`).
struct Timings {
    derive: f64,
    decrypt: f64,
    show: f64,
}

/// Opens the stream and loads all of it.
async fn measure(browser: &Browser, server: &Server, stream: &str) -> Timings {
    browser
        .goto(&server.url(&format!("/#{stream}/{}", PASSPHRASE.replace(' ', "%20"))))
        .await;
    browser.wait_for("[data-testid=messages]").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while browser.count("[data-testid=message]").await < 1024 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never rendered 1024 messages"
        );
        if browser.count("[data-testid=load-older]").await > 0 {
            browser.click("[data-testid=load-older]").await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Let the last batch's frame pass so its measure is recorded.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let entries: Vec<Value> = serde_json::from_value(
        browser
            .script("return performance.getEntriesByType('measure').map(e => ({name: e.name, duration: e.duration}));")
            .await,
    )
    .unwrap();
    let total = |prefix: &str| -> f64 {
        entries
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with(prefix))
            .map(|e| e["duration"].as_f64().unwrap())
            .sum()
    };
    Timings {
        derive: total("malten:derive#"),
        decrypt: total("malten:decrypt:"),
        show: total("malten:show:"),
    }
}

fn gzipped_size(dir: &Path, extension: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .map(|path| {
            let out = Command::new("gzip")
                .args(["-9c"])
                .arg(&path)
                .output()
                .unwrap();
            out.stdout.len() as u64
        })
        .sum()
}

#[tokio::test]
#[ignore = "a benchmark: run it with `make bench-web`"]
async fn web_app_speed_in_chromium() {
    let server = Server::start(&["--rate-per-second", "100000", "--rate-burst", "100000"]).await;
    fill_stream(&server, "typical", 200).await;
    fill_stream(&server, "longest", 1024).await;
    let mut rows = Vec::new();
    for (stream, chars) in [("typical", 200), ("longest", 1024)] {
        // A fresh browser each time, so nothing is cached.
        let browser = Browser::start().await;
        let t = measure(&browser, &server, stream).await;
        rows.push(format!(
            "| 1024 messages of {chars} characters | {:.0} ms | {:.0} ms | {:.0} ms |",
            t.derive, t.show, t.decrypt
        ));
        browser.close().await;
    }
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let wasm = gzipped_size(&dist, "wasm");
    let js = gzipped_size(&dist, "js");
    let chromium = Command::new("chromium")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    println!(
        "\nWeb app in {chromium}, {cpu}, {} cores\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| stream | key derivation (PBKDF2, {MIN_ITERATIONS} iterations) | decrypt and render, after the key | of which decryption |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nDownload: wasm {:.1} KB + JS {:.1} KB gzipped = {:.1} KB\n",
        wasm as f64 / 1024.0,
        js as f64 / 1024.0,
        (wasm + js) as f64 / 1024.0
    );
    assert!(wasm > 0 && js > 0, "the app is built");
}
