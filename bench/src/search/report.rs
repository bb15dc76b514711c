//! The report of `search`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::workload::QueryType;
use crate::common::{Latency, LoadAverage, Phase, mebibytes};

/// How long the node took to build its index at start.
#[derive(Debug, Serialize)]
pub(crate) struct IndexBuild {
    /// From the start of `Application::build` until a blank search counted every artifact.
    pub(crate) seconds: f64,
    pub(crate) documents_per_second: f64,
    /// Until `/readyz` answered 200 (the graph follower loads its snapshot meanwhile).
    pub(crate) ready_seconds: f64,
}

/// How long the PostgreSQL baseline took to build, and its size.
#[derive(Debug, Serialize)]
pub(crate) struct PostgresBuild {
    /// Seconds per step.
    pub(crate) seconds: BTreeMap<&'static str, f64>,
    /// Artifacts divided by the seconds of the column and the GIN index.
    pub(crate) documents_per_second: f64,
    /// `artifacts` with its TOAST and all its indexes.
    pub(crate) artifacts_bytes: u64,
    pub(crate) gin_bytes: u64,
    pub(crate) artifact_dimensions_bytes: u64,
    pub(crate) settings: &'static str,
}

/// Both sides' match counts for some queries of one type.
#[derive(Debug, Default, Serialize)]
pub(crate) struct MatchCheck {
    /// Queries counted on both sides.
    pub(crate) compared: usize,
    /// Of those, queries with the same count.
    pub(crate) equal: usize,
    pub(crate) tantivy_matches: u64,
    pub(crate) postgres_matches: u64,
    /// Largest `|tantivy - postgres| / postgres` among them.
    pub(crate) max_relative_difference: f64,
    /// Filtered type: queries whose kind and dimension facets were identical too.
    pub(crate) equal_facets: Option<usize>,
    pub(crate) examples: Vec<MatchExample>,
}

/// One query with both match counts.
#[derive(Debug, Serialize)]
pub(crate) struct MatchExample {
    pub(crate) query: String,
    pub(crate) tantivy: u64,
    pub(crate) postgres: u64,
}

/// One query type, both sides.
#[derive(Debug, Serialize)]
pub(crate) struct QueryTypeReport {
    pub(crate) query_type: QueryType,
    pub(crate) label: &'static str,
    pub(crate) queries: usize,
    pub(crate) warmup: usize,
    /// Client-side, through HTTP, with a browser's `Accept-Encoding` (gzip).
    pub(crate) tantivy: Latency,
    /// The same queries with `Accept-Encoding: identity`.
    pub(crate) tantivy_identity: Latency,
    /// The node's own `took_ms` (the engine alone, no HTTP or JSON).
    pub(crate) tantivy_engine_p50_ms: f64,
    pub(crate) tantivy_engine_p99_ms: f64,
    /// The lean statement: ids and titles of the top 20.
    pub(crate) postgres: Latency,
    /// The node's whole answer: snippets and the exact count too.
    pub(crate) postgres_full: Latency,
    /// PostgreSQL lean p50 / tantivy p50.
    pub(crate) ratio_p50: f64,
    /// PostgreSQL lean p99 / tantivy p99.
    pub(crate) ratio_p99: f64,
    /// PostgreSQL full p50 / tantivy p50.
    pub(crate) full_ratio_p50: f64,
    /// PostgreSQL full p99 / tantivy p99.
    pub(crate) full_ratio_p99: f64,
    /// Median of the node's match counts over the measured queries.
    pub(crate) median_matches: u64,
    pub(crate) matches: MatchCheck,
}

/// Write-to-searchable latency.
#[derive(Debug, Serialize)]
pub(crate) struct WriteLatency {
    pub(crate) writes: usize,
    pub(crate) poll_interval_ms: f64,
    pub(crate) mean_polls: f64,
    /// From the arrival of the creation's response to the arrival of the first search answer
    /// holding the artifact.
    pub(crate) latency: Latency,
}

/// The outcome of `search`.
#[derive(Debug, Serialize)]
pub(crate) struct SearchReport {
    pub(crate) artifacts: usize,
    pub(crate) seed: u64,
    pub(crate) typo_tolerance: bool,
    pub(crate) phrase_pairs: bool,
    pub(crate) relationships: u64,
    pub(crate) dimension_tags: u64,
    pub(crate) stop_words_in_vocabulary: usize,
    /// The COPY load, generation included.
    pub(crate) load: Phase,
    pub(crate) index_build: IndexBuild,
    /// Size of the node's index directory after the build.
    pub(crate) index_bytes: u64,
    /// Segments of the index when the queries started (from its `meta.json`).
    pub(crate) index_segments: usize,
    pub(crate) postgres_build: PostgresBuild,
    pub(crate) query_types: Vec<QueryTypeReport>,
    pub(crate) writes: WriteLatency,
    pub(crate) term_selection: &'static str,
    pub(crate) tantivy_computes: &'static str,
    pub(crate) postgres_computes: &'static str,
    pub(crate) load_average: Vec<LoadAverage>,
    pub(crate) database: String,
    pub(crate) data_dir: String,
    pub(crate) kept: bool,
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kgnode-bench search: {} artifacts, seed {}, node typo tolerance {}, phrase pairs {}",
            self.artifacts,
            self.seed,
            on_off(self.typo_tolerance),
            on_off(self.phrase_pairs)
        )?;
        writeln!(
            f,
            "  data: {} relationships, {} dimension tags; COPY load {:.1} s ({:.0} artifacts/s)",
            self.relationships,
            self.dimension_tags,
            self.load.seconds,
            self.load.artifacts_per_second
        )?;
        writeln!(
            f,
            "  tantivy index build at node start: {:.1} s, {:.0} docs/s (node ready, graph \
             loaded, after {:.1} s); index {:.0} MiB, {} segments when queried",
            self.index_build.seconds,
            self.index_build.documents_per_second,
            self.index_build.ready_seconds,
            mebibytes(self.index_bytes),
            self.index_segments
        )?;
        let build = &self.postgres_build;
        let steps: Vec<String> = build
            .seconds
            .iter()
            .map(|(step, seconds)| format!("{step} {seconds:.1} s"))
            .collect();
        writeln!(
            f,
            "  PostgreSQL baseline build: {}; {:.0} docs/s (column + GIN); artifacts {:.0} MiB \
             with GIN {:.0} MiB, artifact_dimensions {:.0} MiB",
            steps.join(", "),
            build.documents_per_second,
            mebibytes(build.artifacts_bytes),
            mebibytes(build.gin_bytes),
            mebibytes(build.artifact_dimensions_bytes)
        )?;
        writeln!(
            f,
            "  query latency in ms, sequential after warm-up (queries per type: {}, warm-up {}):",
            self.query_types.first().map_or(0, |t| t.queries),
            self.query_types.first().map_or(0, |t| t.warmup)
        )?;
        writeln!(
            f,
            "    {:<27} {:>14} {:>14} {:>7} {:>14} {:>14} {:>13} {:>13} {:>8}",
            "",
            "tantivy gzip",
            "tantivy ident.",
            "engine",
            "PG lean",
            "PG full",
            "lean/tantivy",
            "full/tantivy",
            "median"
        )?;
        writeln!(
            f,
            "    {:<27} {:>6} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>8}",
            "query type",
            "p50",
            "p99",
            "p50",
            "p99",
            "p50",
            "p50",
            "p99",
            "p50",
            "p99",
            "p50",
            "p99",
            "p50",
            "p99",
            "matches"
        )?;
        for t in &self.query_types {
            writeln!(
                f,
                "    {:<27} {:>6.2} {:>7.2} {:>6.2} {:>7.2} {:>7.2} {:>6.2} {:>7.2} {:>6.2} {:>7.2} {:>5.1}x {:>5.1}x {:>5.1}x {:>5.1}x {:>8}",
                t.label,
                t.tantivy.p50_ms,
                t.tantivy.p99_ms,
                t.tantivy_identity.p50_ms,
                t.tantivy_identity.p99_ms,
                t.tantivy_engine_p50_ms,
                t.postgres.p50_ms,
                t.postgres.p99_ms,
                t.postgres_full.p50_ms,
                t.postgres_full.p99_ms,
                t.ratio_p50,
                t.ratio_p99,
                t.full_ratio_p50,
                t.full_ratio_p99,
                t.median_matches
            )?;
        }
        writeln!(f, "  match counts, tantivy vs PostgreSQL:")?;
        for t in &self.query_types {
            let m = &t.matches;
            let facets = m
                .equal_facets
                .map(|n| format!(", identical facets {n}"))
                .unwrap_or_default();
            writeln!(
                f,
                "    {:<27} {} queries: {} equal, total {} vs {}, max difference {:.2}%{}",
                t.label,
                m.compared,
                m.equal,
                m.tantivy_matches,
                m.postgres_matches,
                m.max_relative_difference * 100.0,
                facets
            )?;
            for example in &m.examples {
                writeln!(
                    f,
                    "      {:<60} {:>8} vs {:>8}",
                    example.query, example.tantivy, example.postgres
                )?;
            }
        }
        let w = &self.writes;
        writeln!(
            f,
            "  write-to-searchable ({} writes, polled every {:.0} ms, {:.1} polls each): p50 \
             {:.1} ms, p99 {:.1} ms, mean {:.1} ms, max {:.1} ms",
            w.writes,
            w.poll_interval_ms,
            w.mean_polls,
            w.latency.p50_ms,
            w.latency.p99_ms,
            w.latency.mean_ms,
            w.latency.max_ms
        )?;
        let loads: Vec<String> = self
            .load_average
            .iter()
            .map(|l| format!("{} [{}]", l.when, l.value))
            .collect();
        writeln!(f, "  load average: {}", loads.join(", "))?;
        writeln!(f, "  terms: {}", self.term_selection)?;
        writeln!(f, "  tantivy side: {}", self.tantivy_computes)?;
        writeln!(f, "  PostgreSQL side: {}", self.postgres_computes)?;
        if self.kept {
            writeln!(
                f,
                "  kept: database {}, data directory {}",
                self.database, self.data_dir
            )?;
        }
        Ok(())
    }
}

fn on_off(setting: bool) -> &'static str {
    if setting { "on" } else { "off" }
}
