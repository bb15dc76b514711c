//! The single writer of an index: batches of upserts and deletes, each committed with the
//! change-log position it reaches.

use tantivy::{IndexReader, IndexWriter, TantivyDocument};

use crate::document::IndexOp;
use crate::error::{Error, Result};
use crate::position::payload;
use crate::schema::{self, Fields};

/// The one writer of an index directory, from [`SearchIndex::writer`](crate::SearchIndex::writer).
///
/// Each [`apply`](Self::apply) is one tantivy commit carrying the change-log position in its
/// payload: after a crash (even `kill -9`), the index holds exactly the batches whose `apply`
/// returned, and [`SearchIndex::committed_position`](crate::SearchIndex::committed_position)
/// says where to resume. Uncommitted work is simply lost, never half applied.
///
/// Dropping the handle releases the directory lock; [`close`](Self::close) also waits for
/// background merges to finish.
pub struct IndexWriterHandle {
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    committed: Option<i64>,
}

impl std::fmt::Debug for IndexWriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexWriterHandle")
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl IndexWriterHandle {
    pub(crate) fn new(
        writer: IndexWriter<TantivyDocument>,
        reader: IndexReader,
        fields: Fields,
        committed: Option<i64>,
    ) -> Self {
        Self {
            writer,
            reader,
            fields,
            committed,
        }
    }

    /// Applies `batch` in order, commits with `position` as the commit payload, and makes the
    /// result searchable (the shared reader is reloaded before this returns).
    ///
    /// An upsert deletes any document with the same id before adding the new one, so an id is
    /// never duplicated, also when it appears several times in one batch; a delete of an absent
    /// id does nothing. Applying the same batch twice gives the same index, so a batch may be
    /// retried after an error. An empty batch still commits, moving the position.
    ///
    /// `position` may not be below the committed one ([`Error::PositionRegressed`]). On error the
    /// uncommitted part of the batch is rolled back, leaving the last commit in place.
    pub fn apply(&mut self, batch: impl IntoIterator<Item = IndexOp>, position: i64) -> Result<()> {
        if let Some(committed) = self.committed
            && position < committed
        {
            return Err(Error::PositionRegressed {
                committed,
                requested: position,
            });
        }
        if let Err(error) = self.write_and_commit(batch, position) {
            // Leave the writer at the last commit, so the next batch does not carry this one's
            // remains. If the rollback fails too, the first error is the one worth reporting.
            let _ = self.writer.rollback();
            return Err(error);
        }
        self.committed = Some(position);
        self.reader.reload()?;
        Ok(())
    }

    fn write_and_commit(
        &mut self,
        batch: impl IntoIterator<Item = IndexOp>,
        position: i64,
    ) -> Result<()> {
        for op in batch {
            match op {
                IndexOp::Upsert(document) => {
                    self.writer
                        .delete_term(schema::id_term(&self.fields, document.id));
                    self.writer
                        .add_document(schema::to_tantivy(&self.fields, &document))?;
                }
                IndexOp::Delete(id) => {
                    self.writer.delete_term(schema::id_term(&self.fields, id));
                }
            }
        }
        let mut commit = self.writer.prepare_commit()?;
        commit.set_payload(&payload(position));
        commit.commit()?;
        Ok(())
    }

    /// The position of the last commit, `None` before the first one.
    pub fn committed_position(&self) -> Option<i64> {
        self.committed
    }

    /// Waits for background merges to finish and releases the lock.
    pub fn close(self) -> Result<()> {
        Ok(self.writer.wait_merging_threads()?)
    }
}
