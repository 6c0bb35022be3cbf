//! Starting the real `malten` binary on a free port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The workspace's `target/<profile>/malten`, next to this test binary's
/// `deps/` directory. `make test` builds it before the tests run.
pub fn malten_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = profile_dir.join(format!("malten{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p malten-server` (make test does)",
        binary.display()
    );
    binary
}

/// A running `malten` process, killed on drop.
pub struct Server {
    pub child: Child,
    pub base_url: String,
}

impl Server {
    /// Starts `malten --addr 127.0.0.1:0 <args>` and waits for its
    /// "listening" log line to learn the port.
    pub async fn start(args: &[&str]) -> Server {
        Self::start_in(&std::env::temp_dir(), args).await
    }

    /// [`Server::start`] with `dir` as the working directory.
    pub async fn start_in(dir: &std::path::Path, args: &[&str]) -> Server {
        let mut child = Command::new(malten_binary())
            .current_dir(dir)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("malten starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("addr=").nth(1) {
                    if line.contains("listening") {
                        return rest.split_whitespace().next().unwrap().to_owned();
                    }
                }
            }
            panic!("malten exited before listening");
        })
        .await
        .expect("malten listens within 20 s");
        // Keep draining its logs so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            base_url: format!("http://{addr}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}
