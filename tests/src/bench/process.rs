//! The two servers under test as child processes, and what `/proc` says
//! about them.
//!
//! A [`Server`] kills its process when dropped (`kill_on_drop`), so an error
//! or a cancelled run never leaves a server behind; [`Server::stop`] is the
//! orderly path. Each scenario starts a fresh process, so one scenario's heap
//! never flatters the next one's memory figures.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

/// Lines of a server's output kept to explain a failure.
const TAIL_LINES: usize = 20;
/// Linux reports CPU time in ticks of `USER_HZ`, 100 on every architecture
/// Linux supports.
const USER_HZ: f64 = 100.0;

/// A running server process.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident memory now, in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmRSS:").map(|kib| kib * 1024)
    }

    /// Peak resident memory so far, in bytes (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmHWM:").map(|kib| kib * 1024)
    }

    /// CPU time used so far, user plus system, in seconds.
    pub fn cpu_secs(&self) -> Result<f64> {
        cpu_secs(&self.pid.to_string())
    }

    /// The last lines the process printed, to explain a failure.
    pub fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Kills the process and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("cannot stop {}", self.name))
    }
}

/// A port that was free a moment ago: bind port 0, read it, release it.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot bind a port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The `malten` binary: `explicit` if given, else next to this executable
/// (both live in `target/release`), else in the workspace's `target/release`.
pub fn locate_malten(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("--malten-bin {} does not exist", path.display());
    }
    let beside_me = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("malten")));
    let in_workspace = workspace_root().join("target/release/malten");
    for candidate in beside_me.into_iter().chain([in_workspace.clone()]) {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "the malten server binary is missing (looked next to this executable and at {}); \
         build it first with `cargo build --release -p malten-server`, or use `make bench`",
        in_workspace.display()
    )
}

/// The workspace this benchmark was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Fails clearly when `redis-server` cannot be run.
pub fn check_redis(binary: &str) -> Result<String> {
    let output = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "cannot run `{binary}`: install Redis (`scripts/setup.sh bench` does, \
                 as does `apt-get install redis-server`) or pass --skip-redis"
            )
        })?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Starts Malten on a free port with limits raised far above what the
/// benchmark uses, and waits for its "listening" log line.
pub async fn start_malten(binary: &Path, connections: usize, deadline: Instant) -> Result<Server> {
    start_malten_with(binary, connections, deadline, &[]).await
}

/// [`start_malten`] with extra flags (e.g. `--redis-url`).
pub async fn start_malten_with(
    binary: &Path,
    connections: usize,
    deadline: Instant,
    extra: &[&str],
) -> Result<Server> {
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut command = Command::new(binary);
    command
        .arg("--addr")
        .arg(addr.to_string())
        .args(["--rate-per-second", "1000000", "--rate-burst", "1000000"])
        .args(["--max-body-bytes", "65536", "--max-streams", "100000"])
        .args(["--max-memory-bytes", &(1u64 << 30).to_string()])
        .arg("--max-connections-per-ip")
        .arg((connections + 100).to_string())
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    spawn("malten", command, addr, "malten listening", deadline).await
}

/// Starts `redis-server` on a free port, without persistence, and waits
/// until it says it is ready.
pub async fn start_redis(binary: &str, connections: usize, deadline: Instant) -> Result<Server> {
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut command = Command::new(binary);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--maxclients", &(connections + 100).to_string()]);
    spawn(
        "redis",
        command,
        addr,
        "Ready to accept connections",
        deadline,
    )
    .await
}

async fn spawn(
    name: &'static str,
    mut command: Command,
    addr: SocketAddr,
    ready_line: &'static str,
    deadline: Instant,
) -> Result<Server> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let pid = child.id().context("the child has no pid")?;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let ready_tx = Arc::new(ready_tx);
    for output in [
        child.stdout.take().map(boxed),
        child.stderr.take().map(boxed),
    ]
    .into_iter()
    .flatten()
    {
        tokio::spawn(keep_tail(
            output,
            Arc::clone(&tail),
            ready_line,
            Arc::clone(&ready_tx),
        ));
    }
    let mut server = Server {
        name,
        addr,
        child,
        pid,
        tail,
    };
    loop {
        if *ready_rx.borrow_and_update() {
            return Ok(server);
        }
        tokio::select! {
            changed = ready_rx.changed() => {
                if changed.is_err() {
                    bail!("{name} closed its output before it was ready:\n{}", server.tail());
                }
            }
            status = server.child.wait() => {
                bail!("{name} exited ({}) before it was ready:\n{}", status?, server.tail());
            }
            () = tokio::time::sleep_until(deadline) => {
                bail!("{name} was not ready in time:\n{}", server.tail());
            }
        }
    }
}

fn boxed(output: impl AsyncRead + Send + Unpin + 'static) -> Box<dyn AsyncRead + Send + Unpin> {
    Box::new(output)
}

/// Reads a child's output to the end (so the pipe never fills), keeping the
/// last lines and flagging the line that means "ready".
async fn keep_tail(
    output: Box<dyn AsyncRead + Send + Unpin>,
    tail: Arc<Mutex<VecDeque<String>>>,
    ready_line: &'static str,
    ready: Arc<watch::Sender<bool>>,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains(ready_line) {
            ready.send_replace(true);
        }
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// A `kB` field of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

/// User plus system CPU time of `/proc/<pid>` (`self` for this process).
pub fn cpu_secs(pid: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name may contain spaces; the fields after it do not.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `utime` and `stime` are fields 14 and 15; `after_name` starts at field 3.
    let ticks = |i: usize| -> Result<f64> {
        let value = fields.get(i - 3).with_context(|| format!("short {path}"))?;
        Ok(value.parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / USER_HZ)
}

/// CPU seconds the whole machine spent busy (not idle, not waiting for
/// I/O) since boot, summed over cores, from `/proc/stat`. Includes kernel
/// interrupt work, such as the loopback network stack.
pub fn machine_busy_secs() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = ticks.iter().take(8).sum::<f64>()
        - ticks.get(3).unwrap_or(&0.0)
        - ticks.get(4).unwrap_or(&0.0);
    Ok(busy / USER_HZ)
}

/// How long to wait for a process to come up before calling it broken.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
