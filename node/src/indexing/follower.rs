//! The follower thread: opens the index (rebuilding it when needed), then tails the change log.

use std::collections::BTreeSet;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kg_search::{IndexLayout, IndexOp, IndexWriterHandle, Opened, Recovery, SearchIndex};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use uuid::Uuid;

use super::source::{artifacts_of, live_documents};
use super::{IndexingError, index_settings, rebuild_into};
use crate::config::Settings;
use crate::db::{ChangeFeed, ChangeRecord, ConnectError};

/// How long the follower sleeps without a notification before it looks anyway.
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Pause before the follower retries after an error.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Changes that may pass without touching the index before the position is committed anyway,
/// bounding what a restart re-reads.
const MAX_UNCOMMITTED_CHANGES: i64 = 50_000;

/// The running follower. Dropping it asks the thread to stop; [`SearchFollower::stop`] also
/// waits for it (and so for the index's writer lock to be released).
pub struct SearchFollower {
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SearchFollower {
    /// Stops the follower and waits until its thread has ended.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for SearchFollower {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Opens the index under the data directory, replacing an unreadable one by an empty one, and
/// starts the follower thread, which first fills an empty index from PostgreSQL. Returns the
/// index, for searching, and the follower.
pub async fn start_search(
    settings: &Settings,
) -> Result<(SearchIndex, SearchFollower), IndexingError> {
    let layout = IndexLayout::new(&settings.node.data_dir);
    if layout.recover()? == Recovery::SwapCompleted {
        tracing::info!("finished swapping in a rebuilt search index");
    }
    let engine = index_settings(&settings.search)?;
    let (index, opened) = match SearchIndex::open_or_create(layout.live(), engine.clone()) {
        Err(error) if error.needs_rebuild() => {
            tracing::warn!(%error, "the search index is unreadable: rebuilding it from PostgreSQL");
            std::fs::remove_dir_all(layout.live())?;
            SearchIndex::open_or_create(layout.live(), engine)?
        }
        other => other?,
    };
    let resume_after = match opened {
        Opened::Existing {
            position: Some(position),
        } => Some(position),
        Opened::Fresh => {
            tracing::warn!("there is no search index: building it from PostgreSQL");
            None
        }
        Opened::Existing { position: None } => {
            tracing::warn!("the search index was never filled: building it from PostgreSQL");
            None
        }
    };
    let writer = index.writer()?;
    let (shutdown, stopped) = watch::channel(false);
    let job = FollowerJob {
        url: settings.database.url.expose_secret().to_owned(),
        batch: settings.search.batch_size.max(1),
        writer,
        stopped,
    };
    let thread = std::thread::Builder::new()
        .name("search-follower".into())
        .spawn(move || job.run(resume_after))?;
    Ok((
        index,
        SearchFollower {
            shutdown,
            thread: Some(thread),
        },
    ))
}

/// Everything the follower thread owns.
struct FollowerJob {
    url: String,
    batch: i64,
    writer: IndexWriterHandle,
    stopped: watch::Receiver<bool>,
}

impl FollowerJob {
    /// Runs on the follower's own thread: tantivy's writer blocks, so it gets a thread and a
    /// single-threaded runtime of its own. Errors are logged and retried until shutdown.
    fn run(mut self, resume_after: Option<i64>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "search follower cannot start its runtime");
                return;
            }
        };
        runtime.block_on(async {
            let mut resume_after = resume_after;
            while !*self.stopped.borrow() {
                match self.follow(resume_after).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::error!(%error, "search follower failed; retrying");
                        resume_after = self.writer.committed_position();
                        let mut stopped = self.stopped.clone();
                        let _ = tokio::time::timeout(RETRY_PAUSE, stopped.changed()).await;
                    }
                }
            }
        });
        if let Err(error) = self.writer.close() {
            tracing::warn!(%error, "closing the search index writer failed");
        }
    }

    /// Fills an empty index if need be, then applies changes until shutdown.
    async fn follow(&mut self, resume_after: Option<i64>) -> Result<(), IndexingError> {
        let mut conn = AsyncPgConnection::establish(&self.url)
            .await
            .map_err(ConnectError::from)?;
        let position = match resume_after {
            Some(position) => position,
            None => {
                let position = rebuild_into(&mut conn, &mut self.writer, &log_progress).await?;
                tracing::info!(position, "search index built");
                position
            }
        };
        let mut feed = ChangeFeed::open(&self.url, position, self.batch).await?;
        let mut stopped = self.stopped.clone();
        loop {
            let changes = tokio::select! {
                _ = stopped.changed() => return Ok(()),
                changes = feed.next(IDLE_POLL) => changes?,
            };
            let Some(last) = changes.last().map(|change| change.seq) else {
                continue;
            };
            self.apply(&mut conn, &changes, last).await?;
        }
    }

    /// Turns changes into index operations and commits them with position `last`.
    async fn apply(
        &mut self,
        conn: &mut AsyncPgConnection,
        changes: &[ChangeRecord],
        last: i64,
    ) -> Result<(), IndexingError> {
        let ids = affected_artifacts(conn, changes).await?;
        let committed = self.writer.committed_position().unwrap_or(0);
        if ids.is_empty() {
            if last - committed >= MAX_UNCOMMITTED_CHANGES {
                self.writer.apply(std::iter::empty(), last)?;
            }
            return Ok(());
        }
        // A convergence that changed visibility may hold many artifacts: write them in chunks,
        // and commit the new position only with the last chunk.
        let chunks: Vec<&[Uuid]> = ids.chunks(chunk_size(self.batch)).collect();
        let count = chunks.len();
        for (n, chunk) in chunks.into_iter().enumerate() {
            let mut documents = live_documents(conn, chunk).await?;
            let ops = chunk.iter().map(|id| match documents.remove(id) {
                Some(document) => IndexOp::Upsert(document),
                None => IndexOp::Delete(*id),
            });
            let position = if n + 1 == count { last } else { committed };
            self.writer.apply(ops, position)?;
        }
        Ok(())
    }
}

fn chunk_size(batch: i64) -> usize {
    usize::try_from(batch).unwrap_or(1).max(1)
}

/// The artifacts whose documents the changes affect: changed artifacts, and every artifact of
/// a convergence whose slug or visibility changed. Relationships do not touch the index.
async fn affected_artifacts(
    conn: &mut AsyncPgConnection,
    changes: &[ChangeRecord],
) -> Result<Vec<Uuid>, IndexingError> {
    let mut ids = BTreeSet::new();
    let mut convergences = Vec::new();
    for change in changes {
        match (change.entity.as_str(), change.operation.as_str()) {
            ("artifact", _) => {
                ids.insert(change.entity_id);
            }
            ("convergence", "update") => convergences.push(change.entity_id),
            _ => {}
        }
    }
    if !convergences.is_empty() {
        ids.extend(artifacts_of(conn, &convergences).await?);
    }
    Ok(ids.into_iter().collect())
}

fn log_progress(written: u64, total: u64) {
    tracing::info!(written, total, "building the search index");
}
