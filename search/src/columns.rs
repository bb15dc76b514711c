//! Fast-field columns, opened once per segment and shared by every search.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tantivy::columnar::{Column, ColumnValues, StrColumn};
use tantivy::index::SegmentId;
use tantivy::{DocId, Searcher, SearcherGeneration, SegmentReader, Warmer};

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
    /// The kind of each ordinal of the `kind` column, decoded once (facets name their counts
    /// with them; the dictionary's blocks are compressed).
    pub kind_names: Vec<String>,
    /// The name of each ordinal of the `dimension` column, decoded once.
    pub dimension_names: Vec<String>,
    /// Documents in the segment, deleted ones included.
    max_doc: DocId,
    /// Kind and dimension ordinals as plain arrays, built on first use (see
    /// [`FacetOrdinals`]).
    facet_ordinals: OnceLock<FacetOrdinals>,
}

/// The kind and dimension term ordinals (and the public flag) of every document of a segment,
/// decoded once into plain arrays: counting facets over hundreds of thousands of matches then costs an array
/// read and an increment per value, instead of a bit-unpacking column read (and, for the
/// multi-valued dimensions, an offset lookup) per block of documents. About 4 bytes per
/// document plus 4 per dimension tag: 16 MB for a million artifacts with three tags each.
pub(crate) struct FacetOrdinals {
    /// Kind ordinal by document; [`NO_ORDINAL`] when the document has none.
    pub kind: Vec<u32>,
    /// The dimension ordinals of document `d` are `dimension[dimension_start[d]..dimension_start[d + 1]]`.
    pub dimension_start: Vec<u32>,
    /// Dimension ordinals, document after document.
    pub dimension: Vec<u32>,
    /// Whether each document is public (access checks read it for every candidate).
    pub public: Vec<bool>,
}

/// Marks a document without a value in [`FacetOrdinals::kind`].
pub(crate) const NO_ORDINAL: u32 = u32::MAX;

impl FacetOrdinals {
    fn build(
        max_doc: DocId,
        kind: Option<&StrColumn>,
        dimension: Option<&StrColumn>,
        public: &Column<bool>,
    ) -> Self {
        let docs = max_doc as usize;
        let kind_ordinals = match kind {
            Some(column) => (0..max_doc)
                .map(|doc| {
                    column
                        .ords()
                        .first(doc)
                        .and_then(|ordinal| u32::try_from(ordinal).ok())
                        .unwrap_or(NO_ORDINAL)
                })
                .collect(),
            None => vec![NO_ORDINAL; docs],
        };
        let mut dimension_start = Vec::with_capacity(docs + 1);
        let mut dimension_ordinals = Vec::with_capacity(docs * 3);
        dimension_start.push(0);
        for doc in 0..max_doc {
            if let Some(column) = dimension {
                dimension_ordinals.extend(
                    column
                        .ords()
                        .values_for_doc(doc)
                        .filter_map(|ordinal| u32::try_from(ordinal).ok()),
                );
            }
            // A segment holds at most 2^31 documents with a few tags each.
            dimension_start.push(u32::try_from(dimension_ordinals.len()).unwrap_or(u32::MAX));
        }
        Self {
            kind: kind_ordinals,
            dimension_start,
            dimension: dimension_ordinals,
            public: (0..max_doc)
                .map(|doc| public.first(doc) == Some(true))
                .collect(),
        }
    }
}

impl SegmentColumns {
    fn open(segment: &SegmentReader) -> tantivy::Result<Self> {
        let fast = segment.fast_fields();
        let kind = fast.str(KIND)?;
        let dimension = fast.str(DIMENSION)?;
        Ok(Self {
            kind_names: term_names(kind.as_ref())?,
            dimension_names: term_names(dimension.as_ref())?,
            max_doc: segment.max_doc(),
            id_hi: fast.u64(ID_HI)?.first_or_default_col(0),
            id_lo: fast.u64(ID_LO)?.first_or_default_col(0),
            dimension_keys: fast.u64(DIMENSION_KEY)?,
            public: fast.bool(PUBLIC)?,
            convergence: fast.str(CONVERGENCE)?,
            kind,
            dimension,
            facet_ordinals: OnceLock::new(),
        })
    }

    /// The segment's [`FacetOrdinals`], decoded on first use.
    pub fn facet_ordinals(&self) -> &FacetOrdinals {
        self.facet_ordinals.get_or_init(|| {
            FacetOrdinals::build(
                self.max_doc,
                self.kind.as_ref(),
                self.dimension.as_ref(),
                &self.public,
            )
        })
    }
}

/// Every term of a string column's dictionary, by ordinal.
fn term_names(column: Option<&StrColumn>) -> std::io::Result<Vec<String>> {
    let Some(column) = column else {
        return Ok(Vec::new());
    };
    let ordinals: Vec<u64> = (0..column.num_terms() as u64).collect();
    let mut names = Vec::with_capacity(ordinals.len());
    column
        .dictionary()
        .sorted_ords_to_term_cb(&ordinals, |bytes| {
            names.push(String::from_utf8_lossy(bytes).into_owned());
        })?;
    Ok(names)
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

    /// Opens the columns of every segment of `searcher` and decodes their facet ordinals, so
    /// that the first search after a commit or a merge does not pay for it.
    fn warm_segments(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            self.get(segment)?.facet_ordinals();
        }
        self.prune(searcher);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SegmentId, Arc<SegmentColumns>>> {
        // Entries are inserted whole, so the map is consistent even if a holder panicked.
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Registered with the index reader: runs on every reload (in the thread that commits), before
/// the new searcher is published.
impl Warmer for ColumnCache {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        self.warm_segments(searcher)
    }

    fn garbage_collect(&self, _live_generations: &[&SearcherGeneration]) {}
}
