//! `--database-url sqlite://file`: data survives a restart, and concurrent
//! writers through the ordinary pool keep `seq` and idempotency exact.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::support::{ChatApp, ADMIN};
use crate::helpers::spawn_app_with;

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn spawn_on(url: &str) -> ChatApp {
    let url = url.to_owned();
    let app = spawn_app_with(move |config| {
        config.admin_token = Some(ADMIN.parse().unwrap());
        config.database_url = url.parse().unwrap();
    })
    .await;
    ChatApp { app }
}

#[tokio::test]
async fn a_sqlite_file_keeps_the_data_across_restarts_and_concurrent_writers_stay_exact() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "malten-chat-{}",
        malten_server::chat::ids::new_id("")
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.0.join("chat.db").display());

    let mut chat = spawn_on(&url).await;
    let world = chat.world().await;
    let ada = chat.user(&world.token, "ada").await;
    let channel = chat.channel(&world.token, "general").await;
    let participant = chat.join(&world.token, &channel, &ada).await;
    let seqs = chat
        .post_concurrently(&world.token, &channel, &participant, 20)
        .await;
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let url_messages = chat.app.url(&format!("/v1/channels/{channel}/messages"));
    let retries = (0..8).map(|_| {
        chat.app
            .client
            .post(&url_messages)
            .bearer_auth(&world.token)
            .header("Idempotency-Key", "same")
            .json(&json!({"sender_id": participant, "text": "once"}))
            .send()
    });
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(retries).await {
        let response = response.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    chat.app.shutdown().await.unwrap();

    let chat = spawn_on(&url).await;
    let orgs = chat
        .ok(ADMIN, Method::GET, "/v1/orgs", None, StatusCode::OK)
        .await;
    assert_eq!(orgs["data"][0]["id"], world.org_id.as_str());
    let token = chat.token(&world.app_id, &world.production, None).await;
    let page = chat
        .ok(
            &token,
            Method::GET,
            &format!("/v1/channels/{channel}/messages?after=20"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(page["data"][0]["text"], "once");
    assert_eq!(page["data"][0]["seq"], 21);
}
