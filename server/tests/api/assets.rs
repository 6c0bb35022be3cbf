use reqwest::StatusCode;

use crate::helpers::spawn_app_with;
use crate::raw_http::get_raw;

/// The built app in `dist/`, which `make test` builds before the tests.
fn dist() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

#[tokio::test]
async fn root_serves_the_app_and_its_wasm_as_application_wasm() {
    assert!(
        dist().join("index.html").exists(),
        "the web app is not built: run `make test` (or scripts/build-frontend.sh) first"
    );
    // The default configuration: the copy built into (or, in debug builds,
    // read by) the binary.
    let app = spawn_app_with(|_| {}).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Malten</title>"), "{html}");
    // Only the app's own resources; the inline start-up script by hash.
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(
        policy.contains("'wasm-unsafe-eval'") && policy.contains("'sha256-"),
        "{policy}"
    );
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("http"),
        "{policy}"
    );
    let wasm_path = html
        .split(['"', '\''])
        .find(|part| part.ends_with(".wasm"))
        .expect("index.html references the wasm module")
        .to_owned();
    let wasm = app.get(&wasm_path).await;
    assert_eq!(wasm.status(), StatusCode::OK);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let bytes = wasm.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "a real WebAssembly module");
}

#[tokio::test]
async fn root_says_plainly_when_the_app_is_missing() {
    let empty = std::env::temp_dir().join(format!("malten-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let app = spawn_app_with(|config| config.web_dir = Some(empty.clone())).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = response.text().await.unwrap();
    assert!(html.contains("web app has not been built"), "{html}");
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

/// Sent byte for byte over a socket: `reqwest` would normalise `/../` and
/// `/%2e%2e/` away before sending. `dist/..` is the workspace root, so an
/// escape would serve its `Cargo.toml`.
#[tokio::test]
async fn a_web_dir_cannot_be_escaped() {
    let root_manifest = std::fs::read_to_string(dist().join("../Cargo.toml")).unwrap();
    assert!(root_manifest.contains("[workspace]"));
    let app = spawn_app_with(|config| config.web_dir = Some(dist())).await;
    for target in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/Cargo.toml",
        "/..%2fCargo.toml",
        "/..%2FCargo.toml",
        "/%2e%2e%2fCargo.toml",
        "/assets/../../Cargo.toml",
        "/./../Cargo.toml",
    ] {
        let (status, response) = get_raw(app.addr, target).await;
        assert_eq!(status, 404, "{target}: {response}");
        assert!(
            response.contains("\"code\":\"not_found\""),
            "{target}: {response}"
        );
        assert!(
            !response.contains("[workspace]"),
            "{target} leaked the file"
        );
    }
    // The same socket code does fetch a file that is inside.
    let (status, response) = get_raw(app.addr, "/index.html").await;
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("<title>Malten</title>"));
}

/// The service worker, the manifest and its icons are copied by trunk
/// without a content hash, so they must be revalidated; the worker above
/// all, since browsers look for a new one only as its cache allows.
#[tokio::test]
async fn the_service_worker_and_the_manifest_are_served_fresh_with_their_content_types() {
    let app = spawn_app_with(|config| config.web_dir = Some(dist())).await;
    for (path, content_type) in [
        ("/sw.js", "text/javascript"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/icons/icon-192.png", "image/png"),
        ("/icons/icon-512.png", "image/png"),
        ("/icons/icon.svg", "image/svg+xml"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {:?}",
            headers["content-type"]
        );
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
    }
    // The worker may fetch only from the app's own origin.
    let worker = app.get("/sw.js").await;
    assert_eq!(
        worker.headers()["content-security-policy"],
        "default-src 'none'; connect-src 'self'"
    );
    let manifest: serde_json::Value = app.get("/manifest.webmanifest").await.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    // Files whose names carry trunk's content hash stay cached for good.
    let html = app.get("/").await.text().await.unwrap();
    let css = html
        .split('"')
        .find(|part| part.ends_with(".css"))
        .expect("index.html links its stylesheet")
        .to_owned();
    assert_eq!(
        app.get(&css).await.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn the_policy_allows_the_apps_own_service_worker_and_manifest_only() {
    let app = spawn_app_with(|config| config.web_dir = Some(dist())).await;
    let response = app.get("/").await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in ["worker-src 'self'", "manifest-src 'self'"] {
        assert!(
            policy.split("; ").any(|part| part == directive),
            "{directive} missing: {policy}"
        );
    }
    let html = response.text().await.unwrap();
    assert!(
        html.contains(r#"<link rel="manifest" href="/manifest.webmanifest""#),
        "{html}"
    );
}
