//! The JSON error contract before handlers run, tested with raw bytes over
//! TCP (reqwest would normalise what is under test here).

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, TestApp, DEADLINE};

/// What came back: status, `Content-Type`, the `Allow` header, the body.
#[derive(Debug)]
struct Raw {
    status: u16,
    content_type: String,
    allow: Option<String>,
    body: String,
}

/// Sends `request` as it is, then closes the writing half (so a body
/// shorter than its `Content-Length` ends), and reads the answer.
async fn raw(app: &TestApp, request: &[u8]) -> Raw {
    tokio::time::timeout(DEADLINE, async {
        let mut socket = TcpStream::connect(app.addr).await.unwrap();
        socket.write_all(request).await.unwrap();
        socket.shutdown().await.unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        let header = |name: &str| {
            head.lines().skip(1).find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        Raw {
            status,
            content_type: header("content-type").unwrap_or_default(),
            allow: header("allow"),
            body: body.to_owned(),
        }
    })
    .await
    .expect("no answer within the deadline")
}

fn request(method: &str, target: &str, headers: &[String], body: &str) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn form(target: &str, body: &str) -> Vec<u8> {
    request(
        "POST",
        target,
        &[
            "Content-Type: application/x-www-form-urlencoded".into(),
            format!("Content-Length: {}", body.len()),
        ],
        body,
    )
}

#[tokio::test]
async fn refusals_before_any_handler_are_json_with_the_documented_status_and_code() {
    let app = spawn_app().await;
    let many_headers: Vec<String> = (0..65).map(|i| format!("X-Filler-{i}: x")).collect();
    let big_headers: Vec<String> = (0..20)
        .map(|i| format!("X-Big-{i}: {}", "y".repeat(1000)))
        .collect();
    let long_uri = format!("/messages?stream=a&pad={}", "z".repeat(8 * 1024));
    let long_chat_uri = format!("/v1/orgs?pad={}", "z".repeat(8 * 1024));
    let rows: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "unknown route",
            request("POST", "/nowhere", &[], ""),
            404,
            "not_found",
        ),
        (
            "wrong method",
            request("DELETE", "/messages", &[], ""),
            405,
            "method_not_allowed",
        ),
        (
            "path not UTF-8",
            request("GET", "/streams/%FF%FE", &[], ""),
            400,
            "invalid_parameter",
        ),
        (
            "query not UTF-8",
            request("GET", "/messages?stream=a&limit=%FF", &[], ""),
            400,
            "invalid_parameter",
        ),
        (
            "form not UTF-8",
            form("/messages", "stream=a&message=%C3%28"),
            400,
            "invalid_parameter",
        ),
        (
            "malformed chunked body",
            request(
                "POST",
                "/messages",
                &[
                    "Content-Type: application/x-www-form-urlencoded".into(),
                    "Transfer-Encoding: chunked".into(),
                ],
                "ZZ\r\nstream=a\r\n0\r\n\r\n",
            ),
            400,
            "invalid_body",
        ),
        (
            "body shorter than Content-Length",
            request(
                "POST",
                "/messages",
                &[
                    "Content-Type: application/x-www-form-urlencoded".into(),
                    "Content-Length: 100".into(),
                ],
                "stream=a&message=hi",
            ),
            400,
            "invalid_body",
        ),
        (
            "body over the limit",
            form(
                "/messages",
                &format!("stream=a&message={}", "x".repeat(17 * 1024)),
            ),
            413,
            "body_too_large",
        ),
        (
            "WebSocket key not 16 bytes",
            request(
                "GET",
                "/events?stream=a",
                &[
                    "Upgrade: websocket".into(),
                    "Connection: Upgrade".into(),
                    "Sec-WebSocket-Version: 13".into(),
                    "Sec-WebSocket-Key: not-a-key".into(),
                ],
                "",
            ),
            400,
            "invalid_parameter",
        ),
        (
            "URI over 8 KiB",
            request("GET", &long_uri, &[], ""),
            414,
            "uri_too_long",
        ),
        (
            "more than 64 headers",
            request("GET", "/healthz", &many_headers, ""),
            431,
            "headers_too_large",
        ),
        (
            "headers over 16 KiB",
            request("GET", "/healthz", &big_headers, ""),
            431,
            "headers_too_large",
        ),
        // The chat API under /v1 is behind the same contract.
        (
            "chat: URI over 8 KiB",
            request("GET", &long_chat_uri, &[], ""),
            414,
            "uri_too_long",
        ),
        (
            "chat: more than 64 headers",
            request("GET", "/v1/openapi.json", &many_headers, ""),
            431,
            "headers_too_large",
        ),
        (
            "chat: WebSocket key not 16 bytes",
            request(
                "GET",
                "/v1/channels/ch_x/events",
                &[
                    "Upgrade: websocket".into(),
                    "Connection: Upgrade".into(),
                    "Sec-WebSocket-Version: 13".into(),
                    "Sec-WebSocket-Key: not-a-key".into(),
                ],
                "",
            ),
            400,
            "invalid_parameter",
        ),
    ];
    for (what, bytes, status, code) in rows {
        let answer = raw(&app, &bytes).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert_eq!(
            answer.content_type, "application/json",
            "{what}: {answer:?}"
        );
        let body: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|_| panic!("{what}: body is not JSON: {answer:?}"));
        assert_eq!(body["code"], code, "{what}: {answer:?}");
        assert!(
            body["error"].as_str().is_some_and(|s| s.len() > 10),
            "{what}"
        );
        if status == 405 {
            assert_eq!(answer.allow.as_deref(), Some("GET,HEAD,POST"), "{what}");
        }
    }
    let (status, _) = app.get_json("/streams/a").await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "nothing was created"
    );
}

/// The rows of docs/api.md's table that handlers answer, one request each,
/// on a server with small limits so the capacity rows can be reached.
#[tokio::test]
async fn each_handler_row_of_the_error_table_is_answered_as_documented() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.max_streams = 3;
        config.max_memory_bytes = 2 * malten_server::store::STREAM_OVERHEAD_BYTES + 600;
        config.max_connections_per_ip = 1;
    })
    .await;
    let vault = crate::encrypted::secret("table").params;
    crate::encrypted::create_encrypted(&app, "vault", &vault, true).await;
    app.post_ok("plain", "first").await;
    let _open = app.sse("stream=plain", None).await;
    let future = u64::MAX.to_string();
    let rows: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "bad name",
            form("/messages", "stream=a%20b&message=x"),
            400,
            "invalid_stream_name",
        ),
        (
            "missing message",
            form("/messages", "stream=plain"),
            400,
            "invalid_parameter",
        ),
        (
            "ttl out of range",
            form("/streams", "stream=t&ttl=1"),
            400,
            "invalid_ttl",
        ),
        (
            "blank",
            form("/messages", "stream=plain&message=%20"),
            400,
            "empty_message",
        ),
        (
            "plaintext in a vault",
            form("/messages", "stream=vault&message=hi"),
            400,
            "not_an_envelope",
        ),
        (
            "future cursor",
            request(
                "GET",
                &format!("/messages?stream=plain&last={future}"),
                &[],
                "",
            ),
            400,
            "invalid_cursor",
        ),
        (
            "encrypted without salt",
            form("/streams", "stream=e&encrypted=true"),
            400,
            "invalid_encryption",
        ),
        (
            "no such stream",
            request("GET", "/streams/none", &[], ""),
            404,
            "stream_not_found",
        ),
        (
            "no such message",
            request("GET", "/messages?stream=plain&id=nope", &[], ""),
            404,
            "message_not_found",
        ),
        (
            "taken",
            form("/streams", "stream=plain"),
            409,
            "stream_exists",
        ),
        (
            "too long",
            form(
                "/messages",
                &format!("stream=plain&message={}", "x".repeat(1025)),
            ),
            413,
            "message_too_long",
        ),
        (
            "second subscription",
            request("GET", "/events?stream=plain", &[], ""),
            429,
            "too_many_connections",
        ),
        (
            "memory full",
            form(
                "/messages",
                &format!("stream=plain&message={}", "m".repeat(600)),
            ),
            503,
            "memory_full",
        ),
        (
            "llm off",
            form("/commands", "stream=plain&prompt=hi"),
            503,
            "llm_disabled",
        ),
    ];
    for (what, bytes, status, code) in rows {
        let answer = raw(&app, &bytes).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert_eq!(answer.content_type, "application/json", "{what}");
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["code"], code, "{what}: {answer:?}");
    }
    // Both streams exist and the budget holds exactly two: a third is refused.
    let answer = raw(&app, &form("/messages", "stream=third&message=x")).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.body.contains("memory_full") || answer.body.contains("too_many_streams"));
}

#[tokio::test]
async fn the_stream_cap_and_the_rate_limit_rows() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.max_streams = 1;
        config.rate_per_second = 1;
        config.rate_burst = 2;
        // No refill between the rows, however slow the machine.
        config.rate_clock = malten_server::limits::RateClock::frozen();
    })
    .await;
    let rows: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "first stream",
            form("/messages", "stream=one&message=x"),
            201,
            "",
        ),
        (
            "over the cap",
            form("/messages", "stream=two&message=x"),
            503,
            "too_many_streams",
        ),
        (
            "over the rate",
            form("/messages", "stream=one&message=y"),
            429,
            "rate_limited",
        ),
    ];
    for (what, bytes, status, code) in rows {
        let answer = raw(&app, &bytes).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        if !code.is_empty() {
            let body: Value = serde_json::from_str(&answer.body).unwrap();
            assert_eq!(body["code"], code, "{what}: {answer:?}");
        }
    }
}

/// Every answer, the chat API's and refusals included, tells browsers not to
/// sniff content types and not to send a referrer.
#[tokio::test]
async fn security_headers_are_on_every_route() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/streams/none",
        "/v1/openapi.json",
        "/v1/orgs",
        "/nowhere",
    ] {
        let response = reqwest::get(format!("http://{}{path}", app.addr))
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
}

/// Past hyper's own ceilings (set in `serve/mod.rs`), hyper answers before
/// the contract layer can: a bare status with no body, then it closes. The
/// ceilings are far above the contract's limits (8 KiB URI, 64 headers,
/// 16 KiB of headers), so no client that respects them meets this.
#[tokio::test]
async fn past_hypers_ceilings_the_answer_is_its_bare_status() {
    let app = spawn_app().await;
    let over_100_headers: Vec<String> = (0..101).map(|i| format!("X-H{i}: v")).collect();
    let over_uri_ceiling = format!("/healthz?{}", "a".repeat(70_000));
    for (what, bytes, status) in [
        (
            "more than hyper's 100 headers",
            request("GET", "/healthz", &over_100_headers, ""),
            431,
        ),
        (
            "a URI over 65,534 bytes",
            request("GET", &over_uri_ceiling, &[], ""),
            414,
        ),
    ] {
        let answer = raw(&app, &bytes).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        assert!(answer.body.is_empty(), "{what}: {answer:?}");
    }
    // The server is unharmed.
    assert_eq!(
        raw(&app, &request("GET", "/healthz", &[], "")).await.status,
        200
    );
}
