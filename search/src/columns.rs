//! Fast-field columns, opened once per segment and shared by every search.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tantivy::columnar::{Column, ColumnValues, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

use crate::schema::{CONVERGENCE, DIMENSION, DIMENSION_KEY, ID_HI, ID_LO, KIND, PUBLIC};

/// The fast-field columns searches read in one segment.
pub(crate) struct SegmentColumns {
    /// High half of the id.
    pub id_hi: Arc<dyn ColumnValues<u64>>,
    /// Low half of the id.
    pub id_lo: Arc<dyn ColumnValues<u64>>,
    /// Packed dimension names and weights (see [`crate::schema`]).
    pub dimension_keys: Column<u64>,
    /// Whether the document is public.
    pub public: Column<bool>,
    /// Convergence ids (absent from a segment without documents).
    pub convergence: Option<StrColumn>,
    /// Kinds.
    pub kind: Option<StrColumn>,
    /// Dimension names.
    pub dimension: Option<StrColumn>,
}

impl SegmentColumns {
    fn open(segment: &SegmentReader) -> tantivy::Result<Self> {
        let fast = segment.fast_fields();
        Ok(Self {
            id_hi: fast.u64(ID_HI)?.first_or_default_col(0),
            id_lo: fast.u64(ID_LO)?.first_or_default_col(0),
            dimension_keys: fast.u64(DIMENSION_KEY)?,
            public: fast.bool(PUBLIC)?,
            convergence: fast.str(CONVERGENCE)?,
            kind: fast.str(KIND)?,
            dimension: fast.str(DIMENSION)?,
        })
    }
}

/// Opened columns by segment. Opening a column reads and decodes its headers and dictionary,
/// which costs tens of microseconds; a segment never changes once written (deletes live apart),
/// so each is opened once.
#[derive(Default)]
pub(crate) struct ColumnCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>,
}

impl ColumnCache {
    /// The columns of `segment`, opened on first use.
    pub fn get(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        let id = segment.segment_id();
        if let Some(columns) = self.lock().get(&id) {
            return Ok(Arc::clone(columns));
        }
        let columns = Arc::new(SegmentColumns::open(segment)?);
        self.lock().insert(id, Arc::clone(&columns));
        Ok(columns)
    }

    /// Forgets segments that `searcher` no longer has (merged away).
    pub fn prune(&self, searcher: &Searcher) {
        let mut segments = self.lock();
        if segments.len() > searcher.segment_readers().len() {
            let live: HashSet<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(SegmentReader::segment_id)
                .collect();
            segments.retain(|id, _| live.contains(id));
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SegmentId, Arc<SegmentColumns>>> {
        // Entries are inserted whole, so the map is consistent even if a holder panicked.
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
