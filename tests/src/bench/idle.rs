//! The idle-connections scenario: what K open, quiet subscriptions cost the
//! server in memory.
//!
//! Malten is measured twice, each time on a fresh server process: K idle
//! SSE subscribers, then K idle WebSocket subscribers. Not on one server,
//! since the memory the SSE connections freed stays with the allocator and
//! would hide part of the WebSocket cost; and not at once, since the
//! benchmark holds both ends of every connection within one open-file
//! limit.
//!
//! # Method
//! 1. Start a fresh server and read its resident memory (`VmRSS` of
//!    `/proc/<pid>/status`) once it answers requests.
//! 2. Open K subscriptions spread evenly over S streams (Redis: S channels),
//!    in batches; each then reads and discards whatever arrives (presence
//!    events, keep-alives), as an idle client does.
//! 3. Poll, with a deadline, until the server counts all K: Malten's
//!    `/metrics` `malten_subscribers`, Redis's `PUBSUB NUMSUB` summed over
//!    the channels.
//! 4. Read `VmRSS` again. The cost of one idle connection is the difference
//!    divided by K. `VmHWM` (the peak) is reported too, since opening K
//!    connections at once may have used more than holding them does.
//! 5. Wake them all: post one message to each of the S streams, and time
//!    how long until every one of the K subscribers has it (publish to
//!    receive, per subscriber; any that never gets it counts as lost).

use anyhow::{ensure, Context, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, Duration, Instant};

use super::fanout::{connect_all, follow, publish, FeedConn, PublishConn, Share, POLL_EVERY};
use super::http::HttpConn;
use super::process::Server;
use super::progress;
use super::resp::{self, Publisher, Subscriber};
use super::sse::SseConn;
use super::stats::{summarize, Summary, Tally};
use super::websocket::WsConn;

/// The size of an idle run.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub connections: usize,
    pub streams: usize,
    pub deadline: Instant,
}

/// The figures of one idle run.
#[derive(Debug, Clone)]
pub struct IdleResult {
    pub system: &'static str,
    pub spec: Spec,
    pub rss_before: u64,
    pub rss_after: u64,
    pub peak: u64,
    /// Seconds from the first connect until the server counted all K.
    pub connect_s: f64,
    /// CPU seconds the server spent in that time.
    pub connect_cpu_s: f64,
    /// Step 5: one post to every stream, received by every subscriber?
    pub wake: Summary,
}

impl IdleResult {
    /// Resident bytes per idle connection.
    pub fn per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.spec.connections.max(1) as f64
    }
}

fn stream_of(index: usize, spec: &Spec) -> String {
    format!("idle-{}", index % spec.streams.max(1))
}

/// How an idle Malten subscriber is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `GET /events` as Server-Sent Events.
    Sse,
    /// `GET /events` upgraded to a WebSocket.
    WebSocket,
}

impl Transport {
    /// The system's name in the report and the charts.
    pub fn system(self) -> &'static str {
        match self {
            Transport::Sse => "malten",
            Transport::WebSocket => "malten websocket",
        }
    }
}

/// K idle `GET /events` connections to Malten, over `transport`.
pub async fn malten(server: &Server, spec: Spec, transport: Transport) -> Result<IdleResult> {
    match transport {
        Transport::Sse => {
            malten_over(
                server,
                spec,
                transport.system(),
                |addr, stream| async move { SseConn::connect(addr, &stream).await },
            )
            .await
        }
        Transport::WebSocket => {
            malten_over(
                server,
                spec,
                transport.system(),
                |addr, stream| async move { WsConn::connect(addr, &stream).await },
            )
            .await
        }
    }
}

async fn malten_over<C, F, Fut>(
    server: &Server,
    spec: Spec,
    system: &'static str,
    connect: F,
) -> Result<IdleResult>
where
    C: FeedConn,
    F: Fn(std::net::SocketAddr, String) -> Fut + Copy,
    Fut: std::future::Future<Output = Result<C>> + Send + 'static,
{
    let addr = server.addr;
    let mut poll = HttpConn::connect(addr).await?;
    subscribers_counted(&mut poll).await?;
    let rss_before = server.rss_bytes()?;
    let cpu_before = server.cpu_secs()?;
    let started = Instant::now();
    let conns = connect_all(spec.connections, spec.deadline, move |i| {
        connect(addr, stream_of(i, &spec))
    })
    .await?;
    progress(
        system,
        &format!(
            "{} connections open after {:.2} s",
            conns.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    let (stop, followers) = follow_all(conns);
    loop {
        let counted = subscribers_counted(&mut poll).await?;
        if counted == spec.connections as u64 {
            break;
        }
        ensure!(
            Instant::now() < spec.deadline,
            "{system} counts {counted} of {} idle subscribers at the deadline",
            spec.connections
        );
        sleep(POLL_EVERY).await;
    }
    let mut result = finish(system, server, spec, (rss_before, cpu_before), started)?;
    let publish_to = move |stream: String| async move {
        Ok(HttpConn::connect(addr).await?.publishing_to(&stream))
    };
    result.wake = wake(system, spec, publish_to, stop, followers).await?;
    Ok(result)
}

/// Every connection follows its stream until it has one message.
fn follow_all<S: FeedConn>(conns: Vec<S>) -> (watch::Sender<bool>, JoinSet<(Tally, S)>) {
    let (stop, stop_rx) = watch::channel(false);
    let mut followers = JoinSet::new();
    for conn in conns {
        followers.spawn(follow(conn, 1, stop_rx.clone()));
    }
    (stop, followers)
}

/// Step 5: one post to each stream, then every follower's tally.
async fn wake<P, F, Fut>(
    system: &str,
    spec: Spec,
    publish_to: F,
    stop: watch::Sender<bool>,
    mut followers: JoinSet<(Tally, impl Send + 'static)>,
) -> Result<Summary>
where
    P: PublishConn,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<P>>,
{
    let mut publishers = Vec::new();
    for stream in 0..spec.streams.max(1) {
        publishers.push(publish_to(format!("idle-{stream}")).await?);
    }
    for publisher in &mut publishers {
        publish(publisher, 1, Share { index: 0, of: 1 }, 1, None).await?;
    }
    let give_up = spec.deadline.min(Instant::now() + WAKE_WITHIN);
    let mut tallies = Vec::new();
    let mut conns = Vec::new();
    loop {
        tokio::select! {
            joined = followers.join_next() => match joined {
                None => break,
                Some(joined) => {
                    let (tally, conn) = joined.context("a follower panicked")?;
                    tallies.push(tally);
                    conns.push(conn);
                }
            },
            () = sleep_until(give_up), if !*stop.borrow() => {
                progress(system, "not every idle subscriber was woken in time");
                stop.send_replace(true);
            }
        }
    }
    drop(conns);
    let summary = summarize(tallies);
    progress(
        system,
        &format!(
            "woken: {} of {} idle subscribers got their stream's post; p99 {:.1} ms, max {:.1} ms",
            summary.deliveries,
            spec.connections,
            summary.p99_ns as f64 / 1e6,
            summary.max_ns as f64 / 1e6
        ),
    );
    Ok(summary)
}

/// How long step 5 waits for the last subscriber before counting the rest
/// as lost.
const WAKE_WITHIN: Duration = Duration::from_secs(30);

/// `malten_subscribers` from `/metrics`.
async fn subscribers_counted(poll: &mut HttpConn) -> Result<u64> {
    let response = poll.get("/metrics").await?;
    ensure!(
        response.status == 200,
        "GET /metrics answered {}",
        response.status
    );
    let text = String::from_utf8_lossy(&response.body);
    text.lines()
        .find_map(|line| line.strip_prefix("malten_subscribers "))
        .and_then(|value| value.trim().parse().ok())
        .context("no malten_subscribers in /metrics")
}

/// K idle `SUBSCRIBE` connections to Redis.
pub async fn redis(server: &Server, spec: Spec) -> Result<IdleResult> {
    let addr = server.addr;
    let mut control = resp::connect(addr).await?;
    resp::numsub(&mut control, "idle-0").await?;
    let rss_before = server.rss_bytes()?;
    let cpu_before = server.cpu_secs()?;
    let started = Instant::now();
    let conns = connect_all(spec.connections, spec.deadline, move |i| {
        let channel = stream_of(i, &spec);
        async move { Subscriber::connect(addr, &channel).await }
    })
    .await?;
    let (stop, followers) = follow_all(conns);
    loop {
        let mut counted = 0;
        for stream in 0..spec.streams.max(1) {
            counted += resp::numsub(&mut control, &format!("idle-{stream}")).await?;
        }
        if counted == spec.connections {
            break;
        }
        ensure!(
            Instant::now() < spec.deadline,
            "redis counts {counted} of {} idle subscribers at the deadline",
            spec.connections
        );
        sleep(POLL_EVERY).await;
    }
    let mut result = finish("redis", server, spec, (rss_before, cpu_before), started)?;
    let publish_to = move |channel: String| async move { Publisher::connect(addr, &channel).await };
    result.wake = wake("redis", spec, publish_to, stop, followers).await?;
    Ok(result)
}

fn finish(
    system: &'static str,
    server: &Server,
    spec: Spec,
    (rss_before, cpu_before): (u64, f64),
    started: Instant,
) -> Result<IdleResult> {
    let connect_s = started.elapsed().as_secs_f64();
    let connect_cpu_s = server.cpu_secs()? - cpu_before;
    let rss_after = server.rss_bytes()?;
    let peak = server.peak_rss_bytes()?;
    progress(
        system,
        &format!(
            "{} idle subscribers counted after {connect_s:.2} s; RSS {:.1} -> {:.1} MiB",
            spec.connections,
            rss_before as f64 / 1048576.0,
            rss_after as f64 / 1048576.0
        ),
    );
    Ok(IdleResult {
        system,
        spec,
        rss_before,
        rss_after,
        peak,
        connect_s,
        connect_cpu_s,
        wake: Summary::default(),
    })
}
