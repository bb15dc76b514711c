//! Building the index from PostgreSQL: at start when it is missing, and `kgnode reindex`.

use std::path::Path;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_search::{IndexLayout, IndexOp, IndexSettings, IndexWriterHandle, SearchIndex};

use super::IndexingError;
use super::source::page_of_documents;
use crate::db::schema::artifacts;
use crate::db::snapshot_position;

/// Documents read from PostgreSQL and committed to the index per step of a rebuild.
const REBUILD_PAGE: i64 = 10_000;

/// Told how far a rebuild has come: `(documents written, documents in all)`.
pub type RebuildProgress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Writes every live artifact into the index behind `writer`, from one consistent snapshot of
/// PostgreSQL, committing with that snapshot's change-log position, which it returns. Following
/// the change log from there brings the index up to date.
pub async fn rebuild_into(
    conn: &mut AsyncPgConnection,
    writer: &mut IndexWriterHandle,
    progress: RebuildProgress<'_>,
) -> Result<i64, IndexingError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| {
            let position = snapshot_position(conn).await?;
            let total: i64 = artifacts::table
                .filter(artifacts::deleted_at.is_null())
                .count()
                .get_result(conn)
                .await?;
            let total = u64::try_from(total).unwrap_or(0);
            let mut written = 0_u64;
            let mut after = None;
            loop {
                let page = page_of_documents(conn, after, REBUILD_PAGE).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                written += page.len() as u64;
                writer.apply(page.into_iter().map(IndexOp::Upsert), position)?;
                progress(written, total);
            }
            // Commit the position even when there was nothing to write.
            writer.apply(std::iter::empty(), position)?;
            Ok(position)
        })
        .await
}

/// `kgnode reindex`: builds a complete new index in the staging directory, then swaps it in
/// atomically. The node must be stopped (its follower holds the live index's writer lock, and
/// the swap refuses to proceed while it does). Returns the position of the new index.
pub async fn reindex(
    conn: &mut AsyncPgConnection,
    data_dir: &Path,
    settings: IndexSettings,
    progress: RebuildProgress<'_>,
) -> Result<i64, IndexingError> {
    let layout = IndexLayout::new(data_dir);
    layout.recover()?;
    let staging = layout.prepare_staging()?;
    let index = SearchIndex::create_in(&staging, settings)?;
    let mut writer = index.writer()?;
    let position = rebuild_into(conn, &mut writer, progress).await?;
    writer.close()?;
    drop(index);
    layout.swap_in_staging()?;
    Ok(position)
}
