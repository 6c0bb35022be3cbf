//! The `/ws` protocol spoken by a client that is not ours: Node's built-in
//! WebSocket, running `server/tests/clients/ws_session_client.mjs`.

use std::path::Path;
use std::process::Command;

use crate::helpers::spawn_app_with_llm;
use malten_tests::llm_stub::LlmStub;

#[tokio::test]
async fn a_node_websocket_client_pings_creates_a_session_and_chats() {
    let stub = LlmStub::replying(&["Hello, ", "Node ✓"]).await;
    let app = spawn_app_with_llm(&stub, |_| {}).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ws_session_client.mjs");
    let url = format!("ws://{}/ws", app.addr);
    // Blocking is fine on its own thread; the server runs on the runtime.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("--experimental-websocket")
            .arg(script)
            .arg(url)
            .arg("Hello, Node ✓")
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|err| {
        panic!("cannot run `node` ({err}): this test needs Node.js 20 or newer on the PATH")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the Node client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("reply: Hello, Node ✓"), "{stdout}");
    let request = &stub.requests()[0];
    assert_eq!(request.body["temperature"], 0.5);
    assert_eq!(request.body["seed"], 7);
}
