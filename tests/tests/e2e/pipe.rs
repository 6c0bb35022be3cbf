//! Secure pipes between two `malten pipe` processes through the real
//! server: text both ways, a 10 MiB file byte-exact, a third end refused,
//! a receiver killed mid-transfer, a forged chunk.

use std::process::Stdio;
use std::time::Duration;

use malten_shared::crypto::{derive_key, seal, EncryptionParams, Plaintext, PlaintextKind};
use tokio::io::AsyncWriteExt;

use crate::process::Server;
use crate::terminal::{client, malten, Running, DEADLINE};

/// A server that lets a pipe go as fast as the machine does (the default
/// of 10 posts a second would make a 10 MiB transfer take half an hour).
pub(crate) async fn fast_server() -> Server {
    Server::start(&[
        "--rate-per-second",
        "1000000",
        "--rate-burst",
        "1000000",
        "--keepalive-secs",
        "1",
    ])
    .await
}

/// `malten pipe new`: the link with the passphrase.
pub(crate) async fn new_pipe(server: &Server) -> String {
    let run = malten(&["pipe", "new", "--server", &server.base_url], &[], "").await;
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    lines[1].to_owned()
}

pub(crate) fn stream_of(link: &str) -> String {
    let fragment = link.split_once('#').unwrap().1;
    fragment.split(['/', '!']).next().unwrap().to_owned()
}

pub(crate) async fn wait_for_observers(server: &Server, stream: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let response = reqwest::get(server.url(&format!("/streams/{stream}")))
            .await
            .unwrap();
        let info: serde_json::Value = response.json().await.unwrap();
        if info["observers"].as_u64() == Some(want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "observers: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_ends_exchange_text_both_ways_and_the_pipe_is_gone_after() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let args = ["pipe", link.as_str()];
    let (left, right) = tokio::join!(
        malten(&args, &[], "from the left\nsecond line\n"),
        malten(&args, &[], "from the right ünïcode\n"),
    );
    assert_eq!(left.ok(), "from the right ünïcode\n", "{left:?}");
    assert_eq!(right.ok(), "from the left\nsecond line\n", "{right:?}");
    let gone = reqwest::get(server.url(&format!("/streams/{stream}")))
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "the pipe vanished once both ends left");
}

#[tokio::test]
async fn a_ten_mib_random_file_arrives_byte_exact() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let dir = std::env::temp_dir().join(format!("malten-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let data: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&input, &data).unwrap();

    let started = std::time::Instant::now();
    let mut receiver = client(&["pipe", "--recv", &link], &[])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sender = client(&["pipe", "--send", &link], &[])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(600);
    let (sent, received) = tokio::join!(
        tokio::time::timeout(limit, sender.wait()),
        tokio::time::timeout(limit, receiver.wait()),
    );
    let (sent, received) = (sent.unwrap().unwrap(), received.unwrap().unwrap());
    assert!(sent.success() && received.success(), "{sent} {received}");
    let arrived = std::fs::read(&output).unwrap();
    assert_eq!(arrived.len(), data.len());
    assert!(arrived == data, "the bytes differ");
    eprintln!("10 MiB through a pipe in {:?}", started.elapsed());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_third_end_is_refused() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let first = Running::spawn(&["pipe", &link], &[]);
    let second = Running::spawn(&["pipe", &link], &[]);
    wait_for_observers(&server, &stream, 2).await;
    let third = malten(&["pipe", &link], &[], "").await;
    assert_eq!(third.code, 2, "{third:?}");
    assert!(third.stderr.contains("pipe_full"), "{third:?}");
    assert_eq!(third.stderr.lines().count(), 1, "{third:?}");
    drop((first, second));
}

#[tokio::test]
async fn a_receiver_killed_mid_transfer_makes_the_sender_fail_clearly() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let mut receiver = Running::spawn(&["pipe", "--recv", &link], &[]);
    let mut sender = Running::spawn(&["pipe", "--send", &link], &[]);
    let mut input = sender.stdin.take().unwrap();
    // Feed the sender without end; the receiver shows it got some.
    let feeder = tokio::spawn(async move {
        let line = "x".repeat(1023) + "\n";
        while input.write_all(line.as_bytes()).await.is_ok() {}
    });
    receiver.next_line().await;
    receiver.signal("KILL");
    let status = tokio::time::timeout(DEADLINE, sender.child.wait())
        .await
        .expect("the sender gives up")
        .unwrap();
    assert_eq!(status.code(), Some(1), "stderr: {}", sender.stderr());
    sender
        .wait_for_stderr("the other end left before it had everything")
        .await;
    assert_eq!(sender.stderr().lines().count(), 1, "{}", sender.stderr());
    feeder.abort();
}

/// Posts frames into a pipe as someone holding its passphrase would.
pub(crate) async fn forge(server: &Server, link: &str, frames: &[String]) {
    let stream = stream_of(link);
    let passphrase = link.rsplit_once('!').unwrap().0.rsplit_once('/').unwrap().1;
    let info: serde_json::Value = reqwest::get(server.url(&format!("/streams/{stream}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let params: EncryptionParams = serde_json::from_value(info["encryption"].clone()).unwrap();
    let key = derive_key(passphrase, &params.kdf_params().unwrap()).unwrap();
    for frame in frames {
        let plain = Plaintext::new(frame.as_str(), PlaintextKind::Message, 1);
        let envelope = seal(&key, &stream, &plain).unwrap();
        let posted = reqwest::Client::new()
            .post(server.url("/messages"))
            .form(&[("stream", stream.as_str()), ("message", envelope.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
    }
}

/// What a receiver must refuse, with exit status 3: a chunk out of
/// sequence (what loss or reordering look like), a final count that is not
/// what arrived, a digest that does not match, a second writer.
#[tokio::test]
async fn a_receiver_refuses_lost_reordered_truncated_altered_or_foreign_chunks() {
    let server = fast_server().await;
    // SHA-256 of the three bytes "abc" (base64url "YWJj"), base64url.
    let abc = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";
    let cases: [(&[&str], &str); 4] = [
        (&["d peer 2 YWJj"], "lost or reordered"),
        (&["d peer 1 YWJj", &format!("e peer 2 {abc}")], "incomplete"),
        (&["d peer 1 YWJk", &format!("e peer 1 {abc}")], "altered"),
        (&["d peer 1 YWJj", "d other 2 YWJj"], "third party"),
    ];
    for (frames, says) in cases {
        let link = new_pipe(&server).await;
        let mut receiver = Running::spawn(&["pipe", "--recv", &link], &[]);
        wait_for_observers(&server, &stream_of(&link), 1).await;
        let frames: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
        forge(&server, &link, &frames).await;
        let status = tokio::time::timeout(DEADLINE, receiver.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(3), "{says}: {}", receiver.stderr());
        receiver.wait_for_stderr(says).await;
    }
}

/// A sender that dies before its final digest: the receiver says the
/// transfer was cut short (exit 3) rather than ending as if complete.
#[tokio::test]
async fn a_sender_killed_mid_transfer_makes_the_receiver_fail() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let mut receiver = Running::spawn(&["pipe", "--recv", &link], &[]);
    let mut sender = Running::spawn(&["pipe", "--send", &link], &[]);
    let mut input = sender.stdin.take().unwrap();
    input.write_all(b"some of the data\n").await.unwrap();
    assert_eq!(receiver.next_line().await, "some of the data");
    sender.signal("KILL");
    let status = tokio::time::timeout(DEADLINE, receiver.child.wait())
        .await
        .expect("the receiver gives up")
        .unwrap();
    assert_eq!(status.code(), Some(3), "stderr: {}", receiver.stderr());
    receiver.wait_for_stderr("cut short").await;
}

/// Flow control: a receiver that stops reading (SIGSTOP) makes the sender
/// wait rather than overrun the stream's 1024-message ring; once it
/// resumes, everything arrives.
#[tokio::test]
async fn a_stalled_receiver_makes_the_sender_wait_and_loses_nothing() {
    let server = fast_server().await;
    let link = new_pipe(&server).await;
    let stream = stream_of(&link);
    let dir = std::env::temp_dir().join(format!("malten-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.txt"), dir.join("out.txt"));
    // 3,000 chunks: three times what the ring holds.
    let data: String = (0..30_000).map(|i| format!("{i:074}\n")).collect();
    std::fs::write(&input, &data).unwrap();
    let receiver = client(&["pipe", "--recv", &link], &[])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let receiver_pid = receiver.id().unwrap().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &receiver_pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    wait_for_observers(&server, &stream, 1).await;
    signal("STOP");
    let mut sender = client(&["pipe", "--send", &link], &[])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The sender stops posting: `updated` stays put for a second while it
    // still runs, with at most a window of chunks waiting in the pipe.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut last = String::new();
    let mut still_since = tokio::time::Instant::now();
    loop {
        let info: serde_json::Value = reqwest::get(server.url(&format!("/streams/{stream}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let updated = info["updated"].to_string();
        if updated != last {
            last = updated;
            still_since = tokio::time::Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(1) {
            assert!(info["messages"].as_u64().unwrap() <= 260, "{info}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sender never waited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sender.try_wait().unwrap().is_none(), "the sender waits");
    signal("CONT");
    let mut receiver = receiver;
    let (sent, received) = tokio::join!(
        tokio::time::timeout(DEADLINE * 4, sender.wait()),
        tokio::time::timeout(DEADLINE * 4, receiver.wait()),
    );
    assert!(sent.unwrap().unwrap().success());
    assert!(received.unwrap().unwrap().success());
    assert!(
        std::fs::read_to_string(&output).unwrap() == data,
        "the text differs"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
