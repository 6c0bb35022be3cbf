//! Start-up with the chat API on: the database is opened and migrated
//! before serving, so a bad `--database-url` stops the server at once with
//! one clear error rather than answering 500 later.

use std::process::Stdio;

use malten_server::config::Config;

use super::support::ADMIN;
use crate::helpers::DEADLINE;

/// Nothing listens on port 1; the password must not show in any message.
const BAD_URL: &str = "postgres://malten:hunter2@127.0.0.1:1/nope";

#[tokio::test]
async fn run_fails_before_serving_when_the_chat_database_cannot_be_opened() {
    let mut config = Config::defaults();
    config.admin_token = Some(ADMIN.parse().unwrap());
    config.database_url = BAD_URL.parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outcome = tokio::time::timeout(
        DEADLINE,
        malten_server::run(listener, config, std::future::pending()),
    )
    .await
    .expect("run gave up on the database in time");
    let err = outcome.expect_err("run must fail on a database it cannot open");
    let message = format!("{err:#}");
    assert!(
        message.starts_with("cannot open the chat database postgres://malten:***@127.0.0.1:1/nope"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn the_binary_exits_non_zero_with_one_error_line_on_a_bad_database_url() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_malten"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--admin-token",
            "x",
            "--database-url",
            BAD_URL,
        ])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start malten");
    // Polled with a deadline: the dev build of tokio has no `process`.
    let deadline = std::time::Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("malten still running after {DEADLINE:?}: it did not fail fast");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line, got: {stderr}");
    assert!(
        lines[0].starts_with(
            "malten: cannot open the chat database postgres://malten:***@127.0.0.1:1/nope: "
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(
        lines[0].matches("os error").count(),
        1,
        "each cause once: {stderr}"
    );
    assert!(output.stdout.is_empty());
}
