//! Starting the real `malten` binary on a free port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The workspace's `target/<profile>/malten`, next to this test binary's
/// `deps/` directory, built by `cargo build` the first time a test asks for
/// it, so the tests never run a binary older than the sources. (Cargo's own
/// freshness check makes this a no-op when nothing changed.)
pub fn malten_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_malten).clone()
}

fn build_malten() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = std::process::Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "malten-server",
            "--bin",
            "malten",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(
        status.success(),
        "`cargo build -p malten-server --bin malten` failed: {status}"
    );
    let binary = profile_dir.join(format!("malten{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing after the build",
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
        Self::start_with_env(dir, &[], args).await
    }

    /// [`Server::start_in`] with extra environment variables.
    pub async fn start_with_env(
        dir: &std::path::Path,
        env: &[(&str, &std::path::Path)],
        args: &[&str],
    ) -> Server {
        Self::spawn(dir, env, "127.0.0.1:0", args).await
    }

    /// [`Server::start`] on a given address (as one a stopped server had).
    pub async fn start_at(addr: &str, args: &[&str]) -> Server {
        Self::spawn(&std::env::temp_dir(), &[], addr, args).await
    }

    async fn spawn(
        dir: &std::path::Path,
        env: &[(&str, &std::path::Path)],
        addr: &str,
        args: &[&str],
    ) -> Server {
        let mut child = Command::new(malten_binary())
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(["--addr", addr])
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
