//! The machine the figures were taken on, and the Markdown they are printed
//! as (to stdout, ready to paste into the README or `docs/benchmarks.md`).

use std::fmt::Write as _;

use super::fanout::FanoutResult;
use super::idle::IdleResult;
use super::process::workspace_root;

/// Fan-out deliveries per second must reach this share of Redis's.
pub const TARGET_DELIVERY_RATIO: f64 = 0.5;
/// Fan-out p99 latency must stay at or under this, in milliseconds.
pub const TARGET_P99_MS: f64 = 20.0;
/// Server memory per idle SSE connection must stay at or under this.
pub const TARGET_IDLE_BYTES: f64 = 16.0 * 1024.0;
/// Issue 17: at most this much server memory per idle SSE connection and
/// per idle WebSocket, 10,000 of each.
pub const TARGET_IDLE_BYTES_ISSUE_17: f64 = 8.0 * 1024.0;

/// What the figures depend on besides the code.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub malten_commit: String,
    pub redis_version: Option<String>,
    /// Cores' worth of CPU the machine was busy with just before the run,
    /// when nothing of the benchmark was running yet: other work that will
    /// disturb the figures.
    pub background_cores: Option<f64>,
}

impl Machine {
    /// Reads `/proc` and asks git which commit the server was built from.
    pub fn detect(redis_version: Option<String>) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            malten_commit: git_commit().unwrap_or_else(|| "unknown".to_owned()),
            redis_version: redis_version.map(|v| short_redis_version(&v)),
            background_cores: None,
        }
    }

    /// One line naming the machine and the versions.
    pub fn line(&self) -> String {
        let redis = self.redis_version.as_deref().unwrap_or("not run");
        let background = self.background_cores.map_or_else(String::new, |cores| {
            format!(" Other load just before the run: {cores:.2} cores busy.")
        });
        format!(
            "Machine: {}, {} cores, {:.1} GiB RAM, Linux {}; malten {}, redis-server {}; \
             client and servers share the machine.{background}",
            self.cpu, self.cores, self.memory_gib, self.kernel, self.malten_commit, redis
        )
    }
}

/// The workspace's commit, with `-dirty` if tracked files changed.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(workspace_root())
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// `Redis server v=7.0.15 sha=...` becomes `7.0.15`.
fn short_redis_version(full: &str) -> String {
    full.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .unwrap_or(full)
        .to_owned()
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Results {
    /// The fan-out as the flags ask: unpaced unless `--rate` was given.
    pub fanout: Vec<FanoutResult>,
    /// The fan-out again, both systems paced at the same rate, derived from
    /// Redis's unpaced deliveries/s: latency at equal load.
    pub paced: Vec<FanoutResult>,
    /// The scale-out run (docs/cluster.md): one node in memory, one node on
    /// Redis, three nodes on Redis, and Redis pub/sub, same fan-out each.
    pub cluster: Vec<FanoutResult>,
    pub idle: Vec<IdleResult>,
}

impl Results {
    fn fanout_of(&self, system: &str) -> Option<&FanoutResult> {
        self.fanout.iter().find(|r| r.system == system)
    }

    fn paced_of(&self, system: &str) -> Option<&FanoutResult> {
        self.paced.iter().find(|r| r.system == system)
    }

    fn idle_of(&self, system: &str) -> Option<&IdleResult> {
        self.idle.iter().find(|r| r.system == system)
    }

    /// No message lost, damaged or duplicated in any fan-out run, and every
    /// idle subscriber woken.
    pub fn delivered_exactly_once(&self) -> bool {
        self.fanout
            .iter()
            .chain(&self.paced)
            .chain(&self.cluster)
            .all(|r| !r.summary.any_loss() && r.summary.duplicates == 0)
            && self.idle.iter().all(|r| !r.wake.any_loss())
    }

    /// The whole report as Markdown.
    pub fn markdown(&self, machine: &Machine) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", machine.line());
        fanout_table(&mut out, &self.fanout, "Fan-out");
        fanout_table(
            &mut out,
            &self.paced,
            "Fan-out at equal load (both publishers paced at half of Redis's deliveries/s above)",
        );
        fanout_table(
            &mut out,
            &self.cluster,
            "Scale-out (docs/cluster.md): one node in memory, one node on Redis, three nodes on \
             Redis with the subscribers spread over them (publisher on the first), and Redis \
             pub/sub itself; server CPU sums every node and Redis",
        );
        self.idle_table(&mut out);
        self.targets_table(&mut out);
        out
    }

    fn idle_table(&self, out: &mut String) {
        let Some(first) = self.idle.first() else {
            return;
        };
        let _ = writeln!(
            out,
            "Idle subscribers: {} connections over {} streams (Malten: SSE, then WebSocket, \
             each on a fresh server; Redis: SUBSCRIBE), server RSS before and after.\n",
            first.spec.connections, first.spec.streams
        );
        let _ = writeln!(
            out,
            "| system | connections | RSS before MiB | RSS after MiB | peak MiB | per connection KiB | all counted after s | server CPU s meanwhile | woken by one post per stream | wake p99 ms | wake max ms |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.idle {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.1} |",
                r.system,
                r.spec.connections,
                mib(r.rss_before),
                mib(r.rss_after),
                mib(r.peak),
                r.per_connection() / 1024.0,
                r.connect_s,
                r.connect_cpu_s,
                r.wake.deliveries,
                ms(r.wake.p99_ns),
                ms(r.wake.max_ns),
            );
        }
        out.push('\n');
    }

    fn targets_table(&self, out: &mut String) {
        let _ = writeln!(out, "| target | measured | met |");
        let _ = writeln!(out, "|---|---:|---|");
        let met = |ok: bool| if ok { "yes" } else { "**no**" };
        if let Some(m) = self.fanout_of("malten") {
            if let Some(r) = self.fanout_of("redis") {
                let ratio = m.deliveries_per_s / r.deliveries_per_s;
                let _ = writeln!(
                    out,
                    "| fan-out deliveries/s ≥ {TARGET_DELIVERY_RATIO}× Redis | {ratio:.2}× | {} |",
                    met(ratio >= TARGET_DELIVERY_RATIO)
                );
            }
            let p99 = ms(m.summary.p99_ns);
            let how = m.spec.rate.map_or_else(
                || "publisher unpaced".to_owned(),
                |r| format!("paced at {r:.0}/s"),
            );
            let _ = writeln!(
                out,
                "| fan-out p99 ≤ {TARGET_P99_MS} ms, in the same run ({how}) | {p99:.2} ms | {} |",
                met(p99 <= TARGET_P99_MS)
            );
        }
        if let (Some(m), Some(r)) = (self.paced_of("malten"), self.fanout_of("redis")) {
            let p99 = ms(m.summary.p99_ns);
            let _ = writeln!(
                out,
                "| fan-out p99 ≤ {TARGET_P99_MS} ms at {:.2}× Redis's deliveries/s (paced) | {p99:.2} ms | {} |",
                m.deliveries_per_s / r.deliveries_per_s,
                met(p99 <= TARGET_P99_MS)
            );
        }
        if let Some(idle) = self.idle_of("malten") {
            let per = idle.per_connection();
            let _ = writeln!(
                out,
                "| ≤ 16 KiB server RSS per idle SSE connection ({} connections) | {:.2} KiB | {} |",
                idle.spec.connections,
                per / 1024.0,
                met(per <= TARGET_IDLE_BYTES)
            );
            let _ = writeln!(
                out,
                "| ≤ 8 KiB server RSS per idle SSE connection (issue 17) | {:.2} KiB | {} |",
                per / 1024.0,
                met(per <= TARGET_IDLE_BYTES_ISSUE_17)
            );
        }
        if let Some(idle) = self.idle_of("malten websocket") {
            let per = idle.per_connection();
            let _ = writeln!(
                out,
                "| ≤ 8 KiB server RSS per idle WebSocket (issue 17, {} connections) | {:.2} KiB | {} |",
                idle.spec.connections,
                per / 1024.0,
                met(per <= TARGET_IDLE_BYTES_ISSUE_17)
            );
        }
        for idle in self.idle.iter().filter(|r| r.system.starts_with("malten")) {
            let all_woken = idle.wake.deliveries == idle.spec.connections;
            let _ = writeln!(
                out,
                "| every idle {} subscriber gets a post within 1 s ({} connections) | {} woken, slowest {:.0} ms | {} |",
                if idle.system == "malten" { "SSE" } else { "WebSocket" },
                idle.spec.connections,
                idle.wake.deliveries,
                ms(idle.wake.max_ns),
                met(all_woken && idle.wake.max_ns <= 1_000_000_000)
            );
        }
        for r in self.fanout.iter().chain(&self.paced) {
            let s = &r.summary;
            let _ = writeln!(
                out,
                "| {}{}: no message lost (gaps count as loss) or duplicated | {} lost, {} gaps, {} duplicates | {} |",
                r.system,
                if r.spec.rate.is_some() { " (paced)" } else { "" },
                s.lost + s.malformed,
                s.gaps,
                s.duplicates,
                met(!s.any_loss() && s.duplicates == 0)
            );
        }
    }
}

fn fanout_table(out: &mut String, runs: &[FanoutResult], heading: &str) {
    let Some(first) = runs.first() else {
        return;
    };
    let spec = first.spec;
    let pace = spec.rate.map_or_else(
        || "sent as fast as replies come back".to_owned(),
        |rate| format!("paced at {rate:.1} messages/s"),
    );
    let _ = writeln!(
        out,
        "{heading}: {}, {} subscribers on one stream, {} messages of 256 bytes, \
         window {} (requests in flight on each publisher's keep-alive connection), {pace}.\n",
        match spec.publishers {
            1 => "1 publisher".to_owned(),
            n => format!("{n} concurrent publishers"),
        },
        spec.subscribers,
        spec.messages,
        spec.window
    );
    let _ = writeln!(
        out,
        "| system | publish/s | deliveries/s | p50 ms | p99 ms | max ms | lost | gaps | duplicates | server CPU s | client CPU s | other CPU s |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in runs {
        let s = &r.summary;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            r.system,
            r.publish_per_s,
            r.deliveries_per_s,
            ms(s.p50_ns),
            ms(s.p99_ns),
            ms(s.max_ns),
            s.lost + s.malformed,
            s.gaps,
            s.duplicates,
            r.server_cpu_s,
            r.client_cpu_s,
            r.other_cpu_s,
        );
    }
    let of = |system: &str| runs.iter().find(|r| r.system == system);
    if let (Some(m), Some(r)) = (of("malten"), of("redis")) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let _ = writeln!(
            out,
            "| malten/redis | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.2}× | | | | {:.2}× | | |",
            ratio(m.publish_per_s, r.publish_per_s),
            ratio(m.deliveries_per_s, r.deliveries_per_s),
            ratio(ms(m.summary.p50_ns), ms(r.summary.p50_ns)),
            ratio(ms(m.summary.p99_ns), ms(r.summary.p99_ns)),
            ratio(ms(m.summary.max_ns), ms(r.summary.max_ns)),
            ratio(m.server_cpu_s, r.server_cpu_s),
        );
    }
    let on_redis: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.redis_commands_per_post.map(|commands| {
                let deliveries = r.summary.deliveries.max(1) as f64;
                let redis_cpu_s = r.redis_cpu_s.unwrap_or(0.0);
                format!(
                    "{}: {commands:.2} Redis commands per post (those inside Lua scripts included), \
                     {:.2} µs of Malten CPU (all nodes) per delivery, {:.1} µs of Redis CPU per post",
                    r.system,
                    (r.server_cpu_s - redis_cpu_s) * 1e6 / deliveries,
                    redis_cpu_s * 1e6 / r.spec.messages.max(1) as f64
                )
            })
        })
        .collect();
    if !on_redis.is_empty() {
        let _ = writeln!(out, "\n{}.", on_redis.join("; "));
    }
    for r in runs {
        if let Some(error) = &r.summary.first_error {
            let _ = writeln!(
                out,
                "\n{}: {} subscribers failed; first error: {error}",
                r.system, r.summary.failed_subscribers
            );
        }
    }
    out.push('\n');
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}
