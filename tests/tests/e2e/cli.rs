//! The binary as a user meets it: `--help`, the address flag and variable.

use std::process::Command;
use std::time::Duration;

use crate::process::{malten_binary, Server};

#[test]
fn help_explains_every_option() {
    let output = Command::new(malten_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--addr",
        "MALTEN_ADDR",
        "127.0.0.1:9090",
        "--web-dir",
        "--min-ttl",
        "--max-ttl",
        "--max-streams",
        "--max-memory-bytes",
        "--max-body-bytes",
        "--rate-per-second",
        "--max-connections-per-ip",
        "--trust-forwarded-for",
    ] {
        assert!(
            help.contains(option),
            "--help does not mention {option}:\n{help}"
        );
    }
}

#[test]
fn a_bad_address_is_a_clear_error() {
    let output = Command::new(malten_binary())
        .args(["--addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--addr"), "{stderr}");
}

#[tokio::test]
async fn the_address_can_come_from_malten_addr() {
    // Find a free port, then hand it to the server through the environment.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(malten_binary())
        .env("MALTEN_ADDR", format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(&url).await {
            assert!(response.status().is_success());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never answered on {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_stops_the_server_within_five_seconds() {
    let mut server = Server::start(&[]).await;
    let pid = server.child.id().expect("running");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .expect("exits within 5 s")
        .unwrap();
    assert!(exit.success(), "clean exit: {exit}");
}

/// Everything the process could write to without special rights (its
/// working directory, `HOME`, `TMPDIR` and the XDG directories) is a fresh
/// empty directory tree; afterwards the whole tree must still be empty, and
/// while it runs the process must hold no regular file open for writing
/// anywhere (which also covers paths outside the tree, such as `/tmp`).
#[tokio::test]
async fn the_server_writes_no_files() {
    let root = std::env::temp_dir().join(format!("malten-nofiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dirs = [
        "cwd", "home", "tmp", "cache", "config", "data", "state", "runtime",
    ];
    for dir in dirs {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let p = |dir: &str| root.join(dir);
    let (home, tmp, cache, config, data, state, runtime) = (
        p("home"),
        p("tmp"),
        p("cache"),
        p("config"),
        p("data"),
        p("state"),
        p("runtime"),
    );
    let env = [
        ("HOME", home.as_path()),
        ("TMPDIR", tmp.as_path()),
        ("XDG_CACHE_HOME", cache.as_path()),
        ("XDG_CONFIG_HOME", config.as_path()),
        ("XDG_DATA_HOME", data.as_path()),
        ("XDG_STATE_HOME", state.as_path()),
        ("XDG_RUNTIME_DIR", runtime.as_path()),
    ];
    let server = Server::start_with_env(&root.join("cwd"), &env, &[]).await;
    let pid = server.child.id().expect("running");
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/streams"))
        .form(&[("stream", "disk"), ("private", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for i in 0..20 {
        let text = format!("message {i}");
        let posted = http
            .post(server.url("/messages"))
            .form(&[("stream", "disk"), ("message", text.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
    }
    let page = http
        .get(server.url("/messages?stream=disk"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page: serde_json::Value = page.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 20);
    let open_for_writing = files_open_for_writing(pid);
    assert!(
        open_for_writing.is_empty(),
        "malten holds files open for writing: {open_for_writing:?}"
    );
    drop(server);
    let mut left = Vec::new();
    for dir in dirs {
        list_files(&root.join(dir), &mut left);
    }
    assert!(left.is_empty(), "malten wrote files: {left:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every file (not directory) under `dir`, recursively.
fn list_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The regular files process `pid` has open with `O_WRONLY` or `O_RDWR`,
/// from `/proc/<pid>/fd` and the octal flags in `/proc/<pid>/fdinfo`.
fn files_open_for_writing(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let entry = entry.unwrap();
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        // Sockets, pipes and anonymous inodes are not files on disk.
        if !target.is_absolute() || target.starts_with("/dev") || target.starts_with("/proc") {
            continue;
        }
        if !std::fs::metadata(&target).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let fd = entry.file_name();
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy()))
            .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|line| line.strip_prefix("flags:"))
            .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
            .unwrap_or(0);
        // O_ACCMODE: 1 is O_WRONLY, 2 is O_RDWR.
        if flags & 0o3 != 0 {
            found.push(target);
        }
    }
    found
}
