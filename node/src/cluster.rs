//! Several `kgnode serve` processes on one database: one owner per singleton.
//!
//! Most background work is shared among the processes as it is: jobs are claimed row by row
//! under a renewed lease (`FOR UPDATE SKIP LOCKED`), a receiving inbox is leased to one
//! delivery worker at a time, a backfill chunk is queued under its row's lock, and each process
//! keeps its own search index, graph and event hub. Some work must run in one process at a time,
//! though: the outgoing federation projection follows the change log from one saved cursor, and
//! two of them would queue every activity twice. Such a *singleton* runs only in the process
//! that holds its session-level PostgreSQL advisory lock, on a connection kept for that alone:
//! if the process dies, PostgreSQL ends the session and frees the lock, and another process's
//! next try takes it. No coordinator of our own; PostgreSQL decides.
//!
//! Within `cluster.takeover_secs` (T) of an owner's end, another process runs the work:
//! - waiting processes try for the lock every T/4;
//! - the lock's connection asks the server to probe it with TCP keepalives (idle T/4, then two
//!   probes T/8 apart), so a vanished machine's session ends within T/2 too, not hours later;
//! - the owner checks its connection every T/4, and stops the work as soon as it fails (the
//!   server may have ended its session, and another process may own the work now). The work
//!   itself is written to be safe across a handover (the outbox projection checks, in the
//!   transaction that moves its cursor, that nobody else moved it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::db;
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

/// Whether this process runs a singleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnershipState {
    /// It has not tried for the lock yet.
    Pending,
    /// It holds the lock and runs the work.
    Owner,
    /// Another process holds the lock (or the database cannot be reached); it waits.
    Standby,
}

impl OwnershipState {
    /// Its name in `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnershipState::Pending => "pending",
            OwnershipState::Owner => "owner",
            OwnershipState::Standby => "standby",
        }
    }
}

/// A singleton's ownership as this process sees it, shared with `/readyz` and the projections'
/// report.
#[derive(Debug, Clone)]
pub struct Ownership(Arc<AtomicU8>);

impl Ownership {
    fn new() -> Self {
        Self(Arc::new(AtomicU8::new(OwnershipState::Pending as u8)))
    }

    /// The current state.
    pub fn state(&self) -> OwnershipState {
        match AtomicU8::load(&self.0, Ordering::Acquire) {
            state if state == OwnershipState::Owner as u8 => OwnershipState::Owner,
            state if state == OwnershipState::Standby as u8 => OwnershipState::Standby,
            _ => OwnershipState::Pending,
        }
    }

    fn set(&self, state: OwnershipState) {
        AtomicU8::store(&self.0, state as u8, Ordering::Release);
    }
}

/// The singletons of this process and their ownership, by name, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Singletons(Vec<(&'static str, Ownership)>);

impl Singletons {
    /// Adds the singleton `name`.
    pub fn add(&mut self, name: &'static str, ownership: &Ownership) {
        self.0.push((name, ownership.clone()));
    }

    /// Each singleton's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&'static str, OwnershipState)> + '_ {
        self.0
            .iter()
            .map(|(name, ownership)| (*name, ownership.state()))
    }
}

/// Starts `job` on a thread named `name`, running only while this process holds the advisory
/// lock `key` (unique per singleton). Returns the worker and its ownership.
pub(crate) fn spawn_singleton<J: WorkerJob>(
    name: &'static str,
    key: i64,
    settings: &Settings,
    job: J,
) -> std::io::Result<(Worker, Ownership)> {
    let ownership = Ownership::new();
    let takeover = Duration::from_secs(settings.cluster.takeover_secs.max(1));
    let singleton = Singleton {
        name,
        key,
        url: settings.database.url.expose_secret().to_owned(),
        beat: takeover / 4,
        ownership: ownership.clone(),
        job,
    };
    Ok((spawn_worker(name, singleton)?, ownership))
}

struct Singleton<J> {
    name: &'static str,
    key: i64,
    url: String,
    /// How often waiting processes try for the lock and the owner checks its connection.
    beat: Duration,
    ownership: Ownership,
    job: J,
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

impl<J: WorkerJob> WorkerJob for Singleton<J> {
    type Error = J::Error;

    async fn run(&mut self, mut stopped: Stopped) -> Result<(), Self::Error> {
        loop {
            let Some(mut lock) = self.acquire(&mut stopped).await else {
                return Ok(());
            };
            self.ownership.set(OwnershipState::Owner);
            tracing::info!(
                singleton = self.name,
                pid = std::process::id(),
                "this process owns the singleton and runs it"
            );
            let ended = tokio::select! {
                ended = self.job.run(stopped.clone()) => ended,
                () = held_until_lost(&mut lock, self.beat) => {
                    self.ownership.set(OwnershipState::Standby);
                    tracing::warn!(singleton = self.name,
                        "lost the singleton's lock connection; stopped it until this process owns it again");
                    continue;
                }
            };
            // Handed back at once, so that another process need not wait for the session to end.
            let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(self.key)
                .execute(&mut lock)
                .await;
            self.ownership.set(OwnershipState::Standby);
            return ended;
        }
    }

    fn finish(self) {
        self.job.finish();
    }
}

impl<J> Singleton<J> {
    /// Tries for the lock every beat until it is taken (its connection) or shutdown is asked
    /// for (`None`).
    async fn acquire(&self, stopped: &mut Stopped) -> Option<AsyncPgConnection> {
        let mut conn = None;
        loop {
            match self.try_lock(&mut conn).await {
                Ok(true) => return conn,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(singleton = self.name, %error, "cannot try for the singleton's lock");
                    conn = None;
                }
            }
            self.ownership.set(OwnershipState::Standby);
            if stopped.sleep(self.beat).await {
                return None;
            }
        }
    }

    async fn try_lock(&self, slot: &mut Option<AsyncPgConnection>) -> Result<bool, String> {
        if slot.is_none() {
            *slot = Some(self.connect().await?);
        }
        let Some(conn) = slot.as_mut() else {
            return Ok(false);
        };
        let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(self.key)
            .get_result(conn)
            .await
            .map_err(|error| error.to_string())?;
        Ok(locked.locked)
    }

    /// The lock's connection, which the server probes with keepalives so that it ends the
    /// session (and frees the lock) soon after this machine vanishes.
    async fn connect(&self) -> Result<AsyncPgConnection, String> {
        let mut conn = db::establish(&self.url)
            .await
            .map_err(|error| error.to_string())?;
        let idle = self.beat.as_secs().max(1);
        let interval = (self.beat / 2).as_secs().max(1);
        conn.batch_execute(&format!(
            "SET tcp_keepalives_idle = {idle}; SET tcp_keepalives_interval = {interval}; \
             SET tcp_keepalives_count = 2"
        ))
        .await
        .map_err(|error| error.to_string())?;
        Ok(conn)
    }
}

/// Returns once the lock's connection fails or does not answer within a beat.
async fn held_until_lost(conn: &mut AsyncPgConnection, beat: Duration) {
    loop {
        tokio::time::sleep(beat).await;
        let alive = tokio::time::timeout(beat, diesel::sql_query("SELECT 1").execute(conn)).await;
        if !matches!(alive, Ok(Ok(_))) {
            return;
        }
    }
}
