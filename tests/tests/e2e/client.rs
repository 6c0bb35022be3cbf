//! The terminal client against the real server: `malten new`, `send`,
//! `read`, `follow`, their refusals and exit statuses.

use serde_json::Value;

use crate::process::Server;
use crate::proxy::Proxy;
use crate::terminal::{malten, Running};

/// `malten new` on `server`: the link without and with the passphrase.
async fn new_stream(server: &Server) -> (String, String) {
    let run = malten(&["new", "--server", &server.base_url], &[], "").await;
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    (lines[0].to_owned(), lines[1].to_owned())
}

async fn stored(server: &Server, stream: &str) -> Vec<Value> {
    reqwest::get(server.url(&format!("/messages?stream={stream}&limit=1024")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn stream_of(link: &str) -> String {
    let fragment = link.split_once('#').unwrap().1;
    fragment.split(['/', '!']).next().unwrap().to_owned()
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn new_send_and_read_round_trip_encrypted_and_the_server_sees_only_envelopes() {
    let server = Server::start(&[]).await;
    let (link, secret_link) = new_stream(&server).await;
    let stream = stream_of(&link);
    assert!(
        link.starts_with(&format!("{}/#{stream}!e", server.base_url)),
        "{link}"
    );
    assert!(secret_link.starts_with(&format!("{}/#{stream}/", server.base_url)));
    assert_eq!(
        &secret_link[secret_link.len() - 18..],
        &link[link.len() - 18..]
    );

    malten(&["send", &secret_link, "hello from a terminal"], &[], "")
        .await
        .ok();
    let long = "é".repeat(1500);
    let input = format!("first line\n\n{long}\r\nlast line\n");
    malten(&["send", &secret_link, "--nick", "ana"], &[], &input)
        .await
        .ok();

    let run = malten(&["read", &secret_link, "--json"], &[], "").await;
    let messages = json_lines(run.ok());
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let (head, tail) = long.split_at(1024 * 2);
    assert_eq!(
        texts,
        [
            "hello from a terminal",
            "first line",
            head,
            tail,
            "last line"
        ]
    );
    assert!(messages.iter().all(|m| m["encrypted"] == true));
    assert_eq!(messages[0]["nick"], Value::Null);
    assert!(messages[1..].iter().all(|m| m["nick"] == "ana"));
    let mut keys: Vec<&str> = messages[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created", "encrypted", "id", "nick", "text"]);

    let limited = malten(&["read", &secret_link, "--limit", "2"], &[], "").await;
    let lines = limited.lines();
    assert_eq!(lines.len(), 2, "{limited:?}");
    assert!(lines[0].ends_with(&format!(" ana: {tail}")), "{lines:?}");
    assert!(lines[1].ends_with("ana: last line"), "{lines:?}");

    // Only envelopes: no `text` member, none of the words (base64url never
    // has a space or an `é`; a short word such as a nick could occur in
    // random base64 by chance, so it is not searched for).
    let stored = stored(&server, &stream).await;
    assert!(stored
        .iter()
        .all(|m| m.get("text").is_none() && m["envelope"].is_string()));
    let raw = serde_json::to_string(&stored).unwrap();
    for text in ["hello from a terminal", "first line", "last line", "é"] {
        assert!(!raw.contains(text), "the server holds {text:?}: {raw}");
    }
}

#[tokio::test]
async fn the_passphrase_comes_from_a_file_or_the_environment_and_a_wrong_one_is_refused() {
    let server = Server::start(&[]).await;
    let (link, secret_link) = new_stream(&server).await;
    let stream = stream_of(&link);
    let (before_pin, _) = secret_link.rsplit_once('!').unwrap();
    let passphrase = before_pin.rsplit_once('/').unwrap().1.to_owned();

    malten(
        &["send", &link, "via env"],
        &[("MALTEN_PASSPHRASE", &passphrase)],
        "",
    )
    .await
    .ok();
    let file = std::env::temp_dir().join(format!("malten-pass-{}", std::process::id()));
    std::fs::write(&file, format!("{passphrase}\n")).unwrap();
    let file_arg = file.to_str().unwrap();
    malten(
        &["send", &link, "via file", "--passphrase-file", file_arg],
        &[],
        "",
    )
    .await
    .ok();
    let run = malten(&["read", &link, "--passphrase-file", file_arg], &[], "").await;
    let lines = run.lines();
    assert!(
        lines[0].ends_with(" via env") && lines[1].ends_with(" via file"),
        "{run:?}"
    );
    std::fs::remove_file(&file).unwrap();

    for command in [
        vec!["send", &link, "never stored"],
        vec!["read", &link],
        vec!["follow", &link],
    ] {
        let run = malten(&command, &[("MALTEN_PASSPHRASE", "not the passphrase")], "").await;
        assert_eq!(run.code, 2, "{command:?}: {run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
        assert!(run.stderr.contains("wrong passphrase"), "{run:?}");
        assert!(!run.stderr.contains("not the passphrase"), "{run:?}");
    }
    assert_eq!(
        stored(&server, &stream).await.len(),
        2,
        "nothing more was posted"
    );
}

#[tokio::test]
async fn a_squatted_or_recreated_stream_is_refused_and_nothing_is_sent() {
    let server = Server::start(&[]).await;
    let http = reqwest::Client::new();
    // Someone made "squat" as a plain stream; links made for an encrypted
    // one, with a pin or from before pins, must not post plaintext to it.
    let created = http
        .post(server.url("/streams"))
        .form(&[("stream", "squat")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (other_link, _) = new_stream(&server).await;
    let other_pin = other_link.rsplit_once('!').unwrap().1.to_owned();
    let base = &server.base_url;
    let cases = [
        (format!("{base}/#squat/secret!{other_pin}"), "plain text"),
        (format!("{base}/#squat/secret"), "plain text"),
        (format!("{base}/#squat!{other_pin}"), "plain text"),
    ];
    for (link, says) in &cases {
        let run = malten(&["send", link, "for the right stream only"], &[], "").await;
        assert_eq!(run.code, 2, "{link}: {run:?}");
        assert!(run.stderr.contains(says), "{run:?}");
    }
    // A passphrase given another way also says "encrypted".
    let run = malten(
        &["send", &format!("{base}/#squat"), "secret?"],
        &[("MALTEN_PASSPHRASE", "p")],
        "",
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(stored(&server, "squat").await.is_empty());

    // An encrypted stream with another key than the link's pin (made again
    // after it expired, with a new salt): refused before the passphrase is
    // even tried.
    let (_, secret_link) = new_stream(&server).await;
    let (without_pin, _) = secret_link.rsplit_once('!').unwrap();
    let repinned = format!("{without_pin}!{other_pin}");
    let run = malten(&["send", &repinned, "hello?"], &[], "").await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("made again"), "{run:?}");
    assert!(stored(&server, &stream_of(&secret_link)).await.is_empty());
    // And a link pinned "plain" refuses the encrypted stream.
    let run = malten(&["read", &format!("{without_pin}!p")], &[], "").await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn plain_streams_work_by_name_or_link_without_a_passphrase() {
    let server = Server::start(&[]).await;
    let run = malten(&["new", "--server", &server.base_url, "--plain"], &[], "").await;
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "one link, no passphrase: {run:?}");
    assert!(lines[0].ends_with("!p"), "{run:?}");
    let link = lines[0].to_owned();
    malten(&["send", &link, "plain hello"], &[], "").await.ok();
    let by_name = ["--server", server.base_url.as_str()];
    let mut args = vec!["send", "lobby"];
    args.extend(by_name);
    malten(&args, &[], "one\ntwo\n").await.ok();
    let mut args = vec!["read", "lobby", "--json"];
    args.extend(by_name);
    let messages = json_lines(malten(&args, &[], "").await.ok());
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["text"], "two");
    assert_eq!(messages[1]["encrypted"], false);
    // What curl sees is the text itself.
    assert_eq!(stored(&server, "lobby").await[0]["text"], "two");
    let read = malten(&["read", &link], &[], "").await;
    assert!(read.ok().trim_end().ends_with(" plain hello"), "{read:?}");
}

/// `follow` prints retained then live messages, comes back after the
/// connection drops with `Last-Event-ID` (nothing missed, nothing twice),
/// and says so when messages were dropped before it could read them.
#[tokio::test]
async fn follow_prints_live_messages_reconnects_and_reports_a_gap() {
    let server = Server::start(&["--rate-per-second", "100000", "--rate-burst", "100000"]).await;
    let (_, secret_link) = new_stream(&server).await;
    let proxy = Proxy::start(
        server
            .base_url
            .strip_prefix("http://")
            .unwrap()
            .parse()
            .unwrap(),
    )
    .await;
    let via_proxy = secret_link.replace(&server.base_url, &format!("http://{}", proxy.addr));
    malten(&["send", &secret_link, "before"], &[], "")
        .await
        .ok();

    let mut follow = Running::spawn(&["follow", &via_proxy, "--json"], &[]);
    let text = |line: String| -> String {
        let value: Value = serde_json::from_str(&line).unwrap();
        value["text"].as_str().unwrap().to_owned()
    };
    assert_eq!(text(follow.next_line().await), "before");
    malten(&["send", &secret_link, "live"], &[], "").await.ok();
    assert_eq!(text(follow.next_line().await), "live");

    let accepted = proxy.accepted();
    proxy.cut();
    malten(&["send", &secret_link, "while away"], &[], "")
        .await
        .ok();
    follow.wait_for_stderr("reconnecting").await;
    assert_eq!(text(follow.next_line().await), "while away");
    assert!(
        proxy.accepted() > accepted,
        "it reconnected through the proxy"
    );

    // Stop it, drop its connection, and post more than the stream keeps:
    // when it comes back the messages it missed are gone, and it says so.
    follow.signal("STOP");
    proxy.cut();
    let lines: String = (0..1100).map(|i| format!("n{i}\n")).collect();
    malten(&["send", &secret_link], &[], &lines).await.ok();
    follow.signal("CONT");
    follow
        .wait_for_stderr("dropped before they could be read")
        .await;
    let first = text(follow.next_line().await);
    assert_eq!(first, "n76", "continues at the oldest retained message");
    let mut last = first;
    while last != "n1099" {
        last = text(follow.next_line().await);
    }
}

#[tokio::test]
async fn every_subcommand_has_help_with_the_exit_statuses() {
    let run = malten(&["--help"], &[], "").await;
    for word in [
        "serve",
        "new",
        "send",
        "read",
        "follow",
        "--addr",
        "Exit status",
    ] {
        assert!(run.ok().contains(word), "--help lacks {word}: {run:?}");
    }
    for command in ["serve", "new", "send", "read", "follow", "pipe"] {
        let run = malten(&[command, "--help"], &[], "").await;
        assert!(run.ok().contains("Usage: malten"), "{command}: {run:?}");
        if command != "serve" {
            assert!(run.stdout.contains("2  refused"), "{command}: {run:?}");
        }
    }
    let run = malten(&["read", "ftp://nowhere/#x"], &[], "").await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}
