//! End-to-end encrypted streams: the server stores opaque parameters and
//! envelopes, checks their shape, and refuses anything else.

use malten_shared::crypto::{
    derive_key, open, seal, EncryptionParams, KdfParams, Plaintext, PlaintextKind, StreamKey,
    MIN_ITERATIONS,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

pub(crate) struct Secret {
    pub params: EncryptionParams,
    pub key: StreamKey,
}

pub(crate) fn secret(passphrase: &str) -> Secret {
    let kdf = KdfParams::new([7; 16], MIN_ITERATIONS).unwrap();
    let key = derive_key(passphrase, &kdf).unwrap();
    Secret {
        params: EncryptionParams::new(&kdf, &key).unwrap(),
        key,
    }
}

pub(crate) async fn create_encrypted(
    app: &TestApp,
    stream: &str,
    params: &EncryptionParams,
    private: bool,
) -> reqwest::Response {
    let iterations = params.iterations.to_string();
    let private = private.to_string();
    app.create_stream(&[
        ("stream", stream),
        ("private", &private),
        ("encrypted", "true"),
        ("salt", &params.salt),
        ("iterations", &iterations),
        ("check", &params.check),
    ])
    .await
}

pub(crate) fn envelope(secret: &Secret, stream: &str, text: &str) -> String {
    seal(
        &secret.key,
        stream,
        &Plaintext::new(text, PlaintextKind::Message, 1_700_000_000_000),
    )
    .unwrap()
}

#[tokio::test]
async fn an_encrypted_stream_publishes_its_key_parameters_and_is_marked_in_the_list() {
    let app = spawn_app().await;
    let secret = secret("open sesame");
    let response = create_encrypted(&app, "vault", &secret.params, false).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (_, info) = app.get_json("/streams/vault").await;
    assert_eq!(info["encrypted"], true);
    assert_eq!(
        info["encryption"],
        serde_json::to_value(&secret.params).unwrap()
    );
    let (_, list) = app.get_json("/streams").await;
    assert_eq!(list[0]["stream"], "vault");
    assert_eq!(list[0]["encrypted"], true);
    // A plain stream says so too.
    app.create_stream(&[("stream", "open"), ("private", "false")])
        .await;
    let (_, plain) = app.get_json("/streams/open").await;
    assert_eq!(plain["encrypted"], false);
    assert!(plain.get("encryption").is_none());
}

#[tokio::test]
async fn envelopes_are_stored_and_relayed_as_they_are_without_any_text() {
    let app = spawn_app().await;
    let secret = secret("correct horse");
    create_encrypted(&app, "vault", &secret.params, true).await;
    let mut events = app.sse("stream=vault", None).await;
    let sealed = envelope(&secret, "vault", "attack at dawn");
    let posted = app.post_ok("vault", &sealed).await;
    assert_eq!(posted["envelope"], sealed.as_str());
    assert!(posted.get("text").is_none());

    let page = app.messages("stream=vault").await;
    assert_eq!(page, std::slice::from_ref(&posted));
    let raw = app
        .get("/messages?stream=vault")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !raw.contains("attack at dawn"),
        "the server has no plaintext to show"
    );

    let live = events.next_of("message").await.json();
    assert_eq!(live, posted);
    let opened = open(&secret.key, "vault", live["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(opened.text, "attack at dawn");
}

#[tokio::test]
async fn anything_but_an_envelope_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let secret = secret("pass");
    create_encrypted(&app, "vault", &secret.params, true).await;
    let good = envelope(&secret, "vault", "kept");
    app.post_ok("vault", &good).await;
    let mut wrong_version = good.clone().into_bytes();
    wrong_version[0] = b'B';
    let cases = [
        ("plaintext", "hello, is this private?".to_owned()),
        ("not base64url", format!("{}!", &good[..good.len() - 1])),
        ("wrong version", String::from_utf8(wrong_version).unwrap()),
        ("truncated", good[..good.len() - 4].to_owned()),
    ];
    for (what, message) in cases {
        let response = app.post_message("vault", &message).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "not_an_envelope").await;
        assert!(
            !body["error"].as_str().unwrap().contains(&message[..8]),
            "{what}: errors do not echo input"
        );
    }
    // Too long is about size, as for a plain text (docs/crypto.md, 8).
    let response = app.post_message("vault", &"A".repeat(11_000)).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "message_too_long").await;
    let page = app.messages("stream=vault").await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["envelope"], good.as_str());
}

#[tokio::test]
async fn bad_encryption_parameters_are_rejected() {
    let app = spawn_app().await;
    let good = secret("x").params;
    let too_few = (MIN_ITERATIONS - 1).to_string();
    let iterations = good.iterations.to_string();
    /// Form, expected code, words the error must contain.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("encrypted", "true"),
                ("salt", &good.salt),
                ("iterations", &too_few),
                ("check", &good.check),
            ],
            "invalid_encryption",
            "600000",
        ),
        (
            vec![
                ("encrypted", "true"),
                ("salt", "short"),
                ("iterations", &iterations),
                ("check", &good.check),
            ],
            "invalid_encryption",
            "salt",
        ),
        (
            vec![
                ("encrypted", "true"),
                ("salt", &good.salt),
                ("iterations", &iterations),
                ("check", "nope"),
            ],
            "invalid_encryption",
            "key check",
        ),
        (
            vec![
                ("encrypted", "true"),
                ("salt", &good.salt),
                ("iterations", &iterations),
                ("check", &good.check),
                ("kdf", "md5"),
            ],
            "invalid_encryption",
            "key derivation",
        ),
        (
            vec![("encrypted", "true"), ("salt", &good.salt)],
            "invalid_encryption",
            "`check`",
        ),
        // Each key-derivation parameter alone, without `encrypted=true`,
        // is refused: a plain stream must not look encrypted.
        (
            vec![("salt", &good.salt)],
            "invalid_parameter",
            "encrypted=true",
        ),
        (
            vec![("iterations", &iterations)],
            "invalid_parameter",
            "encrypted=true",
        ),
        (
            vec![("check", &good.check)],
            "invalid_parameter",
            "encrypted=true",
        ),
        (
            vec![("encrypted", "false"), ("iterations", "many")],
            "invalid_parameter",
            "encrypted=true",
        ),
        (
            vec![
                ("encrypted", "true"),
                ("salt", &good.salt),
                ("iterations", "many"),
                ("check", &good.check),
            ],
            "invalid_encryption",
            "`iterations`",
        ),
    ];
    for (mut form, code, says) in cases {
        form.push(("stream", "never"));
        let body = assert_error(
            app.create_stream(&form).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{form:?}: {body}"
        );
    }
    assert_error(
        app.get("/streams/never").await,
        StatusCode::NOT_FOUND,
        "stream_not_found",
    )
    .await;
}

#[tokio::test]
async fn the_parameters_can_be_sent_as_json() {
    let app = spawn_app().await;
    let params = secret("json").params;
    let mut body: Value = serde_json::to_value(&params).unwrap();
    body["stream"] = json!("json-vault");
    body["encrypted"] = json!(true);
    let response = app
        .client
        .post(app.url("/streams"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["encryption"]["iterations"], MIN_ITERATIONS);
}
