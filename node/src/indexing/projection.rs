//! The follower thread: opens the index (rebuilding it when needed), then tails the change log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use kg_search::{IndexLayout, IndexOp, IndexWriterHandle, Opened, Recovery, SearchIndex};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::source::{artifacts_of, live_documents};
use super::{IndexingError, index_settings, rebuild_into};
use crate::config::Settings;
use crate::db::{ChangeEvent, ChangeFeed, ChangeRecord, ConnectError};
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

/// Changes that may pass without touching the index before the position is committed anyway,
/// bounding what a restart re-reads.
const MAX_UNCOMMITTED_CHANGES: i64 = 50_000;

/// Whether the search index holds all of PostgreSQL (up to the changes it is still applying):
/// false while an empty index is being filled, when searches would see only part of it.
/// While it is being filled, how far the build has come, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct SearchReadiness(Arc<ReadinessState>);

#[derive(Debug, Default)]
struct ReadinessState {
    built: AtomicBool,
    written: AtomicU64,
    total: AtomicU64,
}

impl SearchReadiness {
    /// True once the index has been filled (at once for an index that was already).
    pub fn is_built(&self) -> bool {
        self.0.built.load(Ordering::Acquire)
    }

    /// Documents written so far and in all, while the index is being filled.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.0.written.load(Ordering::Relaxed),
            self.0.total.load(Ordering::Relaxed),
        )
    }

    fn mark_built(&self) {
        self.0.built.store(true, Ordering::Release);
    }

    fn record_progress(&self, written: u64, total: u64) {
        self.0.written.store(written, Ordering::Relaxed);
        self.0.total.store(total, Ordering::Relaxed);
        tracing::info!(written, total, "building the search index");
    }
}

/// Opens the index under the data directory, replacing an unreadable one by an empty one, and
/// starts the follower thread, which first fills an empty index from PostgreSQL. Returns the
/// index, for searching, its readiness, and the follower.
pub async fn start_search(
    settings: &Settings,
) -> Result<(SearchIndex, SearchReadiness, Worker), IndexingError> {
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
    let readiness = SearchReadiness::default();
    if resume_after.is_some() {
        readiness.mark_built();
    }
    let job = SearchJob {
        readiness: readiness.clone(),
        url: settings.database.url.expose_secret().to_owned(),
        batch: settings.search.batch_size.max(1),
        commit_interval: Duration::from_millis(settings.search.commit_interval_ms),
        writer: index.writer()?,
        resume_after,
    };
    Ok((index, readiness, spawn_worker("search-projection", job)?))
}

/// Everything the search projection thread owns.
struct SearchJob {
    /// Marked once `resume_after` is known.
    readiness: SearchReadiness,
    url: String,
    batch: i64,
    /// Least time between two commits while changes keep coming.
    commit_interval: Duration,
    writer: IndexWriterHandle,
    /// Where to resume the change log; `None` until the index has been filled.
    resume_after: Option<i64>,
}

impl WorkerJob for SearchJob {
    type Error = IndexingError;

    /// Fills an empty index if need be, then applies changes until shutdown.
    async fn run(&mut self, mut stopped: Stopped) -> Result<(), IndexingError> {
        let mut conn = crate::db::establish(&self.url)
            .await
            .map_err(ConnectError::from)?;
        let position = match self.resume_after.or(self.writer.committed_position()) {
            Some(position) => position,
            None => {
                let readiness = self.readiness.clone();
                let progress = move |written, total| readiness.record_progress(written, total);
                let position = rebuild_into(&mut conn, &mut self.writer, &progress).await?;
                tracing::info!(position, "search index built");
                position
            }
        };
        self.resume_after = Some(position);
        self.readiness.mark_built();
        let mut feed = ChangeFeed::open(&self.url, position, self.batch).await?;
        let mut last_commit = Instant::now();
        while let Some(mut changes) = stopped.next_changes(&mut feed).await? {
            self.gather(&mut feed, &mut changes, last_commit + self.commit_interval)
                .await?;
            let Some(last) = changes.last().map(|change| change.seq) else {
                continue;
            };
            self.apply(&mut conn, &changes, last).await?;
            last_commit = Instant::now();
            self.resume_after = self.writer.committed_position();
        }
        Ok(())
    }

    fn finish(self) {
        if let Err(error) = self.writer.close() {
            tracing::warn!(%error, "closing the search index writer failed");
        }
    }
}

impl SearchJob {
    /// Group commit: while the previous commit is younger than the commit interval, later
    /// changes join `changes` (up to a batch), so that a steady stream of small transactions
    /// makes one index segment per interval rather than one per transaction.
    async fn gather(
        &self,
        feed: &mut ChangeFeed,
        changes: &mut Vec<ChangeRecord>,
        until: Instant,
    ) -> Result<(), IndexingError> {
        while i64::try_from(changes.len()).unwrap_or(i64::MAX) < self.batch {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            let more = feed.next(left).await?;
            if more.is_empty() {
                break;
            }
            changes.extend(more);
        }
        Ok(())
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
        match change.event {
            ChangeEvent::ArtifactUpserted { id, .. } | ChangeEvent::ArtifactDeleted { id, .. } => {
                ids.insert(id);
            }
            ChangeEvent::ConvergenceChanged {
                id, created: false, ..
            } => convergences.push(id),
            // A new convergence holds no artifacts yet; relationships and contributions are
            // not indexed.
            ChangeEvent::ConvergenceChanged { created: true, .. }
            | ChangeEvent::RelationshipUpserted { .. }
            | ChangeEvent::RelationshipDeleted { .. }
            | ChangeEvent::ContributionChanged { .. } => {}
        }
    }
    if !convergences.is_empty() {
        ids.extend(artifacts_of(conn, &convergences).await?);
    }
    Ok(ids.into_iter().collect())
}
