//! A throwaway PostgreSQL cluster for the chat tests: started once per test
//! binary in a temporary directory (as `nobody` when running as root, since
//! `initdb` refuses root), one database per test. A watchdog shell stops the
//! cluster and removes its directory when the test process exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sqlx::Connection;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// A new empty database in the shared cluster, as a URL for `--database-url`.
pub async fn new_database() -> String {
    let cluster = CLUSTER
        .get_or_init(start)
        .as_ref()
        .unwrap_or_else(|err| panic!("cannot start PostgreSQL for the chat tests: {err}"));
    let name = format!(
        "t_{}",
        malten_server::chat::ids::new_id("").trim_start_matches('_')
    );
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let mut connection = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("create a test database");
    let _ = connection.close().await;
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("MALTEN_TEST_PG_BIN") {
        return Ok(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "PostgreSQL is not installed (run `scripts/setup.sh test`)".to_owned())?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `program args…`, as `nobody` when we are root.
fn command(program: &Path, as_nobody: bool) -> Command {
    if as_nobody {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("{what}: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir()?;
    let as_nobody = is_root();
    let dir = std::env::temp_dir().join(format!(
        "malten-pg-{}-{}",
        std::process::id(),
        malten_server::chat::ids::new_id("")
    ));
    std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    if as_nobody {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("nobody").arg(&dir);
                c
            },
            "chown",
        )?;
    }
    let data = dir.join("data");
    let mut initdb = command(&bin.join("initdb"), as_nobody);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
    run(initdb, "initdb")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| err.to_string())?
        .port();
    let mut pg_ctl = command(&bin.join("pg_ctl"), as_nobody);
    pg_ctl
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "start", "-o"])
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c max_connections=300",
            dir.display()
        ));
    run(pg_ctl, "pg_ctl start")?;
    // Stop and remove the cluster once this test process is gone.
    let stop = format!(
        "{}{} -D {} -m immediate stop",
        if as_nobody {
            "runuser -u nobody -- "
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("watchdog: {err}"))?;
    Ok(Cluster { port })
}
