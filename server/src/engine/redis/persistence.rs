//! The start-up check that Redis keeps nothing on disk.
//!
//! Malten promises that messages live only in memory. A Redis with RDB
//! snapshots (`save`) or an append-only file (`appendonly yes`) would write
//! every message to disk, so a node refuses to start against one unless the
//! operator says `--allow-persistent-redis`. Managed Redis services often
//! forbid `CONFIG`; then the node cannot know, says so in a warning, and
//! starts.

use redis::RedisError;

use super::connection::{Settings, CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// Why a node would not start on Redis.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach redis: {0}")]
    Unreachable(#[from] RedisError),
    #[error(
        "redis at {url} keeps data on disk ({settings}); Malten keeps messages only in memory. \
         Run redis with `--save \"\" --appendonly no`, or pass --allow-persistent-redis \
         (MALTEN_ALLOW_PERSISTENT_REDIS=true) to accept it"
    )]
    Persistent { url: String, settings: String },
    #[error("redis at {0} did not answer in time")]
    TimedOut(String),
}

/// What one Redis server says about persistence.
#[derive(Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk.
    Off,
    /// The settings that write to disk, e.g. `save "3600 1"`.
    On(String),
    /// `CONFIG` is not allowed here.
    Unknown(String),
}

/// Checks every configured server (each seed of a cluster: list every
/// master to have each checked).
pub async fn check(settings: &Settings, allow: bool) -> Result<(), ConnectError> {
    for url in &settings.urls {
        let shown = redact(url);
        let probe = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT * 2, probe(url));
        let persistence = probe
            .await
            .map_err(|_| ConnectError::TimedOut(shown.clone()))??;
        match persistence {
            Persistence::Off => {}
            Persistence::On(found) if allow => {
                tracing::warn!(url = %shown, settings = %found, "redis keeps data on disk; allowed by --allow-persistent-redis");
            }
            Persistence::On(found) => {
                return Err(ConnectError::Persistent {
                    url: shown,
                    settings: found,
                })
            }
            Persistence::Unknown(why) => {
                tracing::warn!(url = %shown, reason = %why, "cannot read redis's persistence settings (CONFIG refused); make sure it keeps nothing on disk");
            }
        }
    }
    Ok(())
}

async fn probe(url: &str) -> Result<Persistence, RedisError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let save: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut conn)
        .await;
    let appendonly: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut conn)
        .await;
    match (save, appendonly) {
        (Ok(save), Ok(appendonly)) => Ok(judge(
            save.get(1).map_or("", String::as_str),
            appendonly.get(1).map_or("no", String::as_str),
        )),
        (Err(err), _) | (_, Err(err)) if err.is_io_error() => Err(err),
        (Err(err), _) | (_, Err(err)) => Ok(Persistence::Unknown(err.to_string())),
    }
}

/// The verdict from the two settings.
pub fn judge(save: &str, appendonly: &str) -> Persistence {
    let mut on = Vec::new();
    if !save.trim().is_empty() {
        on.push(format!("save \"{}\"", save.trim()));
    }
    if appendonly.trim().eq_ignore_ascii_case("yes") {
        on.push("appendonly yes".to_owned());
    }
    if on.is_empty() {
        Persistence::Off
    } else {
        Persistence::On(on.join(", "))
    }
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_or_an_append_only_file_count_as_persistent() {
        assert_eq!(judge("", "no"), Persistence::Off);
        assert_eq!(
            judge("3600 1 300 100", "no"),
            Persistence::On("save \"3600 1 300 100\"".into())
        );
        assert_eq!(judge("", "yes"), Persistence::On("appendonly yes".into()));
    }

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redact("redis://:hunter2@host:6379"),
            "redis://:***@host:6379"
        );
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
