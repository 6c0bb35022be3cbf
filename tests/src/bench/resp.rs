//! The Redis side of the benchmark, through the `redis` crate (tokio): a
//! `SUBSCRIBE` connection per subscriber, one multiplexed connection for
//! pipelined `PUBLISH`, another for `PUBSUB NUMSUB`.
//!
//! What is measured is what it was with the hand-written RESP client this
//! replaces: every subscriber its own connection; the publisher one
//! connection with up to `window` `PUBLISH` requests in flight, in order;
//! each payload stamped just before it is handed to the connection and
//! again when its subscriber's task reads it. The crate adds one in-process
//! hop on each side (its connections are driven by a task of their own that
//! hands messages over through a channel); a subscriber therefore records
//! every message already waiting in that channel with the time it woke up,
//! as the raw client recorded every message in one socket read.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::{Context, Result};
use futures_util::{FutureExt, Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::{Client, Msg, RedisResult};
use tokio::task::JoinHandle;

use super::fanout::{FeedConn, PublishConn};
use super::payload::{encode_into, now_ns, PAYLOAD_LEN};
use super::stats::Tally;

fn client(addr: SocketAddr) -> Result<Client> {
    Client::open(format!("redis://{addr}/")).context("bad redis address")
}

/// A connection for commands: `PUBSUB NUMSUB`, `PUBLISH`.
pub async fn connect(addr: SocketAddr) -> Result<MultiplexedConnection> {
    client(addr)?
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("cannot connect to redis at {addr}"))
}

/// Subscribers of `channel`, by `PUBSUB NUMSUB`.
pub async fn numsub(conn: &mut MultiplexedConnection, channel: &str) -> Result<usize> {
    let (_, count): (String, usize) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(conn)
        .await
        .context("PUBSUB NUMSUB failed")?;
    Ok(count)
}

/// Commands the server has run since it started (`INFO stats`,
/// `total_commands_processed`; this `INFO` included).
pub async fn commands_processed(conn: &mut MultiplexedConnection) -> Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .context("INFO stats failed")?;
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .context("no total_commands_processed in INFO stats")
}

/// One `SUBSCRIBE` connection.
pub struct Subscriber {
    messages: Pin<Box<dyn Stream<Item = Msg> + Send>>,
}

impl Subscriber {
    /// Connects and subscribes to `channel`, waiting for the confirmation.
    pub async fn connect(addr: SocketAddr, channel: &str) -> Result<Self> {
        let mut pubsub = client(addr)?
            .get_async_pubsub()
            .await
            .with_context(|| format!("cannot connect to redis at {addr}"))?;
        pubsub
            .subscribe(channel)
            .await
            .context("SUBSCRIBE failed")?;
        Ok(Self {
            messages: Box::pin(pubsub.into_on_message()),
        })
    }

    /// Reads and discards whatever arrives until the connection closes:
    /// what an idle subscriber does between messages.
    pub async fn drain(mut self) {
        while self.messages.next().await.is_some() {}
    }
}

impl FeedConn for Subscriber {
    async fn read_some(&mut self, tally: &mut Tally) -> Result<()> {
        let first = self
            .messages
            .next()
            .await
            .context("redis closed the subscription")?;
        let received_ns = now_ns();
        tally.message(first.get_payload_bytes(), received_ns);
        while let Some(Some(message)) = self.messages.next().now_or_never() {
            tally.message(message.get_payload_bytes(), received_ns);
        }
        Ok(())
    }
}

/// The publisher: `PUBLISH` requests pipelined on one connection.
pub struct Publisher {
    conn: MultiplexedConnection,
    channel: String,
    /// Requests handed to the connection, oldest first. Each is a task so
    /// that it reaches the connection (in order) without waiting for the
    /// replies before it.
    in_flight: VecDeque<JoinHandle<RedisResult<i64>>>,
    /// Subscribers each `PUBLISH` reached, summed, to check the fan-out.
    pub reached: i64,
}

impl Publisher {
    pub async fn connect(addr: SocketAddr, channel: &str) -> Result<Self> {
        Ok(Self {
            conn: connect(addr).await?,
            channel: channel.to_owned(),
            in_flight: VecDeque::new(),
            reached: 0,
        })
    }
}

impl PublishConn for Publisher {
    fn push(&mut self, seq: u64) {
        let mut payload = Vec::with_capacity(PAYLOAD_LEN);
        encode_into(&mut payload, seq, now_ns());
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&self.channel).arg(payload);
        let mut conn = self.conn.clone();
        self.in_flight.push_back(tokio::spawn(
            async move { publish.query_async(&mut conn).await },
        ));
    }

    async fn flush(&mut self) -> Result<()> {
        // Let the requests just queued reach the connection.
        tokio::task::yield_now().await;
        Ok(())
    }

    async fn read_ack(&mut self) -> Result<()> {
        let oldest = self.in_flight.pop_front().context("no PUBLISH in flight")?;
        let reached = oldest
            .await
            .context("a PUBLISH task panicked")?
            .context("PUBLISH failed")?;
        self.reached += reached;
        Ok(())
    }
}
