//! The COPY loader: generated artifacts straight into the tables, with the change-log rows the
//! API would have written.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;
use std::time::{Duration, Instant};

use crate::synthetic::{Generator, GeneratorConfig, SyntheticArtifact, SyntheticError};
use futures_util::{SinkExt, pin_mut};
use kgnode::service::batch::MAX_BATCH_RELATIONSHIPS;
use serde_json::json;
use uuid::Uuid;

use crate::common::{BenchError, SLUG, Server, progress};

/// What the COPY load writes, for the report.
pub(crate) const COPY_LOADS: &str = "convergences, artifacts, artifact_dimensions, artifact_relationships, \
                          change_log (one row per convergence, artifact and relationship, as the \
                          API writes) and dimension_counters; one transaction per batch, into the \
                          migrated schema with all its indexes, foreign keys and CHECK \
                          constraints in place; uuids v7 made client-side";

/// What one pass over the generated data did.
#[derive(Default)]
pub(crate) struct Pass {
    pub(crate) elapsed: Duration,
    pub(crate) batches: usize,
    pub(crate) relationships: u64,
    pub(crate) dimension_tags: u64,
    /// The ids given to the artifacts, by generator index (COPY loads only).
    pub(crate) ids: Vec<Uuid>,
}

/// Cuts the next batch the way both loads do.
pub(crate) fn next_batch(generator: &mut Generator, batch_size: usize) -> Vec<SyntheticArtifact> {
    generator.next_batch(batch_size, MAX_BATCH_RELATIONSHIPS)
}

/// Rows for one table in PostgreSQL's COPY text format, sent a batch at a time.
pub(crate) struct CopyRows {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static str,
    pub(crate) text: String,
    pub(crate) row_started: bool,
    /// Time spent in COPY statements for this table.
    pub(crate) spent: Duration,
}

impl CopyRows {
    pub(crate) fn new(table: &'static str, columns: &'static str) -> Self {
        Self {
            table,
            columns,
            text: String::new(),
            row_started: false,
            spent: Duration::ZERO,
        }
    }

    pub(crate) fn separator(&mut self) {
        if self.row_started {
            self.text.push('\t');
        }
        self.row_started = true;
    }

    /// A text column, escaped.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.separator();
        for c in value.chars() {
            match c {
                '\\' => self.text.push_str("\\\\"),
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                '\t' => self.text.push_str("\\t"),
                other => self.text.push(other),
            }
        }
        self
    }

    pub(crate) fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.separator();
        self.text
            .push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        self
    }

    /// A number (or any value whose display needs no escaping).
    pub(crate) fn plain(&mut self, value: impl fmt::Display) -> &mut Self {
        self.separator();
        self.text.push_str(&value.to_string());
        self
    }

    pub(crate) fn end_row(&mut self) {
        self.text.push('\n');
        self.row_started = false;
    }

    /// Sends the buffered rows with one `COPY … FROM STDIN` in `tx` and empties the buffer.
    pub(crate) async fn copy(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<(), BenchError> {
        if self.text.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let statement = format!("COPY {} ({}) FROM STDIN", self.table, self.columns);
        let sink = tx.copy_in::<_, Cursor<Vec<u8>>>(&statement).await?;
        pin_mut!(sink);
        sink.send(Cursor::new(std::mem::take(&mut self.text).into_bytes()))
            .await?;
        sink.as_mut().finish().await?;
        self.spent += started.elapsed();
        Ok(())
    }
}

/// Seconds spent in the COPY statements of each table.
pub(crate) type CopyTimes = BTreeMap<&'static str, f64>;

/// Counter of one dimension: artifacts tagged and the sum of their weights.
#[derive(Clone, Copy, Default)]
pub(crate) struct Counter {
    pub(crate) artifacts: i64,
    pub(crate) weight: f64,
}

/// Loads the same artifacts with COPY into the migrated, empty `database`, showing each one to
/// `observe` as it goes. Also returns the seconds spent in the COPY statements of each table.
pub(crate) async fn load_with_copy(
    config: &GeneratorConfig,
    batch_size: usize,
    server: &Server,
    database: &str,
    observe: &mut dyn FnMut(&SyntheticArtifact),
) -> Result<(Pass, CopyTimes), BenchError> {
    let mut client = server.connect(database).await?;
    let mut generator = Generator::new(config.clone())?;
    let mut counters = vec![Counter::default(); generator.dimension_names().len()];
    let mut ids: Vec<Uuid> = Vec::with_capacity(config.artifacts);
    let bar = progress("COPY", config.artifacts)?;
    let mut pass = Pass::default();
    let started = Instant::now();

    let convergence = Uuid::now_v7();
    let mut convergences = CopyRows::new("convergences", "id, slug, name, visibility");
    convergences
        .uuid(convergence)
        .text(SLUG)
        .text("Benchmark")
        .text("public")
        .end_row();
    let mut changes = CopyRows::new(
        "change_log",
        "entity, operation, entity_id, convergence_id, payload",
    );
    let payload = json!({"slug": SLUG, "visibility": "public"});
    changes
        .text("convergence")
        .text("insert")
        .uuid(convergence)
        .uuid(convergence)
        .text(&payload.to_string())
        .end_row();
    let tx = client.transaction().await?;
    convergences.copy(&tx).await?;
    changes.copy(&tx).await?;
    tx.commit().await?;

    let mut artifacts = CopyRows::new("artifacts", "id, convergence_id, kind, title, body, author");
    let mut tags = CopyRows::new("artifact_dimensions", "artifact_id, dimension, weight");
    let mut edges = CopyRows::new(
        "artifact_relationships",
        "id, source_id, target_id, kind, weight",
    );
    loop {
        let batch = next_batch(&mut generator, batch_size);
        if batch.is_empty() {
            break;
        }
        for artifact in &batch {
            observe(artifact);
            let id = Uuid::now_v7();
            ids.push(id);
            artifacts
                .uuid(id)
                .uuid(convergence)
                .text(artifact.kind.as_str())
                .text(&artifact.title)
                .text(&artifact.body)
                .text(&artifact.author)
                .end_row();
            for tag in &artifact.dimensions {
                tags.uuid(id).text(&tag.name).plain(tag.weight).end_row();
                if let Some(counter) = counters.get_mut(tag.rank) {
                    counter.artifacts += 1;
                    counter.weight += tag.weight;
                }
            }
            let payload = json!({"version": 1, "kind": artifact.kind.as_str()});
            changes
                .text("artifact")
                .text("insert")
                .uuid(id)
                .uuid(convergence)
                .text(&payload.to_string())
                .end_row();
            pass.dimension_tags += artifact.dimensions.len() as u64;
        }
        for edge in batch.iter().flat_map(|a| &a.relationships) {
            let (Some(&source), Some(&target)) = (ids.get(edge.source), ids.get(edge.target))
            else {
                return Err(SyntheticError::UnresolvedTarget {
                    from: edge.source,
                    to: edge.target,
                }
                .into());
            };
            let id = Uuid::now_v7();
            edges
                .uuid(id)
                .uuid(source)
                .uuid(target)
                .text(edge.kind.as_str())
                .plain(edge.weight)
                .end_row();
            let payload = json!({
                "source": source,
                "target": target,
                "kind": edge.kind.as_str(),
                "weight": edge.weight,
            });
            changes
                .text("relationship")
                .text("insert")
                .uuid(id)
                .uuid(convergence)
                .text(&payload.to_string())
                .end_row();
            pass.relationships += 1;
        }
        let tx = client.transaction().await?;
        artifacts.copy(&tx).await?;
        tags.copy(&tx).await?;
        edges.copy(&tx).await?;
        changes.copy(&tx).await?;
        tx.commit().await?;
        pass.batches += 1;
        bar.inc(batch.len() as u64);
    }

    let mut rows = CopyRows::new(
        "dimension_counters",
        "convergence_id, dimension, artifact_count, weight_sum",
    );
    for (name, counter) in generator.dimension_names().iter().zip(&counters) {
        if counter.artifacts > 0 {
            rows.uuid(convergence)
                .text(name)
                .plain(counter.artifacts)
                .plain(counter.weight)
                .end_row();
        }
    }
    let tx = client.transaction().await?;
    rows.copy(&tx).await?;
    tx.commit().await?;
    pass.elapsed = started.elapsed();
    pass.ids = ids;
    bar.finish_and_clear();
    let by_table = [convergences, artifacts, tags, edges, changes, rows]
        .into_iter()
        .map(|table| (table.table, table.spent.as_secs_f64()))
        .collect();
    Ok((pass, by_table))
}
