//! The one runner of the node's background work: the projections of the change log (search
//! index, graph, federation outbox) and the delivery queue each run as a worker, with a thread
//! of its own and a single-threaded runtime, a shutdown signal, retries after errors, and (for
//! projections) the wait for the next changes and the progress `/api/v1/admin/projections`
//! reports. ("Follower" is left to ActivityPub's followers.)
//!
//! Workers run on their own threads so that blocking work (tantivy commits, bulk loads) never
//! stalls the HTTP workers.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::{Ownership, OwnershipState};
use crate::db::{ChangeFeed, ChangeRecord};

/// How long a worker sleeps without a notification before it looks anyway.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Pause before a worker retries after an error.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How far a worker has applied the change log: the sequence number of the last change it has
/// finished with (`None` until it reads the log). Shared with `/api/v1/admin/projections`.
#[derive(Debug, Clone)]
pub struct Progress(Arc<AtomicI64>);

impl Progress {
    const NOT_STARTED: i64 = -1;

    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(Self::NOT_STARTED)))
    }

    /// The last change applied, once the worker reads the log.
    pub fn applied(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Acquire)).filter(|seq| *seq != Self::NOT_STARTED)
    }

    fn record(&self, seq: i64) {
        self.0.store(seq, Ordering::Release);
    }
}

/// The projections of the change log (search, graph, federation) and their progress, by name.
/// A singleton projection ([`crate::cluster`]) is listed only while this process runs it.
#[derive(Debug, Clone, Default)]
pub struct Projections(Vec<(&'static str, Progress, Option<Ownership>)>);

impl Projections {
    /// Adds the projection `name`, maintained by `worker`.
    pub fn add(&mut self, name: &'static str, worker: &Worker) {
        self.0.push((name, worker.progress(), None));
    }

    /// Adds the singleton projection `name`, maintained by `worker` while `ownership` says
    /// this process owns it.
    pub fn add_singleton(&mut self, name: &'static str, worker: &Worker, ownership: &Ownership) {
        self.0
            .push((name, worker.progress(), Some(ownership.clone())));
    }

    /// Each projection this process runs, with how far it has applied the log.
    pub fn applied(&self) -> impl Iterator<Item = (&'static str, Option<i64>)> + '_ {
        self.0
            .iter()
            .filter(|(_, _, ownership)| {
                ownership
                    .as_ref()
                    .is_none_or(|ownership| ownership.state() == OwnershipState::Owner)
            })
            .map(|(name, progress, _)| (*name, progress.applied()))
    }
}

/// A running worker. Dropping it asks the thread to stop; [`Worker::stop`] also waits for
/// it.
pub struct Worker {
    shutdown: Stopper,
    thread: Option<std::thread::JoinHandle<()>>,
    progress: Progress,
}

impl Worker {
    /// How far it has applied the change log.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// What asks the worker to stop without waiting for it, so that it can wind down while
    /// other parts of the node do.
    pub fn stopper(&self) -> Stopper {
        self.shutdown.clone()
    }

    /// Stops the worker and waits until its thread has ended.
    pub async fn stop(mut self) {
        self.shutdown.stop();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Asks a worker to stop (it finishes what it is at, see [`Stopped`]); cloneable.
#[derive(Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Asks the worker to stop; returns at once.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown.stop();
    }
}

/// The side of the shutdown signal a worker watches, and where it reports its progress.
#[derive(Clone)]
pub(crate) struct Stopped {
    shutdown: watch::Receiver<bool>,
    progress: Progress,
}

impl Stopped {
    /// True once shutdown is asked for.
    pub fn is_set(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The next changes of `feed`, or `None` once shutdown is asked for. Asking for more means
    /// that everything `feed` handed out before has been applied: that is recorded as progress.
    pub async fn next_changes(
        &mut self,
        feed: &mut ChangeFeed,
    ) -> diesel::QueryResult<Option<Vec<ChangeRecord>>> {
        self.progress.record(feed.position());
        tokio::select! {
            _ = self.shutdown.changed() => Ok(None),
            changes = feed.next(IDLE_POLL) => changes.map(Some),
        }
    }

    /// Resolves `grace` after shutdown is asked for: work still running then is abandoned.
    pub async fn grace_over(&mut self, grace: Duration) {
        let _ = self.shutdown.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    }

    /// Sleeps for `duration`; true when the worker was told to stop meanwhile.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        let _ = tokio::time::timeout(duration, self.shutdown.changed()).await;
        self.is_set()
    }

    async fn pause(&mut self) {
        let _ = tokio::time::timeout(RETRY_PAUSE, self.shutdown.changed()).await;
    }
}

/// Work a worker thread does: `run` is called again after it fails, until it returns `Ok`
/// (on shutdown) or shutdown is asked for; `finish` runs once at the end.
pub(crate) trait WorkerJob: Send + 'static {
    /// The job's error.
    type Error: std::fmt::Display;

    /// Follows until shutdown (`Ok`) or an error.
    fn run(&mut self, stopped: Stopped) -> impl Future<Output = Result<(), Self::Error>>;

    /// Releases what the job holds.
    fn finish(self);
}

/// Starts `job` on a thread named `name`.
pub(crate) fn spawn_worker<J: WorkerJob>(name: &str, mut job: J) -> std::io::Result<Worker> {
    let (sender, receiver) = watch::channel(false);
    let shutdown = Stopper(Arc::new(sender));
    let progress = Progress::new();
    let reported = progress.clone();
    let label = name.to_owned();
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, worker = %label, "cannot start the worker's runtime");
                    return;
                }
            };
            runtime.block_on(async {
                let mut stopped = Stopped {
                    shutdown: receiver,
                    progress: reported,
                };
                while !stopped.is_set() {
                    match job.run(stopped.clone()).await {
                        Ok(()) => break,
                        Err(error) => {
                            tracing::error!(%error, worker = %label, "worker failed; retrying");
                            stopped.pause().await;
                        }
                    }
                }
            });
            job.finish();
        })?;
    Ok(Worker {
        shutdown,
        thread: Some(thread),
        progress,
    })
}
