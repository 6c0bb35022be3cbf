//! The web app: embedded in the binary, or read from a directory.
//!
//! In release builds `rust-embed` compiles the trunk output (`dist/`) into
//! the binary, so the binary alone is the product; in debug builds it reads
//! the same directory at run time. The server still builds when the app has
//! not been built, and then says so at `/`.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;
use crate::AppState;

#[derive(RustEmbed)]
#[folder = "$MALTEN_DIST_DIR"]
#[allow_missing = true]
struct Embedded;

/// Where the app's files come from.
#[derive(Debug, Clone)]
pub enum WebApp {
    Embedded,
    Directory(PathBuf),
}

/// One file of the app.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub mime: String,
}

impl WebApp {
    pub fn from_config(dir: Option<PathBuf>) -> Self {
        dir.map_or(Self::Embedded, Self::Directory)
    }

    /// The file at `path` (relative, `/`-separated), if the app has one.
    pub async fn get(&self, path: &str) -> Option<Asset> {
        let mime = mime_guess::from_path(path)
            .first_or_octet_stream()
            .to_string();
        let bytes = match self {
            Self::Embedded => Embedded::get(path)?.data,
            Self::Directory(root) => {
                let relative = safe_relative_path(path)?;
                Cow::Owned(tokio::fs::read(root.join(relative)).await.ok()?)
            }
        };
        Some(Asset { bytes, mime })
    }
}

/// `path` as a relative path with only normal components, so a request can
/// never reach outside the app's directory.
fn safe_relative_path(path: &str) -> Option<PathBuf> {
    let candidate = Path::new(path);
    candidate
        .components()
        .all(|component| matches!(component, Component::Normal(_)))
        .then(|| candidate.to_path_buf())
}

const MISSING_APP_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Malten: web app not built</title></head>
<body><h1>Malten</h1>
<p>The server is running, but the web app has not been built into it, so there is nothing to show here.</p>
<p>Build it with <code>make run</code> (which builds the app and then the server), or point the server at a built copy with <code>--web-dir dist</code>.</p>
<p>The HTTP API works without it: see <code>/healthz</code> and the README.</p>
</body></html>"#;

/// Serves `/` and the app's files. Unknown paths get the JSON 404 of the API.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match state.web_app.get(path).await {
        Some(asset) => asset_response(path, asset),
        None if path == "index.html" => {
            (StatusCode::SERVICE_UNAVAILABLE, Html(MISSING_APP_PAGE)).into_response()
        }
        None => ApiError::RouteNotFound.into_response(),
    }
}

/// Whether trunk copied `path` under its own name, without a content hash:
/// the page itself, the service worker, the web app manifest and its icons
/// (their names are fixed: browsers and the manifest ask for them by name).
fn is_unhashed(path: &str) -> bool {
    matches!(path, "index.html" | "sw.js" | "manifest.webmanifest") || path.starts_with("icons/")
}

fn asset_response(path: &str, asset: Asset) -> Response {
    // Trunk puts a content hash in every other file name, so those can be
    // cached forever; these must always be revalidated. For `sw.js` this
    // also means a new worker is found at the next visit, not in a year.
    let cache = if is_unhashed(path) {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let policy = (path == "index.html")
        .then(|| {
            std::str::from_utf8(&asset.bytes)
                .ok()
                .map(crate::csp::policy_for)
        })
        .flatten()
        .or_else(|| (path == "sw.js").then(|| crate::csp::WORKER_POLICY.to_owned()));
    let mut response = Response::new(Body::from(asset.bytes));
    let headers = response.headers_mut();
    if let Some(policy) = policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    if let Ok(mime) = HeaderValue::from_str(&asset.mime) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_with_fixed_names_are_revalidated() {
        for fixed in [
            "index.html",
            "sw.js",
            "manifest.webmanifest",
            "icons/icon-192.png",
        ] {
            assert!(is_unhashed(fixed), "{fixed}");
        }
        for hashed in [
            "malten-frontend-f4fbc84c2011aab9_bg.wasm",
            "style-a410ab146c3db310.css",
        ] {
            assert!(!is_unhashed(hashed), "{hashed}");
        }
    }

    #[test]
    fn paths_cannot_escape_the_app_directory() {
        assert!(safe_relative_path("index.html").is_some());
        assert!(safe_relative_path("snippets/x/y.js").is_some());
        for bad in ["../secret", "a/../../b", "/etc/passwd", "./x/../../y"] {
            assert!(safe_relative_path(bad).is_none(), "{bad:?} must be refused");
        }
    }
}
