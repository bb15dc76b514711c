//! Opening, creating and reading an index directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{FieldType, IndexRecordOption, Schema};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, TantivyError, Warmer};
use uuid::Uuid;

use crate::columns::ColumnCache;
use crate::document::SearchDocument;
use crate::error::{Error, Result};
use crate::position::parse_payload;
use crate::request::{SearchRequest, SearchResults};
use crate::schema::{self, Fields, ID_HI, ID_LO, TITLE, VERSION};
use crate::search::{self, SearchContext};
use crate::settings::{IndexSettings, MIN_WRITER_MEMORY_BYTES};
use crate::writer::IndexWriterHandle;

/// The file whose presence means "a tantivy index lives here".
pub(crate) const META_FILE: &str = "meta.json";

/// Size of the document store's compressed blocks (tantivy's default is 16 KiB). Every hit
/// decompresses its block to read its text: with artifacts of a kilobyte or two, 4 KiB blocks
/// cost a quarter of the decompression per hit, for a slightly larger store.
const DOCSTORE_BLOCK_BYTES: usize = 4_096;

/// What [`SearchIndex::open_or_create`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// There was no index: a new, empty one was created. Fill it from the source of truth.
    Fresh,
    /// An index was opened.
    Existing {
        /// The position stored with its last commit, `None` if nothing was committed with
        /// [`IndexWriterHandle::apply`] yet. Resume the change log after it.
        position: Option<i64>,
    },
}

/// An index directory opened for searching (and, through [`SearchIndex::writer`], writing).
///
/// Cheap to clone: clones share the index and its reader, so a commit made through
/// [`IndexWriterHandle::apply`] is visible to every clone as soon as `apply` returns.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    settings: IndexSettings,
    columns: Arc<ColumnCache>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.inner.path)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates an empty one there (and the directory) if it holds
    /// none. Tells which happened, with the committed position of an existing index.
    ///
    /// An index that exists but cannot be used fails with an error for which
    /// [`Error::needs_rebuild`] is true; the caller then rebuilds it (see
    /// [`IndexLayout`](crate::IndexLayout)).
    pub fn open_or_create(
        dir: impl AsRef<Path>,
        settings: IndexSettings,
    ) -> Result<(SearchIndex, Opened)> {
        let dir = dir.as_ref();
        if holds_index(dir)? {
            let index = Self::open(dir, settings)?;
            let position = index.committed_position()?;
            Ok((index, Opened::Existing { position }))
        } else {
            Ok((Self::create_in(dir, settings)?, Opened::Fresh))
        }
    }

    /// Opens the existing index in `dir`. A missing, damaged or foreign index fails with an
    /// error for which [`Error::needs_rebuild`] is true.
    pub fn open(dir: impl AsRef<Path>, settings: IndexSettings) -> Result<SearchIndex> {
        let path = dir.as_ref().to_path_buf();
        let unreadable = |source| Error::Unreadable {
            path: path.clone(),
            source,
        };
        let index = Index::open_in_dir(&path).map_err(unreadable)?;
        let (expected, fields) = schema::build_schema(settings.language, settings.phrase_pairs);
        let found = index.schema();
        if !same_schema(&found, &expected) {
            return Err(Error::SchemaMismatch {
                path,
                expected: schema::analyzer_name(settings.language),
                found: title_analyzer(&found),
            });
        }
        let opened = Self::assemble(path, index, fields, settings)?;
        // Read the payload now, so that a damaged one is reported when opening.
        opened.committed_position()?;
        Ok(opened)
    }

    /// Creates an empty index in `dir` (creating the directory if needed). Fails with
    /// [`Error::AlreadyExists`] if `dir` already holds an index. Rebuilds create into
    /// [`IndexLayout::prepare_staging`](crate::IndexLayout::prepare_staging).
    pub fn create_in(dir: impl AsRef<Path>, settings: IndexSettings) -> Result<SearchIndex> {
        let path = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(Error::io("create directory", &path))?;
        if holds_index(&path)? {
            return Err(Error::AlreadyExists { path });
        }
        let (schema, fields) = schema::build_schema(settings.language, settings.phrase_pairs);
        let index = Index::builder()
            .schema(schema)
            .settings(tantivy::IndexSettings {
                docstore_blocksize: DOCSTORE_BLOCK_BYTES,
                ..tantivy::IndexSettings::default()
            })
            .create_in_dir(&path)?;
        Self::assemble(path, index, fields, settings)
    }

    fn assemble(
        path: PathBuf,
        mut index: Index,
        fields: Fields,
        settings: IndexSettings,
    ) -> Result<SearchIndex> {
        if settings.search_threads > 1 {
            index.set_multithread_executor(settings.search_threads)?;
        }
        schema::register_analyzers(&index, settings.language);
        let analyzer = schema::text_analyzer(settings.language);
        let columns: Arc<ColumnCache> = Arc::default();
        // The reader keeps only a weak reference; `Inner` owns the cache.
        let warmer: Arc<dyn Warmer> = columns.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()
            .map_err(|source| Error::Unreadable {
                path: path.clone(),
                source,
            })?;
        Ok(SearchIndex {
            inner: Arc::new(Inner {
                path,
                index,
                reader,
                fields,
                analyzer,
                settings,
                columns,
            }),
        })
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The settings the index was opened with.
    pub fn settings(&self) -> &IndexSettings {
        &self.inner.settings
    }

    /// The position stored with the last commit (read from disk), `None` if there is none.
    pub fn committed_position(&self) -> Result<Option<i64>> {
        let metas = self.inner.index.load_metas()?;
        metas
            .payload
            .map(|payload| parse_payload(&self.inner.path, payload))
            .transpose()
    }

    /// Takes the index's single writer. Fails with [`Error::Locked`] while another
    /// [`IndexWriterHandle`] of this directory exists, in this process or another one (tantivy
    /// holds an OS file lock, released when the handle is dropped or the process dies).
    pub fn writer(&self) -> Result<IndexWriterHandle> {
        let budget = self.inner.settings.writer_memory_bytes;
        if budget < MIN_WRITER_MEMORY_BYTES {
            return Err(Error::WriterMemoryTooSmall {
                bytes: budget,
                minimum: MIN_WRITER_MEMORY_BYTES,
            });
        }
        let writer =
            self.inner
                .index
                .writer::<TantivyDocument>(budget)
                .map_err(|error| match error {
                    TantivyError::LockFailure(..) => Error::Locked {
                        path: self.inner.path.clone(),
                    },
                    other => Error::Engine(other),
                })?;
        let committed = self.committed_position()?;
        Ok(IndexWriterHandle::new(
            writer,
            self.inner.reader.clone(),
            self.inner.fields,
            committed,
        ))
    }

    /// Searches the latest committed state. Fails with [`Error::InvalidQuery`] for a malformed
    /// query and [`Error::InvalidPage`] for a bad page; never panics on user input.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults> {
        let context = SearchContext {
            fields: &self.inner.fields,
            analyzer: &self.inner.analyzer,
            typo_tolerance: self.inner.settings.typo_tolerance,
            columns: &self.inner.columns,
        };
        search::execute(&context, &self.inner.reader.searcher(), request)
    }

    /// Number of live documents.
    pub fn num_docs(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Number of segments searched (many small ones slow searches down until they merge).
    pub fn num_segments(&self) -> usize {
        self.inner.reader.searcher().segment_readers().len()
    }

    /// The version of every live document, by id, for comparison with the source of truth.
    /// If [`num_docs`](Self::num_docs) is larger than the map, some id has several documents.
    pub fn all_versions(&self) -> Result<HashMap<Uuid, i64>> {
        let searcher = self.inner.reader.searcher();
        let mut versions = HashMap::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let hi = fast.u64(ID_HI)?.first_or_default_col(0);
            let lo = fast.u64(ID_LO)?.first_or_default_col(0);
            let version = fast.i64(VERSION)?.first_or_default_col(0);
            for doc in segment.doc_ids_alive() {
                versions.insert(
                    schema::id_from_halves(hi.get_val(doc), lo.get_val(doc)),
                    version.get_val(doc),
                );
            }
        }
        Ok(versions)
    }

    /// The stored document with this id, if the index has it.
    pub fn document(&self, id: Uuid) -> Result<Option<SearchDocument>> {
        let searcher = self.inner.reader.searcher();
        let query = TermQuery::new(
            schema::id_term(&self.inner.fields, id),
            IndexRecordOption::Basic,
        );
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        match found.first() {
            Some((_, address)) => {
                let doc: TantivyDocument = searcher.doc(*address)?;
                schema::from_tantivy(&self.inner.fields, &doc).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Reads the latest commit made by a writer in another process. Commits made through this
    /// process's [`IndexWriterHandle`] are picked up without it.
    pub fn reload(&self) -> Result<()> {
        Ok(self.inner.reader.reload()?)
    }

    /// Reads every file of the index and checks its checksum (slow: reads the whole index).
    /// Returns the damaged files; empty when all is well.
    pub fn validate_checksums(&self) -> Result<Vec<PathBuf>> {
        let mut damaged: Vec<PathBuf> = self.inner.index.validate_checksum()?.into_iter().collect();
        damaged.sort();
        Ok(damaged)
    }
}

/// True when `dir` holds a tantivy index (its `meta.json`).
pub(crate) fn holds_index(dir: &Path) -> Result<bool> {
    let meta = dir.join(META_FILE);
    meta.try_exists().map_err(Error::io("inspect", meta))
}

fn same_schema(found: &Schema, expected: &Schema) -> bool {
    match (serde_json::to_value(found), serde_json::to_value(expected)) {
        (Ok(found), Ok(expected)) => found == expected,
        _ => false,
    }
}

/// The analyzer name of the index's title field, for error messages.
fn title_analyzer(schema: &Schema) -> String {
    schema
        .get_field(TITLE)
        .ok()
        .and_then(|field| match schema.get_field_entry(field).field_type() {
            FieldType::Str(options) => options
                .get_indexing_options()
                .map(|indexing| indexing.tokenizer().to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "(none)".to_owned())
}
