//! The workers that run jobs of one kind: `jobs.workers` loops on the worker runner's thread,
//! woken by `NOTIFY jobs` (with a poll as fallback), each holding one job at a time under a
//! lease it renews while the job runs. Told to stop, a worker claims nothing more and lets its
//! job finish for up to `http.shutdown_grace_secs`; a job still running then is abandoned and
//! handed back to the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use rand::Rng;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::config::{JobSettings, Settings};
use crate::db::{self, ConnectError, DbPool};
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

use super::queue::{self, DbJob, Failure, JobKind, LeaseLost};

/// Why an attempt failed.
#[derive(Debug, Clone)]
pub struct JobError {
    /// For people: kept as the job's (and its subject's) last error.
    pub message: String,
    /// When the service asked for a pause (`Retry-After`), instead of the backoff.
    pub retry_after: Option<Duration>,
}

impl JobError {
    /// An attempt that failed for `message`, retried after the usual backoff.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(error: diesel::result::Error) -> Self {
        Self::new(format!("database error: {error}"))
    }
}

impl From<LeaseLost> for JobError {
    fn from(error: LeaseLost) -> Self {
        Self::new(error.to_string())
    }
}

/// One attempt at a job, with the lease it runs under.
pub struct Attempt {
    /// The job, as claimed (`attempts` counts this one).
    pub job: DbJob,
    owner: String,
}

impl Attempt {
    /// Marks the job succeeded; call it in the transaction that commits the job's effects (it
    /// fails, and so rolls them back, if the lease was lost meanwhile).
    pub async fn succeed(&self, conn: &mut AsyncPgConnection) -> Result<(), LeaseLost> {
        queue::succeed(conn, self.job.id, &self.owner).await
    }
}

/// Runs the jobs of one kind.
pub trait JobHandler: Send + Sync + 'static {
    /// The kind it runs.
    const KIND: JobKind;

    /// Runs one attempt. Its effects must commit in one transaction that also calls
    /// [`Attempt::succeed`].
    fn run(
        &self,
        pool: &DbPool,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Records a failed attempt on the job's subject, in the transaction that records it on the
    /// job.
    fn failed(
        &self,
        conn: &mut AsyncPgConnection,
        job: &DbJob,
        failure: Failure,
        error: &str,
    ) -> impl Future<Output = diesel::QueryResult<()>> + Send;
}

/// Starts `settings.jobs.workers` workers for `handler`'s kind on a thread of their own.
pub fn start_jobs<H: JobHandler>(settings: &Settings, handler: H) -> std::io::Result<Worker> {
    spawn_worker(
        &format!("kg-jobs-{}", H::KIND.as_str()),
        JobRunner {
            settings: settings.clone(),
            handler: Arc::new(handler),
        },
    )
}

struct JobRunner<H> {
    settings: Settings,
    handler: Arc<H>,
}

impl<H: JobHandler> WorkerJob for JobRunner<H> {
    type Error = ConnectError;

    async fn run(&mut self, stopped: Stopped) -> Result<(), Self::Error> {
        let jobs = self.settings.jobs.clone();
        let mut database = self.settings.database.clone();
        database.max_connections = jobs.workers.max(1) + 1;
        let pool = db::connect(&database)?;
        let url = self.settings.database.url.expose_secret().to_owned();
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(url, wake.clone()));
        let grace = Duration::from_secs(self.settings.http.shutdown_grace_secs);
        let workers: Vec<_> = (0..jobs.workers.max(1))
            .map(|n| {
                let worker = JobWorker {
                    pool: pool.clone(),
                    handler: self.handler.clone(),
                    settings: jobs.clone(),
                    grace,
                    owner: format!("{}/{}/{n}", std::process::id(), uuid::Uuid::now_v7()),
                    wake: wake.clone(),
                };
                tokio::spawn(worker.work(stopped.clone()))
            })
            .collect();
        let mut released = 0;
        for worker in workers {
            released += worker.await.unwrap_or(0);
        }
        listener.abort();
        tracing::info!(kind = H::KIND.as_str(), released, "stopped job workers");
        Ok(())
    }

    fn finish(self) {}
}

/// Wakes the workers at every `NOTIFY jobs`; reconnects after a failure.
async fn listen(url: String, wake: Arc<Notify>) {
    loop {
        match db::establish(&url).await {
            Ok(mut conn) => {
                if diesel::sql_query("LISTEN jobs")
                    .execute(&mut conn)
                    .await
                    .is_ok()
                {
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    while let Some(Ok(_)) = notifications.next().await {
                        wake.notify_waiters();
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "job queue: cannot listen for new jobs"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct JobWorker<H> {
    pool: DbPool,
    handler: Arc<H>,
    settings: JobSettings,
    /// How long a running job may go on once the worker is told to stop.
    grace: Duration,
    owner: String,
    wake: Arc<Notify>,
}

impl<H: JobHandler> JobWorker<H> {
    /// Runs jobs until told to stop; returns how many it handed back to the queue (0 or 1).
    async fn work(self, mut stopped: Stopped) -> usize {
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        let mut released = 0;
        while !stopped.is_set() {
            // Registered before the claim, so that a job queued meanwhile wakes this worker.
            let woken = self.wake.notified();
            match self.claim().await {
                Ok(Some(job)) => {
                    if let Some(job) = self.run(job, &mut stopped).await {
                        released += usize::from(self.release(job).await);
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = woken => {}
                        _ = stopped.sleep(poll) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "job queue: cannot claim a job");
                    stopped.sleep(poll).await;
                }
            }
        }
        released
    }

    /// Claims a job without waiting for its commit to reach the disk: a claim lost in a crash
    /// only leaves the job queued, to be claimed again. (What a job does commits durably.)
    async fn claim(&self) -> Result<Option<DbJob>, crate::error::Error> {
        let mut conn = self.pool.get().await?;
        let lease = self.lease();
        let owner = &self.owner;
        Ok(conn
            .transaction(async |conn| {
                diesel::sql_query("SET LOCAL synchronous_commit = off")
                    .execute(conn)
                    .await?;
                queue::claim(conn, owner, &[H::KIND.as_str()], lease).await
            })
            .await?)
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.settings.lease_secs.max(1))
    }

    /// Runs one attempt; returns the job when the grace time after a stop ran out first (the
    /// attempt is abandoned: its effects, uncommitted, roll back).
    async fn run(&self, job: DbJob, stopped: &mut Stopped) -> Option<DbJob> {
        let attempt = Attempt {
            job,
            owner: self.owner.clone(),
        };
        let outcome = if attempt.job.attempts > attempt.job.max_attempts {
            // Its workers kept dying (the lease expired every time).
            Err(JobError::new(format!(
                "gave up after {} attempts whose worker stopped",
                attempt.job.max_attempts
            )))
        } else {
            tokio::select! {
                outcome = self.handler.run(&self.pool, &attempt) => outcome,
                lost = self.keep_lease(&attempt) => Err(lost),
                () = stopped.grace_over(self.grace) => return Some(attempt.job),
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(job = %attempt.job.id, attempt = attempt.job.attempts,
                error = %error.message, "job attempt failed");
            if let Err(failure) = self.record_failure(&attempt.job, &error).await {
                tracing::error!(job = %attempt.job.id, error = %failure,
                    "cannot record a failed job attempt; its lease will expire and it runs again");
            }
        }
        None
    }

    /// Hands an abandoned job back to the queue; true when it was still this worker's. If that
    /// fails, its lease runs out and it runs again all the same, only later.
    async fn release(&self, job: DbJob) -> bool {
        let released = async {
            let mut conn = self.pool.get().await?;
            Ok::<_, crate::error::Error>(queue::release(&mut conn, job.id, &self.owner).await?)
        };
        match released.await {
            Ok(released) => {
                if released {
                    tracing::info!(job = %job.id, "released job lease: the job was still running");
                }
                released
            }
            Err(error) => {
                tracing::warn!(job = %job.id, %error,
                    "cannot release a job's lease; it runs again once the lease expires");
                false
            }
        }
    }

    /// Renews the lease until it is lost (then the attempt is abandoned).
    async fn keep_lease(&self, attempt: &Attempt) -> JobError {
        let lease = self.lease();
        loop {
            tokio::time::sleep(lease / 3).await;
            let renewed = match self.pool.get().await {
                Ok(mut conn) => queue::renew(&mut conn, attempt.job.id, &self.owner, lease).await,
                Err(_) => continue,
            };
            if let Ok(false) = renewed {
                return LeaseLost::Taken.into();
            }
        }
    }

    async fn record_failure(
        &self,
        job: &DbJob,
        error: &JobError,
    ) -> Result<(), crate::error::Error> {
        let delay = error
            .retry_after
            .unwrap_or_else(|| backoff(&self.settings, job.attempts));
        let mut conn = self.pool.get().await?;
        let handler = &self.handler;
        let owner = &self.owner;
        conn.transaction(async |conn| {
            if let Some(failure) = queue::fail(conn, job, owner, &error.message, delay).await? {
                handler.failed(conn, job, failure, &error.message).await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await?;
        Ok(())
    }
}

/// The pause before attempt `attempts + 1`: doubling from `backoff_base_ms`, capped at
/// `backoff_max_secs`, with jitter (half fixed, half random) so that jobs failing together do
/// not retry together.
fn backoff(settings: &JobSettings, attempts: i32) -> Duration {
    let base = settings.backoff_base_ms.max(1) as f64 / 1000.0;
    let doubling = 2f64.powi(attempts.saturating_sub(1).clamp(0, 30));
    let full = (base * doubling).min(settings.backoff_max_secs.max(1) as f64);
    let jitter: f64 = rand::rng().random_range(0.0..=0.5);
    Duration::from_secs_f64(full * (0.5 + jitter))
}
