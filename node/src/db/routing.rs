//! Where a read runs: the one place that chooses between the primary and its streaming
//! replicas.
//!
//! Reads that tolerate a little lag (the list and get endpoints, exports) ask
//! [`ReadRouter::read`] for a connection, naming the WAL position their client has already seen
//! (the `X-KG-Min-LSN` of its last write). They get a replica's connection when that replica is
//! healthy (its monitor, [`super::replica_monitor`], reached it as a standby and it is at most
//! `database.replica_max_lag_secs` behind) and has replayed at least that position; otherwise
//! the primary's. Writes, and everything else, use the primary's pool directly. A replica that is
//! down, lagging or not a standby is skipped, never an error: the primary answers instead.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use deadpool::managed::TimeoutType;
use diesel_async::pooled_connection::deadpool::PoolError;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::lsn::{Lsn, write_position};
use super::pool::{ConnectError, DbConn, DbPool, connect_to};
use crate::config::DatabaseSettings;

/// How long a read waits for a replica's connection (to be returned, or opened) before it goes
/// to the primary instead: a replica that stopped answering costs a request this much at most,
/// until its monitor marks it down, and a replica whose connections are all busy sends the
/// reads it cannot take to the primary.
const REPLICA_WAIT: Duration = Duration::from_secs(1);

/// The primary's pool and the replicas, shared by the HTTP workers.
#[derive(Clone)]
pub struct ReadRouter(Arc<Routes>);

struct Routes {
    primary: DbPool,
    replicas: Vec<Replica>,
    max_lag: Duration,
    /// Where the next read starts looking, so that reads spread over the replicas.
    next: AtomicUsize,
}

/// One replica: its pool, and its health as its monitor last saw it.
pub(crate) struct Replica {
    /// Host, port and database (never the password), for logs and `/readyz`.
    pub(crate) name: String,
    /// For the monitor's connection of its own.
    pub(crate) url: SecretString,
    pool: DbPool,
    health: RwLock<Health>,
    reads: AtomicU64,
}

/// What the last probe of a replica found.
#[derive(Debug, Clone, Default)]
pub(crate) enum Health {
    /// Not probed yet.
    #[default]
    Unknown,
    /// A standby, which had replayed `replayed` and held everything the primary had written by
    /// `caught_up_at` (`None`: behind everything the monitor has seen the primary write).
    Standby {
        /// Its `pg_last_wal_replay_lsn()`.
        replayed: Lsn,
        /// The newest moment up to which it held every write.
        caught_up_at: Option<Instant>,
    },
    /// It answers but is not in recovery (promoted, or not a replica at all).
    NotStandby,
    /// It could not be reached or asked.
    Unreachable(String),
}

/// A replica's state as reported by `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Not probed yet: skipped.
    Starting,
    /// In use.
    Healthy,
    /// Further behind than `database.replica_max_lag_secs`: skipped.
    Lagging,
    /// Unreachable: skipped.
    Down,
    /// Not a standby: skipped.
    NotStandby,
}

impl ReplicaState {
    /// Its name in `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Starting => "starting",
            ReplicaState::Healthy => "healthy",
            ReplicaState::Lagging => "lagging",
            ReplicaState::Down => "down",
            ReplicaState::NotStandby => "not_standby",
        }
    }
}

/// A replica as `/readyz` shows it.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    /// Host, port and database.
    pub name: String,
    /// Whether reads go to it, and if not why.
    pub state: ReplicaState,
    /// How far behind the primary it is, when known.
    pub lag: Option<Duration>,
    /// How far it has replayed the WAL, when known.
    pub replayed: Option<Lsn>,
    /// Reads it has served since this process started.
    pub reads: u64,
    /// Why it is down.
    pub error: Option<String>,
}

impl Health {
    fn state(&self, max_lag: Duration, now: Instant) -> ReplicaState {
        match self {
            Health::Unknown => ReplicaState::Starting,
            Health::NotStandby => ReplicaState::NotStandby,
            Health::Unreachable(_) => ReplicaState::Down,
            Health::Standby { .. } => match self.lag(now) {
                Some(lag) if lag <= max_lag => ReplicaState::Healthy,
                _ => ReplicaState::Lagging,
            },
        }
    }

    /// How stale a read on it may be: the time since it last held every write. Growing while
    /// no probe succeeds, so a monitor that stalls never leaves a replica looking fresh.
    fn lag(&self, now: Instant) -> Option<Duration> {
        match self {
            Health::Standby {
                caught_up_at: Some(at),
                ..
            } => Some(now.saturating_duration_since(*at)),
            _ => None,
        }
    }

    fn replayed(&self) -> Option<Lsn> {
        match self {
            Health::Standby { replayed, .. } => Some(*replayed),
            _ => None,
        }
    }
}

impl Replica {
    fn new(url: &SecretString, size: usize) -> Result<Self, ConnectError> {
        let parsed = Url::parse(url.expose_secret())
            .map_err(|error| ConnectError::InvalidUrl(format!("database.replica_urls: {error}")))?;
        let name = format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("localhost"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        );
        Ok(Self {
            name,
            url: url.clone(),
            pool: connect_to(url.expose_secret(), size, REPLICA_WAIT)?,
            health: RwLock::new(Health::Unknown),
            reads: AtomicU64::new(0),
        })
    }

    fn health(&self) -> Health {
        self.health
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a read that must see `min` may run here now.
    fn serves(&self, min: Option<Lsn>, max_lag: Duration) -> bool {
        let health = self.health();
        health.state(max_lag, Instant::now()) == ReplicaState::Healthy
            && min.is_none_or(|min| health.replayed().is_some_and(|replayed| replayed >= min))
    }

    /// Keeps what a probe (or a failed checkout) found, and logs when reads start or stop
    /// going here.
    pub(crate) fn record(&self, health: Health, max_lag: Duration) {
        let now = Instant::now();
        let before = {
            let mut current = self.health.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *current, health.clone())
        }
        .state(max_lag, now);
        let after = health.state(max_lag, now);
        if before == after {
            return;
        }
        if after == ReplicaState::Healthy {
            tracing::info!(replica = %self.name, "replica in use for reads");
        } else if after != ReplicaState::Starting {
            let error = match &health {
                Health::Unreachable(error) => Some(error.as_str()),
                _ => None,
            };
            tracing::warn!(replica = %self.name, state = after.as_str(), lag = ?health.lag(now),
                error, "replica skipped: reads go to the primary");
        }
    }
}

impl ReadRouter {
    /// The primary's pool and a lazily connecting pool per `database.replica_urls` entry (of
    /// `database.max_connections` each). Nothing is read from a replica before its monitor has
    /// found it healthy.
    pub fn new(primary: DbPool, settings: &DatabaseSettings) -> Result<Self, ConnectError> {
        let replicas = settings
            .replica_urls
            .iter()
            .map(|url| Replica::new(url, settings.max_connections))
            .collect::<Result<_, _>>()?;
        Ok(Self(Arc::new(Routes {
            primary,
            replicas,
            max_lag: Duration::from_secs(settings.replica_max_lag_secs),
            next: AtomicUsize::new(0),
        })))
    }

    /// Whether any replica is configured.
    pub fn has_replicas(&self) -> bool {
        !self.0.replicas.is_empty()
    }

    /// The lag from which a replica is skipped.
    pub fn max_lag(&self) -> Duration {
        self.0.max_lag
    }

    pub(crate) fn replicas(&self) -> &[Replica] {
        &self.0.replicas
    }

    /// A connection for a read that must see every write up to `min` (none: any healthy
    /// replica will do): a healthy replica's that has replayed that far, taken in turn, else the
    /// primary's.
    pub async fn read(&self, min: Option<Lsn>) -> Result<DbConn, PoolError> {
        let replicas = &self.0.replicas;
        let start = self.0.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..replicas.len() {
            let replica = &replicas[(start + offset) % replicas.len()];
            if !replica.serves(min, self.0.max_lag) {
                continue;
            }
            match replica.pool.get().await {
                Ok(conn) => {
                    replica.reads.fetch_add(1, Ordering::Relaxed);
                    return Ok(conn);
                }
                // Every connection busy: this read spills over; the replica is fine.
                Err(PoolError::Timeout(TimeoutType::Wait)) => {}
                Err(error) => {
                    replica.record(Health::Unreachable(error.to_string()), self.0.max_lag)
                }
            }
        }
        self.0.primary.get().await
    }

    /// How far the primary has written its WAL, asked after a write committed: the position
    /// its client's next reads must see.
    pub async fn write_position(&self) -> Result<Lsn, crate::error::Error> {
        let mut conn = self.0.primary.get().await?;
        Ok(write_position(&mut conn).await?)
    }

    /// Each replica's state, in configuration order.
    pub fn statuses(&self) -> Vec<ReplicaStatus> {
        let now = Instant::now();
        self.0
            .replicas
            .iter()
            .map(|replica| {
                let health = replica.health();
                ReplicaStatus {
                    name: replica.name.clone(),
                    state: health.state(self.0.max_lag, now),
                    lag: health.lag(now),
                    replayed: health.replayed(),
                    reads: replica.reads.load(Ordering::Relaxed),
                    error: match health {
                        Health::Unreachable(error) => Some(error),
                        _ => None,
                    },
                }
            })
            .collect()
    }
}
