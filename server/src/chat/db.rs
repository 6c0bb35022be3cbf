//! The chat database: a sqlx pool over SQLite or PostgreSQL, chosen by URL,
//! with the embedded migrations of `server/migrations/`.
//!
//! The default, `sqlite::memory:`, keeps Malten's promise of nothing on
//! disk. An in-memory SQLite database lives exactly as long as its one
//! connection, and each new connection would be a new, empty database, so
//! for such URLs the pool holds a single connection that never idles out or
//! expires. A file (`sqlite://chat.db?mode=rwc`) or `postgres://` URL gets an
//! ordinary pool.
//!
//! Queries are plain strings with `$1`-style parameters, which both SQLite
//! and PostgreSQL accept, and go through sqlx's `Any` driver; there are no
//! compile-time-checked macros, so building needs no database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection};

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects and runs pending migrations.
///
/// A server database is first tried with one plain connection: the pool
/// would retry a refused connection until its acquire timeout, and a wrong
/// URL should stop start-up at once rather than after seconds of retries.
pub async fn connect(url: &str) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    if !is_memory_sqlite(url) {
        sqlx::AnyConnection::connect(url).await?.close().await?;
    }
    let options = if is_memory_sqlite(url) {
        AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
    };
    let pool = options.connect(url).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Runs each of `statements` with `$1` = `id`, in order, in one transaction:
/// the shared shape of every delete that takes dependent rows with it.
pub async fn delete_all(pool: &AnyPool, statements: &[&str], id: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for statement in statements {
        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The row `id` of `table` (read as `columns`) if it belongs to `app_id`
/// and `environment`: the lookup behind every app-scoped `GET`, `PATCH` and
/// `DELETE`. `table` and `columns` are constants of the caller, never input.
pub async fn find_in_app<T>(
    pool: &AnyPool,
    table: &str,
    columns: &str,
    id: &str,
    app_id: &str,
    environment: &str,
) -> sqlx::Result<Option<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    sqlx::query_as(&format!(
        "SELECT {columns} FROM {table} WHERE id = $1 AND app_id = $2 AND environment = $3"
    ))
    .bind(id)
    .bind(app_id)
    .bind(environment)
    .fetch_optional(pool)
    .await
}

fn is_memory_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// The URL with any password replaced, for logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Now, in Unix milliseconds: the time column type of every table.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_memory_sqlite("sqlite::memory:"));
        assert!(is_memory_sqlite("sqlite:file:x?mode=memory&cache=shared"));
        assert!(!is_memory_sqlite("sqlite://chat.db?mode=rwc"));
        assert!(!is_memory_sqlite("postgres://localhost/chat"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("postgres://malten:hunter2@db:5432/chat"),
            "postgres://malten:***@db:5432/chat"
        );
        assert_eq!(redacted("sqlite::memory:"), "sqlite::memory:");
    }

    #[tokio::test]
    async fn the_default_in_memory_database_keeps_its_tables_across_queries() {
        let pool = connect("sqlite::memory:").await.unwrap();
        for _ in 0..3 {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_orgs")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
    }
}
