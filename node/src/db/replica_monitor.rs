//! Each replica's health for the router ([`super::routing`]): a probe per replica asks, every
//! [`POLL`], the primary how far it has written its WAL and the replica how far it has replayed
//! it, each on a connection of its own.
//!
//! The lag is measured on the primary's clock, not with `pg_last_xact_replay_timestamp()`
//! (which grows while the primary is idle, making an idle replica look stale): the probe keeps
//! the positions the primary had written at past polls, and a replica that has replayed the one
//! seen at time `t` held every write made until `t`. Its lag is the time since then, so a read
//! on a replica with lag `d` misses at most the writes of the last `d`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;

use super::lsn::{Lsn, query_lsn, write_position};
use super::pool::establish;
use super::routing::{Health, ReadRouter, Replica};
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

/// How often each replica is probed.
const POLL: Duration = Duration::from_millis(500);
/// A probe's query (connecting included) that takes longer has failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Positions of the primary kept per replica: a replica further behind than this many polls
/// (about eight minutes) is simply lagging.
const MAX_SAMPLES: usize = 1024;

/// Where a standby is in its replay; NULL on a server that is not in recovery.
const REPLAYED: &str = "SELECT CASE WHEN pg_is_in_recovery() \
     THEN pg_last_wal_replay_lsn()::text END AS lsn";

/// Starts the probes of `router`'s replicas on a thread of their own; `None` without replicas.
pub fn start_replica_monitor(
    router: &ReadRouter,
    primary_url: &str,
) -> std::io::Result<Option<Worker>> {
    if !router.has_replicas() {
        return Ok(None);
    }
    let monitor = Monitor {
        router: router.clone(),
        primary_url: primary_url.to_owned(),
    };
    spawn_worker("kg-replicas", monitor).map(Some)
}

struct Monitor {
    router: ReadRouter,
    primary_url: String,
}

impl WorkerJob for Monitor {
    type Error = std::convert::Infallible;

    async fn run(&mut self, stopped: Stopped) -> Result<(), Self::Error> {
        let max_lag = self.router.max_lag();
        let probes = self.router.replicas().iter().map(|replica| {
            let mut probe = Probe {
                replica,
                primary_url: &self.primary_url,
                primary: None,
                standby: None,
                written: WrittenPositions::default(),
            };
            let mut stopped = stopped.clone();
            async move {
                loop {
                    let health = probe.check().await;
                    replica.record(health, max_lag);
                    if stopped.sleep(POLL).await {
                        return;
                    }
                }
            }
        });
        futures_util::future::join_all(probes).await;
        Ok(())
    }

    fn finish(self) {}
}

/// One replica's probe and its connections (reopened after a failure).
struct Probe<'a> {
    replica: &'a Replica,
    primary_url: &'a str,
    primary: Option<AsyncPgConnection>,
    standby: Option<AsyncPgConnection>,
    written: WrittenPositions,
}

impl Probe<'_> {
    async fn check(&mut self) -> Health {
        // The primary first: a replica that has replayed what it had written then held every
        // write made before this moment.
        let asked_at = Instant::now();
        match timed(primary_position(&mut self.primary, self.primary_url)).await {
            Ok(lsn) => self.written.record(asked_at, lsn),
            Err(error) => {
                // Without the primary's position the lag cannot be renewed: it grows until the
                // primary answers again.
                tracing::debug!(%error, "replica monitor: cannot ask the primary its WAL position");
                self.primary = None;
            }
        }
        let url = self.replica.url.expose_secret();
        match timed(replayed(&mut self.standby, url)).await {
            Ok(Some(replayed)) => Health::Standby {
                replayed,
                caught_up_at: self.written.caught_up(replayed),
            },
            Ok(None) => Health::NotStandby,
            Err(error) => {
                self.standby = None;
                Health::Unreachable(error)
            }
        }
    }
}

async fn timed<T>(probe: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}")))
}

/// The connection in `slot`, opened to `url` when there is none.
async fn connection<'a>(
    slot: &'a mut Option<AsyncPgConnection>,
    url: &str,
) -> Result<&'a mut AsyncPgConnection, String> {
    if slot.is_none() {
        *slot = Some(establish(url).await.map_err(|error| error.to_string())?);
    }
    slot.as_mut().ok_or_else(|| "no connection".to_owned())
}

async fn primary_position(slot: &mut Option<AsyncPgConnection>, url: &str) -> Result<Lsn, String> {
    let conn = connection(slot, url).await?;
    write_position(conn)
        .await
        .map_err(|error| error.to_string())
}

async fn replayed(slot: &mut Option<AsyncPgConnection>, url: &str) -> Result<Option<Lsn>, String> {
    let conn = connection(slot, url).await?;
    query_lsn(conn, REPLAYED)
        .await
        .map_err(|error| error.to_string())
}

/// The primary's WAL positions at past polls, oldest first.
#[derive(Debug, Default)]
struct WrittenPositions(VecDeque<(Instant, Lsn)>);

impl WrittenPositions {
    fn record(&mut self, at: Instant, lsn: Lsn) {
        self.0.push_back((at, lsn));
        if self.0.len() > MAX_SAMPLES {
            self.0.pop_front();
        }
    }

    /// The newest moment at which the primary had written no more than `replayed` (so a
    /// replica that replayed that far held every write made until then); `None` when it had
    /// written more at every poll kept. Older positions are forgotten: replay only moves on.
    fn caught_up(&mut self, replayed: Lsn) -> Option<Instant> {
        let newest = self.0.iter().rposition(|(_, lsn)| *lsn <= replayed)?;
        self.0.drain(..newest);
        self.0.front().map(|(at, _)| *at)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lsn(text: &str) -> Lsn {
        text.parse().unwrap()
    }

    #[test]
    fn a_replica_is_as_fresh_as_the_newest_primary_position_it_has_replayed() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut written = WrittenPositions::default();
        written.record(at(0), lsn("0/100"));
        assert_eq!(
            written.caught_up(lsn("0/FF")),
            None,
            "behind the first position"
        );
        written.record(at(1), lsn("0/200"));
        written.record(at(2), lsn("0/200"));
        written.record(at(3), lsn("0/300"));
        assert_eq!(written.caught_up(lsn("0/100")), Some(at(0)));
        assert_eq!(
            written.caught_up(lsn("0/250")),
            Some(at(2)),
            "an idle primary's repeated position counts at its newest poll"
        );
        assert_eq!(
            written.caught_up(lsn("0/250")),
            Some(at(2)),
            "forgetting older positions keeps the answer"
        );
        assert_eq!(written.caught_up(lsn("0/300")), Some(at(3)));
    }
}
