//! The Content-Security-Policy sent with the web app.
//!
//! It allows only the app's own resources: no third-party scripts, styles,
//! fonts or connections. WebAssembly needs `'wasm-unsafe-eval'`. Trunk's
//! `index.html` starts the app with a small inline module script, which is
//! allowed by its SHA-256 hash (computed from the page actually served), not
//! by `'unsafe-inline'`. The app's service worker and web app manifest
//! come from the app's own origin (`worker-src`, `manifest-src`).
//!
//! The service worker gets a policy of its own ([`WORKER_POLICY`]): it
//! may fetch from the app's origin and nothing else, so even a mistake in
//! it cannot send a request to a third party.

use base64::Engine;
use sha2::{Digest, Sha256};

/// The policy sent with the service worker's script (`sw.js`).
pub const WORKER_POLICY: &str = "default-src 'none'; connect-src 'self'";

/// The policy for `html`, allowing exactly its inline scripts.
pub fn policy_for(html: &str) -> String {
    let hashes: String = inline_scripts(html)
        .map(|body| {
            let digest = Sha256::digest(body.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
         base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The bodies of `<script>` elements without a `src` attribute.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || loop {
        let start = rest.find("<script")?;
        let after_tag = &rest[start..];
        let open_end = after_tag.find('>')?;
        let attributes = &after_tag[..open_end];
        let body_and_more = &after_tag[open_end + 1..];
        let close = body_and_more.find("</script>")?;
        let body = &body_and_more[..close];
        rest = &body_and_more[close + "</script>".len()..];
        if !attributes.contains(" src=") {
            return Some(body);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_nothing_else_is() {
        let html = r#"<script type="module">init()</script><script src="/x.js"></script>"#;
        let policy = policy_for(html);
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"init()"));
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 1);
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.starts_with("default-src 'none'"));
        assert!(policy.contains("; worker-src 'self';"), "{policy}");
        assert!(policy.contains("; manifest-src 'self';"), "{policy}");
    }
}
