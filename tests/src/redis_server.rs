//! Real Redis servers for tests: `redis-server` child processes on free
//! loopback ports, memory only (`--save "" --appendonly no`), and a local
//! three-master Redis Cluster. No mocks.
//!
//! Readiness is polled (`PING`, `CLUSTER INFO`) with a deadline, never
//! slept for. A server is killed when dropped, so a failing test leaves
//! nothing behind.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a server may take to answer `PING` after it was started.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand
/// it out again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// One `redis-server` process.
pub struct RedisServer {
    pub port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A memory-only server on a free port, ready to answer.
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// [`RedisServer::start`] with extra `redis-server` arguments (they may
    /// override the memory-only defaults, e.g. `--save "1 1"`).
    pub async fn start_with(extra: &[&str]) -> Result<Self> {
        let mut server = Self {
            port: free_port(),
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run redis-server: install Redis (scripts/setup.sh test does)")?;
        self.child = Some(child);
        wait_for_ping(&self.url()).await
    }

    /// Kills the server (SIGKILL): its data is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await;
        self.spawn().await
    }

    /// A connection for a test's own checks.
    pub async fn connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }
}

/// Polls `PING` until `PONG` or the deadline.
async fn wait_for_ping(url: &str) -> Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    let client = redis::Client::open(url)?;
    loop {
        let attempt = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        if let Ok(Ok(pong)) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
            if pong == "PONG" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("redis at {url} did not answer PING within {READY_WITHIN:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A local Redis Cluster of three masters, no replicas.
pub struct RedisCluster {
    pub servers: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub async fn start() -> Result<Self> {
        Self::start_with(0).await
    }

    /// Three masters with `replicas` replicas each, and a node timeout of
    /// 1 s, so a replica takes over from a failed master within seconds.
    pub async fn start_with(replicas: usize) -> Result<Self> {
        let dir = TempDir::new("malten-redis-cluster")?;
        let mut servers = Vec::new();
        for _ in 0..3 * (1 + replicas) {
            let port = free_port();
            let config = dir.0.join(format!("nodes-{port}.conf"));
            let mut server = RedisServer {
                port,
                extra: vec![
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    config.display().to_string(),
                    "--cluster-node-timeout".into(),
                    "1000".into(),
                    // Replicas sync over the socket, never through an RDB
                    // file (docs/cluster.md); anything else Redis might
                    // write stays in the temporary directory.
                    "--repl-diskless-sync".into(),
                    "yes".into(),
                    "--repl-diskless-load".into(),
                    "on-empty-db".into(),
                    "--dir".into(),
                    dir.0.display().to_string(),
                ],
                child: None,
            };
            server.spawn().await?;
            servers.push(server);
        }
        let addrs: Vec<String> = servers
            .iter()
            .map(|server| format!("127.0.0.1:{}", server.port))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .await
            .context("cannot run redis-cli: install redis-tools (scripts/setup.sh test does)")?;
        if !output.status.success() {
            bail!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        let cluster = Self { servers, _dir: dir };
        cluster.wait_until_ok().await?;
        Ok(cluster)
    }

    /// The seed URLs, comma-separated, as `--redis-url` takes them.
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The running server that is master for `key`'s slot.
    pub async fn master_of(&self, key: &str) -> Result<usize> {
        let mut conn = self.alive()?.connection().await?;
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut conn)
            .await?;
        // `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch>
        // <link> <slot ranges…>`
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let holds = fields[8..].iter().any(|range| {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                matches!((start.parse::<u16>(), end.parse::<u16>()), (Ok(start), Ok(end)) if (start..=end).contains(&slot))
            });
            if !holds {
                continue;
            }
            let port: u16 = fields[1]
                .split(['@', ':'])
                .nth(1)
                .and_then(|port| port.parse().ok())
                .context("a port in CLUSTER NODES")?;
            return self
                .servers
                .iter()
                .position(|server| server.port == port)
                .context("the master is not one of ours");
        }
        bail!("no master holds slot {slot}")
    }

    /// Waits until every master's replicas have all its writes (their
    /// replication offsets reach the master's).
    pub async fn wait_replicated(&self) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        for server in self.servers.iter().filter(|server| server.child.is_some()) {
            let mut conn = server.connection().await?;
            loop {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut conn)
                    .await?;
                if !info.contains("role:master") {
                    break;
                }
                let field = |name: &str| {
                    info.lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(|value| value.trim().to_owned())
                };
                let master_offset = field("master_repl_offset:").unwrap_or_default();
                let replicas: Vec<String> = info
                    .lines()
                    .filter(|line| line.starts_with("slave"))
                    .filter_map(|line| {
                        line.split(',')
                            .find_map(|part| part.strip_prefix("offset="))
                            .map(str::to_owned)
                    })
                    .collect();
                if replicas.iter().all(|offset| *offset == master_offset) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("replicas did not catch up within {READY_WITHIN:?}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    fn alive(&self) -> Result<&RedisServer> {
        self.servers
            .iter()
            .find(|server| server.child.is_some())
            .context("no server of the cluster is running")
    }

    async fn wait_until_ok(&self) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let mut all_ok = true;
            for server in &self.servers {
                let mut conn = server.connection().await?;
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await?;
                all_ok &= info.contains("cluster_state:ok");
            }
            if all_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the redis cluster did not reach cluster_state:ok in {READY_WITHIN:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<Self> {
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
