//! A follower's view of the change log: resume from a sequence number, read in order, sleep
//! until `NOTIFY change_log` says there is more.

use std::time::Duration;

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;

use super::change_log::{ChangeRecord, read_changes};
use super::pool::ConnectError;

/// Tails the change log on a dedicated connection that LISTENs for new changes.
///
/// ```no_run
/// # async fn follow(url: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let mut feed = kgnode::db::ChangeFeed::open(url, 0, 500).await?;
/// loop {
///     for change in feed.next(Duration::from_secs(30)).await? {
///         println!("{} {:?}", change.seq, change.event);
///     }
///     // Persist feed.position() with what was applied, to resume from it after a restart.
/// }
/// # }
/// ```
pub struct ChangeFeed {
    conn: AsyncPgConnection,
    position: i64,
    batch: i64,
}

impl ChangeFeed {
    /// Opens a feed that yields changes with `seq > after`, at most `batch` at a time.
    pub async fn open(url: &str, after: i64, batch: i64) -> Result<Self, ConnectError> {
        let mut conn = super::pool::establish(url).await?;
        diesel::sql_query("LISTEN change_log")
            .execute(&mut conn)
            .await?;
        Ok(Self {
            conn,
            position: after,
            batch: batch.max(1),
        })
    }

    /// The sequence number of the last change handed out (or the starting point).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The next changes in sequence order. When none are waiting, sleeps until a notification
    /// arrives or `idle` passes; it may then return an empty list, which is not an error.
    pub async fn next(&mut self, idle: Duration) -> QueryResult<Vec<ChangeRecord>> {
        let mut changes = read_changes(&mut self.conn, self.position, self.batch).await?;
        if changes.is_empty() {
            let woken = {
                let mut notifications = std::pin::pin!(self.conn.notifications_stream());
                tokio::time::timeout(idle, notifications.next()).await
            };
            if let Ok(Some(Err(error))) = woken {
                return Err(error);
            }
            changes = read_changes(&mut self.conn, self.position, self.batch).await?;
        }
        if let Some(last) = changes.last() {
            self.position = last.seq;
        }
        Ok(changes)
    }
}
