//! The binary as a user meets it: `--help`, the address flag and variable.

use std::process::Command;
use std::time::Duration;

use crate::process::{malten_binary, Server};

#[test]
fn help_explains_every_option() {
    let output = Command::new(malten_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--addr",
        "MALTEN_ADDR",
        "127.0.0.1:9090",
        "--web-dir",
        "--min-ttl",
        "--max-ttl",
        "--max-streams",
        "--max-memory-bytes",
        "--max-body-bytes",
        "--rate-per-second",
        "--max-connections-per-ip",
        "--trust-forwarded-for",
    ] {
        assert!(
            help.contains(option),
            "--help does not mention {option}:\n{help}"
        );
    }
}

#[test]
fn a_bad_address_is_a_clear_error() {
    let output = Command::new(malten_binary())
        .args(["--addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--addr"), "{stderr}");
}

#[tokio::test]
async fn the_address_can_come_from_malten_addr() {
    // Find a free port, then hand it to the server through the environment.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(malten_binary())
        .env("MALTEN_ADDR", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(&url).await {
            assert!(response.status().is_success());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never answered on {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_stops_the_server_within_five_seconds() {
    let mut server = Server::start(&[]).await;
    let pid = server.child.id().expect("running");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .expect("exits within 5 s")
        .unwrap();
    assert!(exit.success(), "clean exit: {exit}");
}

#[tokio::test]
async fn the_server_writes_no_files() {
    let workdir = std::env::temp_dir().join(format!("malten-nofiles-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).unwrap();
    let server = Server::start_in(&workdir, &[]).await;
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/streams"))
        .form(&[("stream", "disk"), ("private", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for i in 0..20 {
        let text = format!("message {i}");
        let posted = http
            .post(server.url("/messages"))
            .form(&[("stream", "disk"), ("message", text.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
    }
    let page = http
        .get(server.url("/messages?stream=disk"))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
    drop(server);
    let left: Vec<_> = std::fs::read_dir(&workdir).unwrap().collect();
    assert!(
        left.is_empty(),
        "files appeared in the working directory: {left:?}"
    );
    std::fs::remove_dir_all(&workdir).unwrap();
}
