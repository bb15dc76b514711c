//! Recently verified credentials, so that a request with a token or session costs no database
//! round trip (the lookup otherwise doubled the cost of a cached read).
//!
//! Correctness rests on invalidation, not on the entry's age: every change that can take
//! rights away (a token revoked, a session ended, a role changed or removed) runs
//! [`credentials_changed`] in its transaction, and every node process LISTENs for it and
//! forgets all entries when it arrives; the process that made the change also forgets them at
//! once, so its next request already sees it. While the listening connection is down, the
//! cache is bypassed. An entry still lives at most [`LONGEST_LIFE`], and a token or session
//! that expires is refused at its expiry however fresh the entry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures_util::StreamExt;

use super::caller::Caller;

/// The channel of [`credentials_changed`].
const CHANNEL: &str = "kgnode_credentials";

/// Longest an entry is trusted, even without a notification.
pub const LONGEST_LIFE: Duration = Duration::from_secs(60);

/// Most entries kept; the least recently used go first.
const CAPACITY: u64 = 100_000;

/// Pause before the listener connects again after losing its connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Tells every node process, once the calling transaction commits, that credentials or roles
/// changed.
pub async fn credentials_changed(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    // In scope here only: `RunQueryDsl::load` would shadow the atomics' `load` elsewhere.
    use diesel_async::RunQueryDsl;
    diesel::sql_query(format!("NOTIFY {CHANNEL}"))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone)]
struct Entry {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
}

/// The cache of one node process, shared by its HTTP workers.
#[derive(Clone)]
pub struct CredentialCache {
    entries: moka::sync::Cache<Vec<u8>, Entry>,
    /// Bumped by every invalidation: a lookup that started before one stores nothing.
    generation: Arc<AtomicU64>,
    /// Whether notifications are being received (else the cache is bypassed).
    listening: Arc<AtomicBool>,
}

impl CredentialCache {
    /// An empty cache that trusts nothing until [`CredentialCache::listen`] has subscribed.
    pub fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(LONGEST_LIFE)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
            listening: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The caller cached for the secret with digest `digest`, if any and still valid.
    pub fn get(&self, digest: &[u8]) -> Option<Caller> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.get(digest)?;
        if entry.expires_at.is_some_and(|at| at <= Utc::now()) {
            self.entries.invalidate(digest);
            return None;
        }
        Some(entry.caller)
    }

    /// The position to hand to [`CredentialCache::insert`], taken before the database lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `caller` for `digest`, unless an invalidation happened since `generation`.
    pub fn insert(
        &self,
        digest: Vec<u8>,
        caller: Caller,
        expires_at: Option<DateTime<Utc>>,
        generation: u64,
    ) {
        if self.listening.load(Ordering::Acquire) && self.generation() == generation {
            self.entries.insert(digest, Entry { caller, expires_at });
        }
    }

    /// Forgets every entry.
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Listens for [`credentials_changed`] on a connection of its own to `url`, forgetting
    /// everything at each notification; reconnects when the connection is lost. Runs until
    /// the task is dropped.
    pub async fn listen(self, url: String) {
        loop {
            match crate::db::establish(&url).await {
                Ok(mut conn) => {
                    if let Err(error) = self.follow(&mut conn).await {
                        tracing::warn!(%error, "credential notifications lost; cache bypassed");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for credential changes; cache bypassed");
                }
            }
            self.listening.store(false, Ordering::Release);
            self.invalidate_all();
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }

    async fn follow(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        use diesel_async::RunQueryDsl;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(conn)
            .await?;
        // Anything cached before the subscription may have missed a notification.
        self.invalidate_all();
        self.listening.store(true, Ordering::Release);
        let mut notifications = std::pin::pin!(conn.notifications_stream());
        while let Some(notification) = notifications.next().await {
            notification?;
            self.invalidate_all();
        }
        Ok(())
    }
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_only_while_listening_and_until_invalidated() {
        let cache = CredentialCache::new();
        let caller = Caller::anonymous();
        cache.insert(vec![1], caller.clone(), None, cache.generation());
        assert!(
            cache.get(&[1]).is_none(),
            "not listening: nothing is trusted"
        );
        cache.listening.store(true, Ordering::Release);
        cache.insert(vec![1], caller.clone(), None, cache.generation());
        assert!(cache.get(&[1]).is_some());
        let before = cache.generation();
        cache.invalidate_all();
        assert!(cache.get(&[1]).is_none());
        cache.insert(vec![1], caller.clone(), None, before);
        assert!(
            cache.get(&[1]).is_none(),
            "a lookup older than the invalidation"
        );
        let past = Some(Utc::now() - chrono::Duration::seconds(1));
        cache.insert(vec![2], caller, past, cache.generation());
        assert!(cache.get(&[2]).is_none(), "expired");
    }
}
