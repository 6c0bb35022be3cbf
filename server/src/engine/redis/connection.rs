//! The command connection to Redis (one server or a cluster), with bounded
//! timeouts, latency and error counting, and the mapping of Redis failures
//! to [`EngineError`].
//!
//! # Why the timeouts are short
//! A post must answer `503 backend_unavailable` at once when Redis is gone,
//! not after the client library's default retries. The managed connection
//! reconnects by itself in the background; a call made while it is down
//! fails within [`CALL_TIMEOUT`] at most (at once when the connection is
//! refused), and calls succeed again as soon as Redis is back.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, ScriptInvocation, Value};
use tokio::time::Instant;

use crate::engine::EngineError;
use crate::metrics::Metrics;
use crate::store::StoreError;

/// Longest wait to open a TCP connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest wait for one reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest any engine call waits on Redis, reconnection included.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Where Redis is, as configured.
#[derive(Debug, Clone)]
pub struct Settings {
    /// One URL, or the cluster's seed nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
}

impl Settings {
    /// `--redis-url` (comma-separated when several) and `--redis-cluster`.
    pub fn parse(raw: &str, cluster: bool) -> Self {
        let urls = raw
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        Self { urls, cluster }
    }
}

/// A command connection: cheap to clone (both kinds multiplex one socket
/// per Redis server among all clones).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Conn::Single",
            Self::Cluster(_) => "Conn::Cluster",
        })
    }
}

impl Conn {
    /// Opens the connection; fails if Redis cannot be reached now.
    pub async fn open(settings: &Settings) -> Result<Self, RedisError> {
        if settings.cluster {
            let client = redis::cluster::ClusterClient::builder(settings.urls.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(1)
                .build()?;
            return Ok(Self::Cluster(client.get_async_connection().await?));
        }
        let url = settings.urls.first().map_or("", String::as_str);
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The command connection with its metrics: every call is timed, bounded
/// and mapped to [`EngineError`].
#[derive(Debug, Clone)]
pub struct Backend {
    conn: Conn,
    metrics: Arc<Metrics>,
}

impl Backend {
    pub fn new(conn: Conn, metrics: Arc<Metrics>) -> Self {
        Self { conn, metrics }
    }

    /// Runs a script.
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, EngineError> {
        let mut conn = self.conn.clone();
        self.timed(invocation.invoke_async(&mut conn)).await
    }

    /// Runs one command.
    pub async fn cmd<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, EngineError> {
        let mut conn = self.conn.clone();
        self.timed(cmd.query_async(&mut conn)).await
    }

    /// Runs a pipeline (in a cluster, each command goes to its shard).
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, EngineError> {
        let mut conn = self.conn.clone();
        self.timed(pipe.query_async(&mut conn)).await
    }

    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, EngineError> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(CALL_TIMEOUT, call).await;
        self.metrics
            .backend_latency
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.failed(err)),
            Err(_elapsed) => {
                self.metrics.backend_errors.inc();
                tracing::warn!(timeout = ?CALL_TIMEOUT, "redis call timed out");
                Err(EngineError::Unavailable(
                    "redis did not answer in time".into(),
                ))
            }
        }
    }

    fn failed(&self, err: RedisError) -> EngineError {
        if err.code() == Some("OOM") {
            // `maxmemory` reached with `noeviction`: the budget is full, as
            // `memory_full` says on one node.
            return EngineError::Refused(StoreError::MemoryFull);
        }
        self.metrics.backend_errors.inc();
        tracing::warn!(error = %err, "redis call failed");
        EngineError::Unavailable(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_split_a_list_of_seed_nodes() {
        let settings = Settings::parse(" redis://a:1 ,redis://b:2,, ", true);
        assert_eq!(settings.urls, ["redis://a:1", "redis://b:2"]);
        assert!(settings.cluster);
    }
}
