//! `malten-bench`: Malten's fan-out throughput and latency, and the memory
//! cost of idle subscribers, against Redis pub/sub in the same run; and the
//! scale-out fan-out (one node in memory, one and three nodes on Redis).
//!
//! ```text
//! cargo build --release -p malten-server -p malten-tests
//! target/release/malten-bench            # full size, about a minute
//! target/release/malten-bench --quick    # smoke run, a few seconds
//! target/release/malten-bench --only-idle --skip-redis  # idle memory only
//! ```
//!
//! It builds nothing: it runs `target/release/malten` (found next to its own
//! executable) and `redis-server` from `PATH`, each a fresh process per
//! scenario, all on 127.0.0.1, all killed on exit, error or Ctrl-C. Progress
//! goes to stderr, the Markdown report to stdout. The exit status is 0 when
//! every message arrived exactly once, 1 when one was lost or duplicated,
//! 2 on error. The method is described in `malten_tests::bench` and in
//! `docs/benchmarks.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use malten_tests::bench::process::start_malten_with;
use malten_tests::bench::process::{check_redis, locate_malten, start_malten, start_redis};
use malten_tests::bench::process::{machine_busy_secs, Server, STARTUP_TIMEOUT};
use malten_tests::bench::report::{Machine, Results, TARGET_DELIVERY_RATIO};
use malten_tests::bench::{fanout, idle, payload, progress};
use tokio::time::{timeout_at, Instant};

/// Malten's fan-out and idle-connection benchmark, with Redis as the peer.
#[derive(Debug, Parser)]
#[command(name = "malten-bench", about, long_about = None)]
struct Args {
    /// SSE subscribers (and Redis subscribers) of the fan-out stream
    /// [default: 1000; --quick: 50].
    #[arg(long)]
    subscribers: Option<usize>,
    /// Messages published in the fan-out [default: 2000; --quick: 200].
    #[arg(long)]
    messages: Option<usize>,
    /// Publish requests in flight at once on the one publisher connection;
    /// 1 is strictly sequential.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Concurrent publishers, each on its own connection, sharing the
    /// messages (and the --rate) between them.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Pace the publisher at this many messages per second, to measure
    /// latency below saturation [default: as fast as replies come back].
    #[arg(long)]
    rate: Option<f64>,
    /// Idle connections held at once: SSE, then WebSocket (each on a
    /// fresh server), and idle Redis subscribers [default: 10000;
    /// --quick: 500].
    #[arg(long)]
    idle: Option<usize>,
    /// Streams the idle connections are spread over.
    #[arg(long, default_value_t = 100)]
    idle_streams: usize,
    /// Run the idle-connection scenarios only (no fan-out).
    #[arg(long)]
    only_idle: bool,
    /// Measure Malten only.
    #[arg(long)]
    skip_redis: bool,
    /// Skip the equal-load fan-out (both publishers paced at half of
    /// Redis's unpaced deliveries/s), which runs when Redis is measured and
    /// no --rate is given.
    #[arg(long)]
    skip_paced: bool,
    /// Skip the scale-out fan-out (one node in memory, one node on Redis,
    /// three nodes on Redis, Redis pub/sub), which runs when Redis is
    /// measured.
    #[arg(long)]
    skip_cluster: bool,
    /// Also draw the results as SVG charts into this directory
    /// (`make bench` uses docs/bench).
    #[arg(long)]
    charts: Option<PathBuf>,
    /// Small sizes, for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Give up after this many seconds in all.
    #[arg(long, default_value_t = 600)]
    deadline_secs: u64,
    /// The Malten server binary [default: `malten` next to this executable].
    /// A wrapper script must `exec` the server: its pid is the one measured
    /// and killed.
    #[arg(long)]
    malten_bin: Option<PathBuf>,
    /// The Redis server binary.
    #[arg(long, default_value = "redis-server")]
    redis_bin: String,
}

impl Args {
    fn size(&self, explicit: Option<usize>, full: usize, quick: usize) -> usize {
        explicit.unwrap_or(if self.quick { quick } else { full })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    payload::now_ns(); // starts the benchmark clock
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("malten-bench: messages were lost or duplicated");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("malten-bench: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs every scenario and prints the report; `Ok(false)` if a message was
/// lost or duplicated.
async fn run(args: Args) -> Result<bool> {
    let subscribers = args.size(args.subscribers, 1000, 50);
    let messages = args.size(args.messages, 2000, 200);
    let idle_connections = args.size(args.idle, 10_000, 500);
    ensure!(subscribers > 0 && messages > 0, "nothing to measure");
    check_open_files(subscribers.max(idle_connections))?;
    let malten_bin = locate_malten(args.malten_bin.as_deref())?;
    let redis_version = if args.skip_redis {
        None
    } else {
        Some(check_redis(&args.redis_bin)?)
    };
    let mut machine = Machine::detect(redis_version);
    machine.background_cores = Some(background_load().await?);
    eprintln!("{}", machine.line());
    if machine.background_cores.unwrap_or(0.0) > 0.1 {
        eprintln!(
            "malten-bench: warning: the machine is busy with other work; figures will be noisy"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    let fanout_spec = fanout::Spec {
        subscribers,
        messages,
        window: args.window,
        publishers: args.publishers.max(1),
        rate: args.rate,
        deadline,
    };
    let idle_spec = idle::Spec {
        connections: idle_connections,
        streams: args.idle_streams.max(1),
        deadline,
    };
    let redis_bin = (!args.skip_redis).then_some(args.redis_bin.as_str());
    let paced = !args.skip_paced && args.rate.is_none();
    let cluster = !args.skip_cluster;
    let plan = Plan {
        fanout: !args.only_idle,
        paced: paced && !args.only_idle,
        cluster: cluster && !args.only_idle,
    };
    let scenarios = scenarios(&malten_bin, redis_bin, fanout_spec, plan, idle_spec);
    // Dropping the scenarios (deadline or signal) drops the servers, which
    // kills them.
    let results = tokio::select! {
        outcome = timeout_at(deadline, scenarios) => outcome
            .with_context(|| format!("the benchmark overran its {} s deadline", args.deadline_secs))??,
        signal = interrupted() => bail!("stopped by {signal}"),
    };
    print!("{}", results.markdown(&machine));
    if let Some(dir) = &args.charts {
        let written = malten_tests::bench::charts::write_all(dir, &results)?;
        progress(
            "charts",
            &format!("{} written to {}", written.join(", "), dir.display()),
        );
    }
    Ok(results.delivered_exactly_once())
}

/// Which fan-out scenarios run (`--only-idle` skips them all).
#[derive(Debug, Clone, Copy)]
struct Plan {
    fanout: bool,
    paced: bool,
    cluster: bool,
}

/// Fan-out, then idle connections; Malten, then Redis; a fresh server each.
async fn scenarios(
    malten_bin: &std::path::Path,
    redis_bin: Option<&str>,
    fanout_spec: fanout::Spec,
    plan: Plan,
    idle_spec: idle::Spec,
) -> Result<Results> {
    let mut results = Results::default();
    let startup = || fanout_spec.deadline.min(Instant::now() + STARTUP_TIMEOUT);

    if plan.fanout {
        results.fanout = fanout_both(malten_bin, redis_bin, fanout_spec).await?;
    }
    let redis_rate = results
        .fanout
        .iter()
        .find(|r| r.system == "redis")
        .map(|r| r.deliveries_per_s);
    if let Some(redis_rate) = redis_rate.filter(|_| plan.paced) {
        // Half of Redis's saturated delivery rate, as messages per second;
        // 15 s worth of messages, at most as many as the unpaced run.
        let rate = TARGET_DELIVERY_RATIO * redis_rate / fanout_spec.subscribers as f64;
        let messages = ((rate * 15.0).ceil() as usize).clamp(1, fanout_spec.messages);
        let spec = fanout::Spec {
            rate: Some(rate),
            messages,
            ..fanout_spec
        };
        results.paced = fanout_both(malten_bin, redis_bin, spec).await?;
    }

    if let Some(redis_bin) = redis_bin.filter(|_| plan.cluster) {
        results.cluster = cluster_run(malten_bin, redis_bin, fanout_spec).await?;
    }

    if idle_spec.connections > 0 {
        let idle_size = format!(
            "idle: {} connections over {} streams",
            idle_spec.connections, idle_spec.streams
        );
        // Room for the idle subscribers and one publisher per stream.
        let clients = idle_spec.connections + idle_spec.streams;
        // One after the other, a fresh server each (`bench::idle`).
        for transport in [idle::Transport::Sse, idle::Transport::WebSocket] {
            progress(transport.system(), &idle_size);
            let server = start_malten(malten_bin, clients, startup()).await?;
            let outcome = idle::malten(&server, idle_spec, transport).await;
            results.idle.push(stop_after(server, outcome).await?);
        }
        if let Some(redis_bin) = redis_bin {
            progress("redis", &idle_size);
            let server = start_redis(redis_bin, clients, startup()).await?;
            let outcome = idle::redis(&server, idle_spec).await;
            results.idle.push(stop_after(server, outcome).await?);
        }
    }
    Ok(results)
}

/// The fan-out of `spec` against Malten, then Redis; a fresh server each.
async fn fanout_both(
    malten_bin: &std::path::Path,
    redis_bin: Option<&str>,
    spec: fanout::Spec,
) -> Result<Vec<fanout::FanoutResult>> {
    let startup = || spec.deadline.min(Instant::now() + STARTUP_TIMEOUT);
    let pace = spec
        .rate
        .map_or_else(|| "unpaced".to_owned(), |r| format!("paced at {r:.1}/s"));
    let size = format!(
        "fan-out: {} subscribers, {} messages, window {}, {pace}",
        spec.subscribers, spec.messages, spec.window
    );
    let mut results = Vec::new();
    progress("malten", &size);
    let server = start_malten(malten_bin, spec.subscribers, startup()).await?;
    let outcome = fanout::malten(&server, spec).await;
    results.push(stop_after(server, outcome).await?);
    if let Some(redis_bin) = redis_bin {
        progress("redis", &size);
        let server = start_redis(redis_bin, spec.subscribers, startup()).await?;
        let outcome = fanout::redis(&server, spec).await;
        results.push(stop_after(server, outcome).await?);
    }
    Ok(results)
}

/// The scale-out fan-out (docs/cluster.md): the same `spec` on one node in
/// memory, one node on Redis, three nodes on one Redis (subscribers spread
/// over them), and Redis pub/sub itself; fresh processes for each.
async fn cluster_run(
    malten_bin: &std::path::Path,
    redis_bin: &str,
    spec: fanout::Spec,
) -> Result<Vec<fanout::FanoutResult>> {
    let startup = || spec.deadline.min(Instant::now() + STARTUP_TIMEOUT);
    let size = format!(
        "scale-out: {} subscribers, {} messages, window {}",
        spec.subscribers, spec.messages, spec.window
    );
    let mut results = Vec::new();
    progress("malten", &size);
    let server = start_malten(malten_bin, spec.subscribers, startup()).await?;
    let outcome = fanout::malten(&server, spec).await;
    results.push(stop_after(server, outcome).await?);
    for (system, count) in [("malten on redis", 1), ("3 × malten on redis", 3)] {
        progress(system, &size);
        let redis = start_redis(redis_bin, 100, startup()).await?;
        let url = format!("redis://{}", redis.addr);
        let mut nodes = Vec::new();
        for _ in 0..count {
            let extra = ["--redis-url", url.as_str()];
            nodes.push(start_malten_with(malten_bin, spec.subscribers, startup(), &extra).await?);
        }
        let refs: Vec<&Server> = nodes.iter().collect();
        let outcome = fanout::malten_nodes(system, &refs, &[&redis], spec).await;
        let mut nodes = nodes.into_iter();
        let first = nodes.next().context("no node")?;
        let outcome = stop_after(first, outcome).await;
        for node in nodes {
            node.stop().await?;
        }
        redis.stop().await?;
        results.push(outcome?);
    }
    progress("redis", &size);
    let server = start_redis(redis_bin, spec.subscribers, startup()).await?;
    let outcome = fanout::redis(&server, spec).await;
    results.push(stop_after(server, outcome).await?);
    Ok(results)
}

/// Stops `server`; on failure, adds its last output to the error.
async fn stop_after<T>(server: Server, outcome: Result<T>) -> Result<T> {
    let outcome = outcome.with_context(|| {
        format!(
            "{} failed; its last output:\n{}",
            server.name,
            server.tail()
        )
    });
    server.stop().await?;
    outcome
}

/// Cores' worth of CPU the machine spends busy over one second while the
/// benchmark does nothing.
async fn background_load() -> Result<f64> {
    const WINDOW: Duration = Duration::from_secs(1);
    let before = machine_busy_secs()?;
    tokio::time::sleep(WINDOW).await;
    Ok((machine_busy_secs()? - before) / WINDOW.as_secs_f64())
}

/// Both this process and each server hold one socket per connection, and
/// both inherit this process's open-files limit.
fn check_open_files(connections: usize) -> Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    if let Some(soft) = soft {
        ensure!(
            connections + 200 <= soft,
            "{connections} connections need more open files than the limit of {soft} \
             (`ulimit -n`); ask for fewer with --idle / --subscribers"
        );
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM, naming the signal.
async fn interrupted() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        Some(()) = async { term.as_mut()?.recv().await } => "SIGTERM",
    }
}
