//! The command flow against a canned backend: what is stored, what the
//! stream's subscribers see, what the caller gets, and the encrypted-stream
//! rule (which cannot be reached over HTTP until streams can be encrypted).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use malten_shared::wire::{Cursor, MessageKind};
use malten_shared::StreamName;

use super::*;
use crate::engine::{Delivery, Page, PartialEvent};
use crate::limits::RateClock;
use crate::llm::backend::Role;
use crate::llm::generation::tests::Canned;
use crate::llm::generation::Timeouts;
use crate::llm::{LlmLimits, LlmSettings};

fn store() -> Engine {
    Engine::for_tests()
}

fn llm(backend: Canned) -> Arc<Llm> {
    Arc::new(Llm::new(
        LlmSettings {
            model: "test-model".into(),
            allowed_models: crate::llm::AllowedModels::Only(Vec::new()),
            system_prompt: "be brief".into(),
            max_tokens: 64,
            context_chars: 1000,
            timeouts: Timeouts {
                first_token: Duration::from_secs(5),
                total: Duration::from_secs(20),
            },
        },
        LlmLimits {
            per_ip: 2,
            per_stream: 1,
            rate_per_minute: 1000,
            rate_burst: 1000,
            session_idle: Duration::from_secs(60),
            max_sessions: 10,
            rate_clock: RateClock::default(),
        },
        Some(Arc::new(backend)),
    ))
}

const CLIENT: ClientIp = ClientIp(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

fn name(raw: &str) -> StreamName {
    StreamName::parse(raw).unwrap()
}

fn command(stream: &str, prompt: &str, plaintext: bool) -> Command {
    Command {
        stream: name(stream),
        prompt: prompt.into(),
        plaintext,
    }
}

async fn stored(store: &Engine, stream: &str) -> Vec<serde_json::Value> {
    let page = store
        .page(
            &name(stream),
            Page::Forward {
                after: Cursor::START,
            },
            1024,
        )
        .await
        .unwrap();
    serde_json::from_slice(&page).unwrap()
}

async fn all_events(mut events: mpsc::Receiver<CommandEvent>) -> Vec<CommandEvent> {
    let mut all = Vec::new();
    while let Some(event) = events.recv().await {
        all.push(event);
    }
    all
}

#[test]
fn encrypted_streams_need_the_plaintext_opt_in_and_then_reach_only_the_caller() {
    let cases = [
        (false, false, Ok(Audience::Stream)),
        (false, true, Ok(Audience::Stream)),
        (true, false, Err(LlmError::PlaintextOptInRequired)),
        (true, true, Ok(Audience::CallerOnly)),
    ];
    for (encrypted, plaintext, expected) in cases {
        assert_eq!(
            Audience::choose(encrypted, plaintext),
            expected,
            "encrypted={encrypted} plaintext={plaintext}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_plain_stream_stores_the_command_then_the_reply_and_previews_it_to_subscribers() {
    let store = store();
    let llm = llm(Canned {
        pause: Duration::from_secs(1),
        ..Canned::new(&["Four", "."])
    });
    let mut subscriber = store.subscribe(&name("math"), None).await.unwrap();
    assert!(matches!(
        subscriber.next().await,
        Some(Delivery::Presence(_))
    ));

    let caller = async {
        let events = run(&llm, &store, CLIENT, command("math", "2+2?", false))
            .await
            .unwrap();
        all_events(events).await
    };
    // A subscriber reading while the reply is generated.
    let live = async {
        let mut seen = Vec::new();
        let mut command_ids = Vec::new();
        while seen.last() != Some(&"done".to_owned()) {
            match subscriber.next().await.unwrap() {
                Delivery::Messages(batch) => {
                    seen.extend(batch.iter().map(|m| format!("{:?}", m.message.kind)))
                }
                Delivery::Partial(event) => {
                    command_ids.push(event.partial.command.clone().unwrap());
                    seen.push(describe_partial(&event));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        (seen, command_ids)
    };
    let (events, (seen, command_ids)) = tokio::join!(caller, live);

    let messages = stored(&store, "math").await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["type"], "command");
    assert_eq!(messages[0]["text"], "2+2?");
    assert_eq!(messages[1]["type"], "reply");
    assert_eq!(messages[1]["text"], "Four.");
    let names: Vec<_> = events.iter().map(CommandEvent::name).collect();
    assert_eq!(names, ["command", "partial", "partial", "reply"]);
    assert_eq!(seen, ["Command", "Four", ".", "Reply", "done"]);
    assert!(command_ids.iter().all(|id| id == &messages[0]["id"]));
}

fn describe_partial(event: &PartialEvent) -> String {
    if event.partial.done {
        "done".into()
    } else {
        event.partial.delta.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_reading_late_still_sees_the_events_in_the_order_they_happened() {
    let store = store();
    let llm = llm(Canned::new(&["Four", "."]));
    let mut subscriber = store.subscribe(&name("late"), None).await.unwrap();
    assert!(matches!(
        subscriber.next().await,
        Some(Delivery::Presence(_))
    ));
    all_events(
        run(&llm, &store, CLIENT, command("late", "2+2?", false))
            .await
            .unwrap(),
    )
    .await;
    let mut seen = Vec::new();
    while seen.last() != Some(&"done".to_owned()) {
        match subscriber.next().await.unwrap() {
            Delivery::Messages(batch) => {
                seen.extend(batch.iter().map(|m| format!("{:?}", m.message.kind)))
            }
            Delivery::Partial(event) => seen.push(describe_partial(&event)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["Command", "Four", ".", "Reply", "done"]);
}

#[tokio::test(start_paused = true)]
async fn the_model_gets_the_system_prompt_recent_messages_and_the_prompt() {
    let store = store();
    let backend = Canned::new(&["ok"]);
    let requests = Arc::clone(&backend.requests);
    let llm = llm(backend);
    for text in ["old", "newer"] {
        store
            .post(&name("ctx"), text.into(), MessageKind::Message)
            .await
            .unwrap();
    }
    all_events(
        run(&llm, &store, CLIENT, command("ctx", "question", false))
            .await
            .unwrap(),
    )
    .await;
    let requests = requests.lock().unwrap();
    let turns: Vec<_> = requests[0]
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        turns,
        [
            (Role::System, "be brief"),
            (Role::User, "old"),
            (Role::User, "newer"),
            (Role::User, "question"),
        ]
    );
    assert_eq!(requests[0].model, "test-model");
}

#[tokio::test(start_paused = true)]
async fn with_the_opt_in_an_encrypted_stream_gets_nothing_stored_and_nothing_broadcast() {
    let store = store();
    let llm = llm(Canned::new(&["secret ", "answer"]));
    store
        .post(&name("sealed"), "ciphertext".into(), MessageKind::Message)
        .await
        .unwrap();
    let mut subscriber = store.subscribe(&name("sealed"), None).await.unwrap();
    assert!(matches!(
        subscriber.next().await,
        Some(Delivery::Presence(_))
    ));

    let events = run_on(
        &llm,
        &store,
        CLIENT,
        command("sealed", "plain prompt", true),
        true,
    )
    .await
    .unwrap();
    let events = all_events(events).await;

    let names: Vec<_> = events.iter().map(CommandEvent::name).collect();
    assert_eq!(names, ["partial", "partial", "reply"], "no command event");
    match events.last().unwrap() {
        CommandEvent::Reply(ReplyData::Unstored(reply)) => assert_eq!(reply.text, "secret answer"),
        other => panic!("expected an unstored reply, got {other:?}"),
    }
    assert_eq!(
        stored(&store, "sealed").await.len(),
        1,
        "only the earlier message"
    );
    let nothing = tokio::time::timeout(Duration::from_secs(60), subscriber.next()).await;
    assert!(nothing.is_err(), "subscribers saw {nothing:?}");
}

#[tokio::test(start_paused = true)]
async fn without_the_opt_in_an_encrypted_stream_is_refused_before_anything_happens() {
    let store = store();
    let backend = Canned::new(&["never"]);
    let started = Arc::clone(&backend.started);
    let llm = llm(backend);
    let refused = run_on(&llm, &store, CLIENT, command("sealed", "hi", false), true)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "plaintext_opt_in_required");
    assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(stored(&store, "sealed").await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_second_command_in_a_busy_stream_is_refused() {
    let store = store();
    let llm = llm(Canned {
        pause: Duration::from_secs(1),
        ..Canned::new(&["slow", "reply"])
    });
    let first = run(&llm, &store, CLIENT, command("busy", "one", false))
        .await
        .unwrap();
    let second = run(&llm, &store, CLIENT, command("busy", "two", false))
        .await
        .unwrap_err();
    assert_eq!(second.code(), "llm_stream_busy");
    all_events(first).await;
    // The slot is free again once the reply is stored: polled, with a
    // deadline, rather than hoping one `yield_now` is enough.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match run(&llm, &store, CLIENT, command("busy", "three", false)).await {
            Ok(third) => {
                all_events(third).await;
                break;
            }
            Err(err) => assert_eq!(err.code(), "llm_stream_busy"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        stored(&store, "busy").await.len(),
        4,
        "two commands and their replies; the refused one left nothing"
    );
}

/// docs/api.md: "The reply is generated to the end even if the caller hangs
/// up, so the stream's subscribers still get it." The caller's receiver is
/// dropped after the first event, with two pieces still to come.
#[tokio::test(start_paused = true)]
async fn the_reply_is_generated_and_stored_even_if_the_caller_hangs_up() {
    let store = store();
    let llm = llm(Canned {
        pause: Duration::from_secs(1),
        ..Canned::new(&["Still", " here", "."])
    });
    let mut subscriber = store.subscribe(&name("left"), None).await.unwrap();
    assert!(matches!(
        subscriber.next().await,
        Some(Delivery::Presence(_))
    ));
    let mut events = run(&llm, &store, CLIENT, command("left", "hi", false))
        .await
        .unwrap();
    assert!(matches!(
        events.recv().await,
        Some(CommandEvent::Command(_))
    ));
    drop(events);
    let reply = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match subscriber.next().await.unwrap() {
                Delivery::Messages(batch) => {
                    if let Some(reply) = batch
                        .iter()
                        .find(|stored| stored.message.kind == MessageKind::Reply)
                    {
                        break reply.message.body.text().unwrap().to_owned();
                    }
                }
                Delivery::Partial(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("the reply reached the stream");
    assert_eq!(reply, "Still here.");
    let messages = stored(&store, "left").await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["text"], "Still here.");
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_does_not_read_skips_previews_but_gets_the_whole_reply_and_never_holds_up_the_stream(
) {
    let store = store();
    let pieces: Vec<String> = (0..3 * CALLER_EVENTS)
        .map(|i| format!("{} ", i % 10))
        .collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let llm = llm(Canned::new(&pieces));
    let events = run(&llm, &store, CLIENT, command("slow", "count", false))
        .await
        .unwrap();
    // The caller reads nothing until the reply is stored: generation must
    // not wait for it.
    let mut polls = 0;
    while stored(&store, "slow").await.len() < 2 {
        polls += 1;
        assert!(polls < 10_000, "the reply was never stored");
        tokio::task::yield_now().await;
    }
    let events = all_events(events).await;
    assert!(
        events.len() <= CALLER_EVENTS,
        "{} events buffered",
        events.len()
    );
    assert_eq!(events.first().map(CommandEvent::name), Some("command"));
    assert!(events[1..events.len() - 1]
        .iter()
        .all(|event| event.name() == "partial"));
    match events.last().unwrap() {
        CommandEvent::Reply(ReplyData::Stored(reply)) => {
            assert_eq!(reply.body.text().unwrap(), pieces.concat())
        }
        other => panic!("expected the stored reply last, got {other:?}"),
    }
}
