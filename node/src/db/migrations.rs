//! Embedded, versioned, reversible migrations from the workspace's `migrations/` folder.
//!
//! diesel_migrations is synchronous; it runs here on a blocking thread through diesel-async's
//! [`AsyncConnectionWrapper`], so no libpq is needed.

use diesel::Connection;
use diesel::migration::{Migration, MigrationSource, MigrationVersion};
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

type BlockingConnection = AsyncConnectionWrapper<AsyncPgConnection>;

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
#[error("migration failed: {0}")]
pub struct MigrationError(String);

/// The versions compiled into this binary, oldest first.
pub fn embedded_versions() -> Vec<String> {
    let mut versions: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map(|all| all.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default();
    versions.sort();
    versions
}

/// The versions recorded as applied in the database (empty before the first migration).
pub async fn applied_versions(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<String>, diesel::result::Error> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let table_exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('__diesel_schema_migrations') IS NOT NULL",
    ))
    .get_result(conn)
    .await?;
    if !table_exists {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|row| row.version).collect())
}

/// Applies every pending migration; returns the versions applied.
pub async fn run_pending(url: &str) -> Result<Vec<String>, MigrationError> {
    with_blocking_connection(url, |conn| {
        conn.run_pending_migrations(MIGRATIONS)
            .map(versions_to_strings)
    })
    .await
}

/// Reverts the `steps` most recent migrations (all of them when `steps` is `None`); returns the
/// versions reverted, newest first.
pub async fn revert(url: &str, steps: Option<usize>) -> Result<Vec<String>, MigrationError> {
    with_blocking_connection(url, move |conn| match steps {
        None => conn
            .revert_all_migrations(MIGRATIONS)
            .map(versions_to_strings),
        Some(steps) => {
            let mut reverted = Vec::new();
            for _ in 0..steps {
                if conn.applied_migrations()?.is_empty() {
                    break;
                }
                reverted.push(conn.revert_last_migration(MIGRATIONS)?.to_string());
            }
            Ok(reverted)
        }
    })
    .await
}

fn versions_to_strings(versions: Vec<MigrationVersion<'_>>) -> Vec<String> {
    versions.iter().map(ToString::to_string).collect()
}

type HarnessResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn with_blocking_connection<T, F>(url: &str, work: F) -> Result<T, MigrationError>
where
    T: Send + 'static,
    F: FnOnce(&mut BlockingConnection) -> HarnessResult<T> + Send + 'static,
{
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn =
            BlockingConnection::establish(&url).map_err(|e| MigrationError(e.to_string()))?;
        work(&mut conn).map_err(|e| MigrationError(e.to_string()))
    })
    .await
    .map_err(|e| MigrationError(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_embedded_in_order() {
        let versions = embedded_versions();
        assert!(versions.len() >= 3);
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
