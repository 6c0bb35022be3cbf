//! Running the terminal client (`malten new/send/read/follow/pipe`) as a
//! user does: the real binary, its exit status, standard output and error.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::process::malten_binary;

/// Longest wait for anything the client should do.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A finished client command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output's lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts success and returns standard output.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:?}");
        &self.stdout
    }
}

/// A client command with no variables of the caller's that could change
/// what it does (a passphrase or a server in the test runner's environment).
pub fn client(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(malten_binary());
    command
        .args(args)
        .env_remove("MALTEN_PASSPHRASE")
        .env_remove("MALTEN_SERVER")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    command
}

/// Runs a client command to its end, with `stdin` as its standard input.
pub async fn malten(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut child = client(args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("malten starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(stdin.as_bytes()).await;
    });
    let output = tokio::time::timeout(DEADLINE * 4, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("malten {args:?} did not finish"))
        .unwrap();
    writer.await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A long-running client command (`follow`) read line by line.
pub struct Running {
    pub child: Child,
    /// Its standard input, open until dropped or taken.
    pub stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = client(args, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("malten starts");
        let stdin = child.stdin.take();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Running {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The next line of standard output.
    pub async fn next_line(&mut self) -> String {
        match tokio::time::timeout(DEADLINE, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("no line from malten: {other:?}; stderr: {}", self.stderr()),
        }
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until standard error contains `text`.
    pub async fn wait_for_stderr(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.stderr().contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "stderr never said {text:?}: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal to the process (`STOP`, `CONT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
