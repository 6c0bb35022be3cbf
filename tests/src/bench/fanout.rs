//! The fan-out scenario: one publisher, N subscribers of one stream (or one
//! Redis channel), M messages of 256 bytes.
//!
//! # Method
//! 1. Open the N subscriptions (in batches, so the listen backlog is never
//!    the bottleneck) and wait, polling with a deadline, until the *server*
//!    counts all N: Malten's `GET /streams/X` `observers`, Redis's
//!    `PUBSUB NUMSUB`. Only then can no message be published to a
//!    subscriber that is not there yet.
//! 2. Start one task per subscriber, reading and recording every delivery
//!    (see [`Tally`]).
//! 3. Publish M messages over one connection, keeping at most `window`
//!    requests in flight (window 1 = strictly sequential: send, wait for the
//!    reply, send the next). Both systems go through [`publish`], so the
//!    pattern is the same by construction. Each payload is stamped with the
//!    time it is written to the socket. By default the publisher sends as
//!    fast as the replies come back (a saturation test); with `rate` it
//!    also never sends message `i` before `i / rate` seconds, to measure
//!    latency at a fixed load below saturation.
//! 4. Wait until every subscriber has all M messages, or for at most
//!    [`DRAIN`] after the last reply; whatever is missing then is lost.
//!    Connections stay open until every subscriber is done, so late readers
//!    are not disturbed by early ones leaving.
//!
//! Publish rate is M ÷ (last reply − first send); delivery rate is the
//! deliveries ÷ (last delivery − first send).

use std::future::Future;

use anyhow::{bail, ensure, Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout_at, Duration, Instant};

use super::http::HttpConn;
use super::payload::now_ns;
use super::process::{cpu_secs, machine_busy_secs, Server};
use super::progress;
use super::resp::{self, Publisher, Subscriber};
use super::sse::SseConn;
use super::stats::{summarize, Summary, Tally};

/// The stream (and Redis channel) the fan-out uses.
const STREAM: &str = "bench";
/// How long subscribers may take, after the last publish, to catch up.
pub const DRAIN: Duration = Duration::from_secs(15);
/// Connections opened at once: fewer than Malten's listen backlog (128),
/// so the client itself never overflows the accept queue.
pub const CONNECT_BATCH: usize = 100;
/// Pause between two readiness polls.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// A subscriber connection as the scenario drives it.
pub trait FeedConn: Send + 'static {
    /// Waits for bytes, then records every complete message they finish.
    /// Cancel-safe: only the socket read is awaited.
    fn read_some(&mut self, tally: &mut Tally) -> impl Future<Output = Result<()>> + Send;
}

/// A publisher connection that can pipeline requests.
pub trait PublishConn {
    /// Queues message `seq`, stamped with the current time.
    fn push(&mut self, seq: u64);
    /// Writes everything queued.
    fn flush(&mut self) -> impl Future<Output = Result<()>>;
    /// Waits for the reply to the oldest request in flight.
    fn read_ack(&mut self) -> impl Future<Output = Result<()>>;
}

/// The size of a fan-out run.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub subscribers: usize,
    pub messages: usize,
    pub window: usize,
    /// Publishers, each on its own connection and thread, posting their
    /// share of the messages at once (a busy chat room has many writers).
    pub publishers: usize,
    /// Messages per second to pace the publishers at, all together; `None`
    /// for as fast as the replies allow.
    pub rate: Option<f64>,
    /// The whole benchmark's deadline; no wait goes past it.
    pub deadline: Instant,
}

/// The figures of one fan-out run.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    pub system: &'static str,
    pub spec: Spec,
    pub publish_per_s: f64,
    pub deliveries_per_s: f64,
    /// From the first send to the last delivery.
    pub elapsed_s: f64,
    pub summary: Summary,
    /// CPU seconds the server used while publishing and delivering.
    pub server_cpu_s: f64,
    /// CPU seconds the benchmark itself used in the same span.
    pub client_cpu_s: f64,
    /// CPU seconds the rest of the machine was busy in the same span: kernel
    /// interrupt work for the loopback traffic, and any other process (a
    /// large figure means the run was disturbed).
    pub other_cpu_s: f64,
    /// Malten on Redis: the commands Redis ran per post over the run
    /// (posts, presence writes and heartbeats alike).
    pub redis_commands_per_post: Option<f64>,
    /// Malten on Redis: Redis's part of `server_cpu_s`.
    pub redis_cpu_s: Option<f64>,
}

/// Malten: N `GET /events` subscribers, `POST /messages` publisher.
pub async fn malten(server: &Server, spec: Spec) -> Result<FanoutResult> {
    let addr = server.addr;
    let subscribers = connect_all(spec.subscribers, spec.deadline, move |_| {
        SseConn::connect(addr, STREAM)
    })
    .await?;
    wait_until_counted("malten", addr, spec, Count::Exact).await?;
    let connect = move || async move { Ok(HttpConn::connect(addr).await?.publishing_to(STREAM)) };
    let (result, _publishers) = measure("malten", &[server], subscribers, connect, spec).await?;
    Ok(result)
}

/// Malten on several nodes sharing one Redis (docs/cluster.md): the
/// subscribers spread evenly over `nodes`, the publisher on the first. Every
/// node counts every subscriber (presence is shared), so readiness is
/// polled on the first. CPU is the sum over the nodes and `also` (Redis).
pub async fn malten_nodes(
    system: &'static str,
    nodes: &[&Server],
    also: &[&Server],
    spec: Spec,
) -> Result<FanoutResult> {
    let addrs: Vec<_> = nodes.iter().map(|node| node.addr).collect();
    ensure!(!addrs.is_empty(), "no node to measure");
    let spread = addrs.clone();
    let subscribers = connect_all(spec.subscribers, spec.deadline, move |index| {
        SseConn::connect(spread[index % spread.len()], STREAM)
    })
    .await?;
    let addr = addrs[0];
    wait_until_counted(system, addr, spec, Count::Shared).await?;
    let measured: Vec<&Server> = nodes.iter().chain(also).copied().collect();
    let mut redis_conns = Vec::new();
    for server in also {
        redis_conns.push(resp::connect(server.addr).await?);
    }
    let mut before = 0;
    for conn in &mut redis_conns {
        before += resp::commands_processed(conn).await?;
    }
    let redis_cpu = || -> Result<f64> { also.iter().map(|server| server.cpu_secs()).sum() };
    let redis_cpu_before = redis_cpu()?;
    let connect = move || async move { Ok(HttpConn::connect(addr).await?.publishing_to(STREAM)) };
    let (mut result, _publishers) = measure(system, &measured, subscribers, connect, spec).await?;
    let mut after = 0;
    for conn in &mut redis_conns {
        // Not counting this `INFO` itself.
        after += resp::commands_processed(conn).await? - 1;
    }
    if !redis_conns.is_empty() {
        result.redis_commands_per_post =
            Some(after.saturating_sub(before) as f64 / spec.messages as f64);
        result.redis_cpu_s = Some(redis_cpu()? - redis_cpu_before);
    }
    Ok(result)
}

/// How a node's count of the stream's subscribers may run on its way to
/// `spec.subscribers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// One node: a count above the expected one is an error at once.
    Exact,
    /// Presence shared through Redis: only the final count is checked.
    Shared,
}

/// Polls `addr`'s description of the stream until it counts every
/// subscriber, within the deadline.
async fn wait_until_counted(
    system: &str,
    addr: std::net::SocketAddr,
    spec: Spec,
    count: Count,
) -> Result<()> {
    let mut poll = HttpConn::connect(addr).await?;
    let path = format!("/streams/{STREAM}");
    let expected = spec.subscribers as u64;
    loop {
        let observers = poll.get_json(&path).await?["observers"]
            .as_u64()
            .context("no `observers` in the stream's description")?;
        if observers == expected {
            return Ok(());
        }
        ensure!(
            (count == Count::Shared || observers < expected) && Instant::now() < spec.deadline,
            "{system} counts {observers} subscribers, expected {expected}"
        );
        sleep(POLL_EVERY).await;
    }
}

/// Redis: N `SUBSCRIBE` connections, `PUBLISH` publisher.
pub async fn redis(server: &Server, spec: Spec) -> Result<FanoutResult> {
    let addr = server.addr;
    let subscribers = connect_all(spec.subscribers, spec.deadline, move |_| {
        Subscriber::connect(addr, STREAM)
    })
    .await?;
    let mut control = resp::connect(addr).await?;
    loop {
        let count = resp::numsub(&mut control, STREAM).await?;
        if count == spec.subscribers {
            break;
        }
        ensure!(
            count < spec.subscribers && Instant::now() < spec.deadline,
            "redis counts {count} subscribers, expected {}",
            spec.subscribers
        );
        sleep(POLL_EVERY).await;
    }
    let connect = move || Publisher::connect(addr, STREAM);
    let (result, publishers) = measure("redis", &[server], subscribers, connect, spec).await?;
    let expected = (spec.subscribers * spec.messages) as i64;
    let reached: i64 = publishers.iter().map(|publisher| publisher.reached).sum();
    if reached != expected {
        bail!("redis reported {reached} receivers over all PUBLISH replies, expected {expected}");
    }
    Ok(result)
}

/// Steps 2 to 4 of the method, the same for both systems. Returns the
/// publisher connection too, for checks on what it was told.
async fn measure<S, P, F, Fut>(
    system: &'static str,
    servers: &[&Server],
    subscribers: Vec<S>,
    connect_publisher: F,
    spec: Spec,
) -> Result<(FanoutResult, Vec<P>)>
where
    S: FeedConn,
    P: PublishConn + Send + 'static,
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<P>>,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for conn in subscribers {
        tasks.spawn(follow(conn, spec.messages, stop_rx.clone()));
    }
    let servers_cpu = || -> Result<f64> { servers.iter().map(|server| server.cpu_secs()).sum() };
    let server_cpu_before = servers_cpu()?;
    let client_cpu_before = cpu_secs("self")?;
    let machine_busy_before = machine_busy_secs()?;
    let mut publishing = Vec::new();
    for publisher in 0..spec.publishers.max(1) {
        publishing.push(publish_on_own_thread(
            connect_publisher.clone(),
            spec,
            publisher,
        ));
    }
    let mut first_send_ns = u64::MAX;
    let mut last_ack_ns = 0;
    let mut publishers = Vec::new();
    for outcome in futures_util::future::join_all(publishing).await {
        let (first, last, publisher) =
            outcome.with_context(|| format!("{system}: publishing failed"))?;
        first_send_ns = first_send_ns.min(first);
        last_ack_ns = last_ack_ns.max(last);
        publishers.push(publisher);
    }

    let drain_until = spec.deadline.min(Instant::now() + DRAIN);
    let mut tallies = Vec::with_capacity(spec.subscribers);
    let mut open = Vec::with_capacity(spec.subscribers);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => break,
                Some(joined) => {
                    let (tally, conn) = joined.context("a subscriber task panicked")?;
                    tallies.push(tally);
                    open.push(conn);
                }
            },
            () = sleep_until(drain_until), if !*stop_tx.borrow() => {
                progress(system, "drain deadline reached; stopping subscribers");
                stop_tx.send_replace(true);
            }
        }
    }
    let server_cpu_s = servers_cpu()? - server_cpu_before;
    let client_cpu_s = cpu_secs("self")? - client_cpu_before;
    let other_cpu_s = machine_busy_secs()? - machine_busy_before - server_cpu_s - client_cpu_s;
    drop(open);

    let summary = summarize(tallies);
    let seconds = |ns: u64| ns as f64 / 1e9;
    let publish_s = seconds(last_ack_ns.saturating_sub(first_send_ns)).max(1e-9);
    let elapsed_s = seconds(summary.last_received_ns.saturating_sub(first_send_ns)).max(1e-9);
    let result = FanoutResult {
        system,
        spec,
        publish_per_s: spec.messages as f64 / publish_s,
        deliveries_per_s: summary.deliveries as f64 / elapsed_s,
        elapsed_s,
        summary,
        server_cpu_s,
        client_cpu_s,
        other_cpu_s,
        redis_commands_per_post: None,
        redis_cpu_s: None,
    };
    Ok((result, publishers))
}

/// One subscriber: reads until it has every message or is told to stop.
/// Hands its connection back so it stays open until all are done.
pub async fn follow<S: FeedConn>(
    mut conn: S,
    expected: usize,
    mut stop: watch::Receiver<bool>,
) -> (Tally, S) {
    let mut tally = Tally::new(expected);
    while !tally.complete() {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = conn.read_some(&mut tally) => {
                if let Err(err) = read {
                    tally.error = Some(format!("{err:#}"));
                    break;
                }
            }
        }
    }
    (tally, conn)
}

/// Runs [`publish`] for publisher number `index` on a thread of its own,
/// with its own single-threaded runtime and its own connection: the
/// publisher then sends its next message as soon as the reply arrives,
/// instead of waiting its turn behind a thousand subscriber tasks of the
/// benchmark's main runtime.
async fn publish_on_own_thread<P, F, Fut>(
    connect: F,
    spec: Spec,
    index: usize,
) -> Result<(u64, u64, P)>
where
    P: PublishConn + Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<P>>,
{
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("publisher-{index}"))
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot build the publisher's runtime")
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let mut conn = timeout_at(spec.deadline, connect())
                            .await
                            .context("connecting overran the deadline")??;
                        let share = Share {
                            index,
                            of: spec.publishers.max(1),
                        };
                        let (first, last) = timeout_at(
                            spec.deadline,
                            publish(&mut conn, spec.messages, share, spec.window, spec.rate),
                        )
                        .await
                        .context("publishing overran the deadline")??;
                        Ok((first, last, conn))
                    })
                });
            let _ = done_tx.send(outcome);
        })
        .context("cannot start the publisher thread")?;
    done_rx.await.context("the publisher thread panicked")?
}

/// Which of a run's messages one publisher sends: every `of`-th, from
/// `index` on, so the publishers' sequence numbers never collide.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    pub index: usize,
    pub of: usize,
}

impl Share {
    /// How many of `messages` are this publisher's.
    fn count(self, messages: usize) -> usize {
        (messages + self.of - 1 - self.index.min(messages)) / self.of
    }
}

/// Publishes this publisher's `share` of `messages` with at most `window`
/// in flight, no faster than its share of `rate` per second if given;
/// returns the time of the first send and of the last reply.
pub async fn publish<P: PublishConn>(
    conn: &mut P,
    messages: usize,
    share: Share,
    window: usize,
    rate: Option<f64>,
) -> Result<(u64, u64)> {
    let window = window.max(1);
    let mine = share.count(messages);
    let started = Instant::now();
    let first_send_ns = now_ns();
    let (mut sent, mut acked) = (0, 0);
    while acked < mine {
        while sent < mine && sent - acked < window {
            if let Some(rate) = rate.filter(|r| *r > 0.0) {
                let due = started + Duration::from_secs_f64((sent * share.of) as f64 / rate);
                if due > Instant::now() {
                    // Send what is queued before waiting for the next slot.
                    conn.flush().await?;
                    sleep_until(due).await;
                }
            }
            conn.push((share.index + sent * share.of) as u64);
            sent += 1;
        }
        conn.flush().await?;
        conn.read_ack().await?;
        acked += 1;
    }
    Ok((first_send_ns, now_ns()))
}

/// Opens `count` connections, [`CONNECT_BATCH`] at a time.
pub async fn connect_all<C, F, Fut>(count: usize, deadline: Instant, connect: F) -> Result<Vec<C>>
where
    C: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<C>> + Send + 'static,
{
    let mut conns = Vec::with_capacity(count);
    for start in (0..count).step_by(CONNECT_BATCH) {
        let mut batch = JoinSet::new();
        for index in start..(start + CONNECT_BATCH).min(count) {
            batch.spawn(timeout_at(deadline, connect(index)));
        }
        while let Some(joined) = batch.join_next().await {
            let conn = joined
                .context("a connecting task panicked")?
                .context("connecting overran the deadline")?
                .with_context(|| format!("connection {} of {count} failed", conns.len() + 1))?;
            conns.push(conn);
        }
    }
    Ok(conns)
}
