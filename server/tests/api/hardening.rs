//! Issue 15, "Hardening": hostile or odd input is answered exactly as
//! documented, and a refused operation changes nothing.

use reqwest::StatusCode;
use serde_json::Value;

use malten_tests::llm_stub::LlmStub;

use crate::helpers::{assert_error, spawn_app, spawn_app_with, spawn_app_with_llm};

/// Go's `strconv.ParseBool` spellings, the only ones accepted.
const TRUE_SPELLINGS: [&str; 6] = ["1", "t", "T", "TRUE", "true", "True"];
const FALSE_SPELLINGS: [&str; 6] = ["0", "f", "F", "FALSE", "false", "False"];
/// Near misses that must be refused, never guessed.
const NOT_BOOLEANS: [&str; 12] = [
    "yes", "no", "on", "off", "Off", "tRUE", "fALSE", " true", "true ", "2", "-1", "maybe",
];

#[tokio::test]
async fn a_stream_is_listed_only_on_an_explicit_false_spelling_of_private() {
    let app = spawn_app().await;
    for (i, spelling) in FALSE_SPELLINGS.iter().enumerate() {
        let name = format!("listed-{i}");
        let response = app
            .create_stream(&[("stream", &name), ("private", spelling)])
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "private={spelling}");
    }
    for (i, spelling) in TRUE_SPELLINGS.iter().enumerate() {
        let name = format!("unlisted-{i}");
        let response = app
            .create_stream(&[("stream", &name), ("private", spelling)])
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "private={spelling}");
    }
    app.create_stream(&[("stream", "absent")]).await;
    app.create_stream(&[("stream", "empty"), ("private", "")])
        .await;
    let (_, listed) = app.get_json("/streams").await;
    let mut names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|info| info["stream"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let expected: Vec<String> = (0..FALSE_SPELLINGS.len())
        .map(|i| format!("listed-{i}"))
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn every_boolean_parameter_refuses_anything_but_the_documented_spellings() {
    // `plaintext` is read only once the LLM is known to be enabled.
    let stub = LlmStub::replying(&["never asked"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    for (i, bad) in NOT_BOOLEANS.iter().enumerate() {
        let name = format!("never-{i}");
        for field in ["private", "encrypted"] {
            let response = app.create_stream(&[("stream", &name), (field, bad)]).await;
            let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("`{field}`")),
                "{field}={bad:?}: {body}"
            );
        }
        let response = app
            .post_command(&[("stream", &name), ("prompt", "hi"), ("plaintext", bad)])
            .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert!(
            body["error"].as_str().unwrap().contains("`plaintext`"),
            "plaintext={bad:?}: {body}"
        );
        let (status, _) = app.get_json(&format!("/streams/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a refusal created {name}");
    }
    // A JSON body's booleans and 0/1 numbers read as their text.
    for (i, value) in [Value::Bool(false), Value::from(0)].into_iter().enumerate() {
        let name = format!("json-{i}");
        let response = app
            .client
            .post(app.url("/streams"))
            .json(&serde_json::json!({"stream": name, "private": value, "encrypted": value}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let info: Value = response.json().await.unwrap();
        assert_eq!(info["private"], false, "{name}");
        assert_eq!(info["encrypted"], false, "{name}");
    }
    for spelling in FALSE_SPELLINGS {
        let response = app
            .create_stream(&[("private", "true"), ("encrypted", spelling)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "encrypted={spelling}"
        );
    }
}

/// A gauge or counter of `/metrics` (the first sample whose line starts
/// with `name`), 0 when absent.
async fn metric(app: &crate::helpers::TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_refused_post_creates_no_stream() {
    // Room for one empty stream: every post to a new name is refused.
    let budget = malten_server::store::STREAM_OVERHEAD_BYTES + 64;
    let app = spawn_app_with(|config| config.max_memory_bytes = budget).await;
    app.create_stream(&[("stream", "existing")]).await;
    let before = metric(&app, "malten_streams").await;
    assert_eq!(before, 1.0);
    for i in 0..1000 {
        let response = app.post_message(&format!("refused-{i}"), "hello").await;
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "memory_full").await;
    }
    let too_long = "x".repeat(1025);
    let response = app.post_message("too-long", &too_long).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "message_too_long").await;
    let response = app.post_message("blank", "  ").await;
    assert_error(response, StatusCode::BAD_REQUEST, "empty_message").await;
    assert_eq!(metric(&app, "malten_streams").await, before);
    for name in ["refused-0", "refused-999", "too-long", "blank"] {
        let (status, _) = app.get_json(&format!("/streams/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} was created");
    }
    assert_eq!(
        metric(&app, "malten_message_bytes").await,
        malten_server::store::STREAM_OVERHEAD_BYTES as f64,
        "only the existing stream is charged"
    );
}

#[tokio::test]
async fn subscriptions_to_new_names_count_in_the_stream_cap() {
    let app = spawn_app_with(|config| config.max_streams = 5).await;
    let mut open = Vec::new();
    for i in 0..5 {
        open.push(app.sse(&format!("stream=watched-{i}"), None).await);
    }
    assert_eq!(metric(&app, "malten_streams").await, 5.0);
    let refused = app.get("/events?stream=watched-5").await;
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "too_many_streams").await;
    let refused = app.post_message("posted-5", "hello").await;
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "too_many_streams").await;
    assert_eq!(metric(&app, "malten_streams").await, 5.0);
}

#[tokio::test]
async fn subscriptions_to_new_names_are_charged_to_the_memory_budget() {
    let stream_cost = malten_server::store::STREAM_OVERHEAD_BYTES;
    let app = spawn_app_with(|config| config.max_memory_bytes = 3 * stream_cost).await;
    let mut open = Vec::new();
    for i in 0..3 {
        open.push(app.sse(&format!("stream=watched-{i}"), None).await);
    }
    assert_eq!(
        metric(&app, "malten_message_bytes").await,
        (3 * stream_cost) as f64
    );
    let refused = app.get("/events?stream=watched-3").await;
    assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "memory_full").await;
    assert_eq!(metric(&app, "malten_streams").await, 3.0);
    let (status, _) = app.get_json("/streams/watched-3").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Cursors no stream can have issued: the largest, and one an hour ahead.
fn future_cursors() -> [String; 2] {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let hour = 3_600 * 1_000_000_000;
    [u64::MAX.to_string(), (now + hour).to_string()]
}

#[tokio::test]
async fn a_cursor_from_the_future_is_refused_never_silently_followed() {
    let app = spawn_app().await;
    app.post_ok("lobby", "before").await;
    for cursor in future_cursors() {
        for stream in ["lobby", "unknown"] {
            let with_header = app
                .client
                .get(app.url(&format!("/events?stream={stream}")))
                .header("Last-Event-ID", &cursor)
                .send()
                .await
                .unwrap();
            assert_error(with_header, StatusCode::BAD_REQUEST, "invalid_cursor").await;
            let with_param = app
                .get(&format!("/events?stream={stream}&last={cursor}"))
                .await;
            assert_error(with_param, StatusCode::BAD_REQUEST, "invalid_cursor").await;
            for direction in ["1", "-1"] {
                let page = app
                    .get(&format!(
                        "/messages?stream={stream}&last={cursor}&direction={direction}"
                    ))
                    .await;
                assert_error(page, StatusCode::BAD_REQUEST, "invalid_cursor").await;
            }
        }
    }
    let (status, _) = app.get_json("/streams/unknown").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused subscription created it"
    );
    // The newest cursor issued is still a good one: later posts arrive.
    let newest = app.post_ok("lobby", "newest").await;
    let created = newest["created"].as_str().unwrap();
    let mut events = app.sse("stream=lobby", Some(created)).await;
    app.post_ok("lobby", "after").await;
    assert_eq!(events.texts(1).await, ["after"]);
    let page = app
        .messages(&format!("stream=lobby&last={created}&direction=1"))
        .await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["text"], "after");
}

/// Log lines written while the guard lives (this thread only).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// On a current-thread runtime every server task runs on this thread, so
/// the thread-local subscriber sees every log line.
#[tokio::test(flavor = "current_thread")]
async fn expected_refusals_log_below_error_and_are_counted_by_code() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests, on other threads without a subscriber, may have
    // registered the same call sites as "never enabled" meanwhile.
    tracing::callsite::rebuild_interest_cache();

    let secret = "refused-secret-walrus";
    let budget = malten_server::store::STREAM_OVERHEAD_BYTES + 64;
    let app = spawn_app_with(|config| {
        config.max_memory_bytes = budget;
        config.max_streams = 1;
    })
    .await;
    app.create_stream(&[("stream", "full")]).await;
    let cases: Vec<(reqwest::Response, StatusCode, &str)> = vec![
        (
            app.post_message("full", secret).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "memory_full",
        ),
        (
            app.post_message("other", secret).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
        ),
        (
            app.post_message("full", &format!("{secret}{}", "!".repeat(1024)))
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
        ),
        (
            app.post_message("bad name", secret).await,
            StatusCode::BAD_REQUEST,
            "invalid_stream_name",
        ),
        (
            app.create_stream(&[("stream", "full")]).await,
            StatusCode::CONFLICT,
            "stream_exists",
        ),
        (
            app.get("/streams/nothing").await,
            StatusCode::NOT_FOUND,
            "stream_not_found",
        ),
        (
            app.post_command(&[("prompt", secret)]).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "llm_disabled",
        ),
    ];
    for (response, status, code) in cases {
        assert_error(response, status, code).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for code in [
        "memory_full",
        "too_many_streams",
        "message_too_long",
        "invalid_stream_name",
        "stream_exists",
        "stream_not_found",
        "llm_disabled",
    ] {
        let line = format!("malten_rejections_total{{code=\"{code}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(errors.is_empty(), "refusals logged as errors:\n{errors:#?}");
    // Which level each refusal gets is unit-tested in `error.rs`: here,
    // where other tests' threads share tracing's call-site cache, only
    // the absence of ERROR is asserted.
    assert!(!logs.contains(secret), "message text in the logs:\n{logs}");
}

/// A structurally valid v1 envelope of `bytes` decoded bytes (the server
/// checks only the structure; it never has a key).
fn structural_envelope(bytes: usize) -> String {
    use base64::Engine;
    let mut framed = vec![0u8; bytes];
    framed[0] = malten_shared::crypto::FORMAT_VERSION;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(framed)
}

#[tokio::test]
async fn encrypted_streams_take_envelopes_up_to_their_maximum_and_413_beyond() {
    use malten_shared::crypto::MAX_ENVELOPE_LEN;
    let app = spawn_app().await;
    let params = crate::encrypted::secret("long").params;
    crate::encrypted::create_encrypted(&app, "vault", &params, true).await;
    // 1 version byte + 12 nonce + 8192 padded plaintext + 16 tag.
    let largest = structural_envelope(1 + 12 + 8192 + 16);
    assert_eq!(largest.chars().count(), MAX_ENVELOPE_LEN);
    assert_eq!(MAX_ENVELOPE_LEN, 10_962);
    let stored = app.post_ok("vault", &largest).await;
    assert_eq!(stored["envelope"], largest.as_str());
    let over = format!("{largest}A");
    let response = app.post_message("vault", &over).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "message_too_long").await;
    let response = app.post_message("vault", "hello").await;
    assert_error(response, StatusCode::BAD_REQUEST, "not_an_envelope").await;
    assert_eq!(app.messages("stream=vault").await.len(), 1);
}

#[tokio::test]
async fn an_encrypted_create_missing_a_parameter_is_invalid_encryption() {
    let app = spawn_app().await;
    let good = crate::encrypted::secret("missing").params;
    let iterations = good.iterations.to_string();
    let all = [
        ("salt", good.salt.as_str()),
        ("iterations", iterations.as_str()),
        ("check", good.check.as_str()),
    ];
    for left_out in 0..all.len() {
        let mut form = vec![("stream", "never"), ("encrypted", "true")];
        form.extend(
            all.iter()
                .enumerate()
                .filter(|(i, _)| *i != left_out)
                .map(|(_, pair)| *pair),
        );
        let response = app.create_stream(&form).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_encryption").await;
    }
    let response = app
        .create_stream(&[("stream", "never"), ("encrypted", "true")])
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_encryption").await;
    let (status, _) = app.get_json("/streams/never").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
