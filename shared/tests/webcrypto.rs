//! Interoperability with WebCrypto, the crypto a browser client would use.
//!
//! Runs `tests/interop/webcrypto.mjs` under Node (18 or later, no npm
//! packages), which implements format v1 on `globalThis.crypto.subtle` alone.
//! Both directions are asserted: Node derives the key itself, verifies Rust's
//! key check and opens Rust's envelopes; Rust verifies Node's key check and
//! opens Node's envelopes, made with Node's own nonces and padding.
//!
//! Node is required: `scripts/setup.sh test` installs it. Set `MALTEN_NODE`
//! to use a binary that is not `node` on the `PATH`.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use malten_shared::crypto::{
    check_envelope, derive_key, open, seal, verify_key_check, EncryptionParams, KdfParams,
    Plaintext, PlaintextKind, MAX_ENVELOPE_LEN, MAX_SENT_AT, MIN_ITERATIONS,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Answer {
    key: String,
    check_ok: bool,
    wrong_check_ok: bool,
    opened: Vec<Plaintext>,
    refused: Vec<bool>,
    check: String,
    sealed: Vec<String>,
}

/// Runs the Node script on `request`; panics with a clear message if Node
/// is missing or the script fails.
fn run_node(request: &serde_json::Value) -> Answer {
    let node = std::env::var("MALTEN_NODE").unwrap_or_else(|_| "node".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/webcrypto.mjs");
    let mut child = match Command::new(&node)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == ErrorKind::NotFound => panic!(
            "`{node}` was not found: the WebCrypto interop test needs Node.js 18 or later \
             (run `scripts/setup.sh test`, install the `nodejs` package, or set MALTEN_NODE)"
        ),
        Err(err) => panic!("could not start `{node}`: {err}"),
    };
    let input = serde_json::to_vec(request).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A write error means Node exited early; its stderr below says why.
    let _ = stdin.write_all(&input);
    drop(stdin);
    let output = child.wait_with_output().expect("wait for node");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("node answers with JSON")
}

fn messages() -> Vec<Plaintext> {
    vec![
        Plaintext::new(
            "hello from the other side",
            PlaintextKind::Message,
            1_700_000_000_000,
        ),
        Plaintext::new(
            "Grüße 👋🏽 \"quoted\" \\ back\nslash, 你好",
            PlaintextKind::Message,
            1_712_345_678_901,
        )
        .with_nick("Zoë 🦊"),
        Plaintext::new("@llm summarise the thread", PlaintextKind::LlmPrompt, 2),
        Plaintext::new("Here is a summary.", PlaintextKind::LlmReply, 3).with_nick("llm"),
        Plaintext::new("😀".repeat(1024), PlaintextKind::Message, 4),
        Plaintext::new("\u{1}".repeat(1024), PlaintextKind::LlmPrompt, MAX_SENT_AT)
            .with_nick("\u{1}".repeat(32)),
    ]
}

#[test]
fn rust_and_webcrypto_read_each_others_keys_checks_and_envelopes() {
    // Not in NFC, so Node's `normalize("NFC")` must agree with Rust's.
    let passphrase = "cafe\u{301} 🔑 Ω-passphrase";
    let stream = "interop.test";
    let kdf = KdfParams::new([0x5A; 16], MIN_ITERATIONS).unwrap();
    let key = derive_key(passphrase, &kdf).unwrap();
    let params = EncryptionParams::new(&kdf, &key).unwrap();
    assert_eq!(params.validate(), Ok(()));

    let messages = messages();
    let from_rust: Vec<String> = messages
        .iter()
        .map(|m| seal(&key, stream, m).unwrap())
        .collect();
    assert_eq!(from_rust.last().unwrap().len(), MAX_ENVELOPE_LEN);

    // Envelopes Node must refuse: one bit flipped in the ciphertext, and one
    // sealed for another stream.
    let mut flipped = URL_SAFE_NO_PAD.decode(&from_rust[0]).unwrap();
    flipped[20] ^= 0x04;
    let tampered = [
        URL_SAFE_NO_PAD.encode(flipped),
        seal(&key, "another.stream", &messages[0]).unwrap(),
    ];

    let answer = run_node(&json!({
        "passphrase": passphrase,
        "wrong_passphrase": "café 🔑 Ω-passphrasf",
        "salt": params.salt,
        "iterations": params.iterations,
        "check": params.check,
        "stream": stream,
        "from_rust": from_rust.iter().map(|e| json!({ "envelope": e })).collect::<Vec<_>>(),
        "tampered": tampered,
        "to_rust": messages,
    }));

    // Rust -> WebCrypto.
    assert_eq!(answer.key, hex::encode(key.as_bytes()), "same key");
    assert!(answer.check_ok, "WebCrypto verifies Rust's key check");
    assert!(!answer.wrong_check_ok, "a wrong passphrase fails the check");
    assert_eq!(answer.opened, messages, "WebCrypto opens Rust's envelopes");
    assert_eq!(answer.refused, [true, true], "WebCrypto refuses tampering");

    // WebCrypto -> Rust.
    assert!(
        verify_key_check(&key, &answer.check),
        "Rust verifies Node's check"
    );
    assert_ne!(answer.check, params.check, "Node drew its own nonce");
    assert_eq!(answer.sealed.len(), messages.len());
    for ((sealed, expected), ours) in answer.sealed.iter().zip(&messages).zip(&from_rust) {
        assert_eq!(check_envelope(sealed), Ok(()));
        assert_eq!(open(&key, stream, sealed).as_ref(), Ok(expected));
        assert_eq!(sealed.len(), ours.len(), "same padding bucket as Rust");
        assert_ne!(sealed, ours, "Node drew its own nonce");
        assert!(open(&key, "another.stream", sealed).is_err());
    }
}
