//! The report of `graph`.

use std::fmt;

use serde::Serialize;

use super::GraphAnswer;
use super::postgres::CTE_COMPUTES;
use super::workload::QueryKind;
use crate::common::{Latency, LoadAverage, Phase, mebibytes};

/// What the HTTP side computes, for the report.
const HTTP_COMPUTES: &str = "GET /api/v1/graph/neighborhood/{id}?depth=&direction=&limit= and \
    GET /api/v1/graph/path?from=&to=&direction=out, anonymous (public artifacts only), one \
    keep-alive connection, sequential, Accept-Encoding: gzip, deflate, br, zstd (the identity \
    column: Accept-Encoding: identity), timed until the whole body is read: breadth-first \
    neighbourhood with the artifacts' titles, kinds and convergence slugs (from the node's \
    slug cache once warm, no PostgreSQL query) and the relationships among them; bidirectional \
    BFS path with its artifacts and relationships; serialized to JSON";

/// The graph load at node start.
#[derive(Debug, Serialize)]
pub(crate) struct GraphLoad {
    /// From the start of `Application::build` until `/readyz` answered 200.
    pub(crate) ready_seconds: f64,
    /// Counts and memory estimate from the node's `graph loaded` log line (kg-graph's
    /// `MemoryUsage`: container capacities, not the allocator).
    pub(crate) artifacts: u64,
    pub(crate) relationships: u64,
    pub(crate) node_bytes: u64,
    pub(crate) edge_bytes: u64,
    pub(crate) convergence_bytes: u64,
    pub(crate) bytes_per_artifact: f64,
    pub(crate) bytes_per_relationship: f64,
    /// Resident memory of the benchmark process when the node was ready, minus before it
    /// started (graph, plus whatever the search follower held then).
    pub(crate) rss_growth_bytes: u64,
    /// Until the search index (built alongside) counted every artifact.
    pub(crate) search_index_seconds: f64,
}

/// How the two sides' answers compare on the queries both ran.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Agreement {
    /// Queries the CTE answered (not timed out).
    pub(crate) compared: usize,
    /// Of those, identical answers (node and edge counts and cut; hop counts or both none).
    pub(crate) equal: usize,
    /// Paths longer than the CTE's level bound (the CTE finds none): not counted as differing.
    pub(crate) beyond_bound: usize,
    /// Differing answers, as `HTTP vs CTE`.
    pub(crate) differences: Vec<String>,
}

/// Compares answers position by position.
pub(crate) fn agreement_of(
    http: &[GraphAnswer],
    cte: &[Option<GraphAnswer>],
    max_hops: usize,
) -> Agreement {
    let mut agreement = Agreement::default();
    for (ours, theirs) in http.iter().zip(cte) {
        let Some(theirs) = theirs else { continue };
        agreement.compared += 1;
        if ours == theirs {
            agreement.equal += 1;
        } else if matches!(
            (ours, theirs),
            (GraphAnswer::Path(Some(hops)), GraphAnswer::Path(None)) if *hops > max_hops as u64
        ) {
            agreement.beyond_bound += 1;
        } else if agreement.differences.len() < 5 {
            agreement
                .differences
                .push(format!("{ours:?} vs {theirs:?}"));
        }
    }
    agreement
}

/// One query kind, both sides.
#[derive(Debug, Serialize)]
pub(crate) struct QueryKindReport {
    pub(crate) kind: QueryKind,
    pub(crate) label: String,
    pub(crate) http_queries: usize,
    pub(crate) cte_queries: usize,
    pub(crate) warmup: usize,
    pub(crate) cte_warmup: usize,
    /// Through HTTP with a browser's `Accept-Encoding` (gzip).
    pub(crate) http: Latency,
    /// The same queries with `Accept-Encoding: identity`.
    pub(crate) http_identity: Latency,
    pub(crate) cte: Latency,
    pub(crate) cte_timeouts: usize,
    /// CTE p50 / HTTP p50.
    pub(crate) ratio_p50: f64,
    /// CTE p99 / HTTP p99.
    pub(crate) ratio_p99: f64,
    /// Median over the HTTP answers: artifacts of a neighbourhood, hops of a path (0: none).
    pub(crate) median_size: u64,
    /// Paths only: how many the node found (of `http_queries`) and the CTE found (of the
    /// `cte_queries` that did not time out).
    pub(crate) paths_found: Option<(usize, usize)>,
    pub(crate) agreement: Agreement,
}

/// One PageRank variant.
#[derive(Debug, Serialize)]
pub(crate) struct PageRankRun {
    pub(crate) method: &'static str,
    pub(crate) stopping_rule: &'static str,
    pub(crate) threads: usize,
    pub(crate) artifacts: u64,
    pub(crate) iterations: u64,
    /// Each run's seconds.
    pub(crate) seconds: Vec<f64>,
    pub(crate) median_seconds: f64,
}

impl PageRankRun {
    pub(crate) fn new(
        method: &'static str,
        stopping_rule: &'static str,
        threads: usize,
        artifacts: u64,
        iterations: u64,
        seconds: Vec<f64>,
    ) -> Self {
        let mut sorted = seconds.clone();
        sorted.sort_by(f64::total_cmp);
        Self {
            method,
            stopping_rule,
            threads,
            artifacts,
            iterations,
            median_seconds: sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
            seconds,
        }
    }
}

/// PageRank over the whole graph (damping 0.85, tolerance 1e-6).
#[derive(Debug, Serialize)]
pub(crate) struct PageRankTimes {
    pub(crate) http: PageRankRun,
    pub(crate) crate_runs: Vec<PageRankRun>,
}

/// The outcome of `graph`.
#[derive(Debug, Serialize)]
pub(crate) struct GraphReport {
    pub(crate) artifacts: usize,
    pub(crate) seed: u64,
    pub(crate) relationships_per_artifact: f64,
    pub(crate) relationships: u64,
    /// The COPY load, generation included.
    pub(crate) copy_load: Phase,
    pub(crate) graph_load: GraphLoad,
    pub(crate) limit: usize,
    pub(crate) statement_timeout_ms: usize,
    pub(crate) path_max_hops: usize,
    pub(crate) query_kinds: Vec<QueryKindReport>,
    pub(crate) pagerank: PageRankTimes,
    pub(crate) load_average: Vec<LoadAverage>,
    pub(crate) database: String,
    pub(crate) data_dir: String,
    pub(crate) kept: bool,
}

impl fmt::Display for GraphReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kgnode-bench graph: {} artifacts, {} relationships (mean {} per artifact), seed {}",
            self.artifacts, self.relationships, self.relationships_per_artifact, self.seed
        )?;
        writeln!(
            f,
            "  COPY load: {:.1} s ({:.0} artifacts/s, {:.0} relationships/s)",
            self.copy_load.seconds,
            self.copy_load.artifacts_per_second,
            self.copy_load.relationships_per_second
        )?;
        let g = &self.graph_load;
        writeln!(
            f,
            "  graph load at node start: {:.1} s until /readyz (the search index builds \
             alongside; it finished after {:.1} s, before any query)",
            g.ready_seconds, g.search_index_seconds
        )?;
        writeln!(
            f,
            "  graph memory (kg-graph estimate, logged by the node): {:.0} MiB for {} \
             artifacts and {} relationships: {:.0} bytes per artifact (title included), {:.0} \
             bytes per relationship; process RSS grew {:.0} MiB",
            mebibytes(g.node_bytes + g.edge_bytes + g.convergence_bytes),
            g.artifacts,
            g.relationships,
            g.bytes_per_artifact,
            g.bytes_per_relationship,
            mebibytes(g.rss_growth_bytes)
        )?;
        let first = self.query_kinds.first();
        writeln!(
            f,
            "  latency in ms, sequential after warm-up (HTTP: {} queries per type after {}; \
             CTE: the first {} of them after {}, statement_timeout {} ms; limit {}):",
            first.map_or(0, |k| k.http_queries),
            first.map_or(0, |k| k.warmup),
            first.map_or(0, |k| k.cte_queries),
            first.map_or(0, |k| k.cte_warmup),
            self.statement_timeout_ms,
            self.limit
        )?;
        writeln!(
            f,
            "    {:<38} {:>22} {:>15} {:>31} {:>15} {:>7} {:>12}",
            "",
            "node via HTTP, gzip",
            "identity",
            "PostgreSQL recursive CTE",
            "CTE / HTTP",
            "median",
            "answers"
        )?;
        writeln!(
            f,
            "    {:<38} {:>7} {:>7} {:>6} {:>7} {:>7} {:>8} {:>9} {:>8} {:>4} {:>7} {:>7} {:>7} {:>12}",
            "query type",
            "p50",
            "p99",
            "mean",
            "p50",
            "p99",
            "p50",
            "p99",
            "mean",
            "t/o",
            "p50",
            "p99",
            "size",
            "equal"
        )?;
        for k in &self.query_kinds {
            let bound = if k.agreement.beyond_bound > 0 {
                format!(" +{}>", k.agreement.beyond_bound)
            } else {
                String::new()
            };
            writeln!(
                f,
                "    {:<38} {:>7.3} {:>7.3} {:>6.2} {:>7.3} {:>7.3} {:>8.2} {:>9.2} {:>8.2} {:>4} {:>6.0}x {:>6.0}x {:>7} {:>12}",
                k.label,
                k.http.p50_ms,
                k.http.p99_ms,
                k.http.mean_ms,
                k.http_identity.p50_ms,
                k.http_identity.p99_ms,
                k.cte.p50_ms,
                k.cte.p99_ms,
                k.cte.mean_ms,
                k.cte_timeouts,
                k.ratio_p50,
                k.ratio_p99,
                k.median_size,
                format!("{}/{}{bound}", k.agreement.equal, k.agreement.compared)
            )?;
        }
        writeln!(
            f,
            "    (size: artifacts per neighbourhood, hops per path; answers equal: node and \
             edge counts and cut, or hop counts, among the CTE answers that did not time out; \
             +N>: paths longer than the CTE's {} levels)",
            self.path_max_hops
        )?;
        for k in &self.query_kinds {
            if let QueryKind::Neighborhood {
                depth: 2,
                direction,
            } = k.kind
            {
                writeln!(
                    f,
                    "  headline, 2-hop {}: node via HTTP p50 {:.3} ms gzip, {:.3} ms identity \
                     (goal < 1 ms), PostgreSQL / node {:.0}x at p50 and {:.0}x at p99 (goal >= 50x)",
                    direction.as_str(),
                    k.http.p50_ms,
                    k.http_identity.p50_ms,
                    k.ratio_p50,
                    k.ratio_p99
                )?;
            }
        }
        for k in &self.query_kinds {
            if let Some((node, cte)) = k.paths_found {
                writeln!(
                    f,
                    "    {}: a path exists for {node} of {} pairs (node); the CTE found {cte} of \
                     the {} it answered",
                    k.label,
                    k.http_queries,
                    k.cte_queries - k.cte_timeouts
                )?;
            }
        }
        for k in &self.query_kinds {
            for difference in &k.agreement.differences {
                writeln!(f, "    differs, {}: {difference}", k.label)?;
            }
        }
        writeln!(
            f,
            "  PageRank over the whole graph (damping 0.85, tolerance 1e-6), median of runs:"
        )?;
        for run in std::iter::once(&self.pagerank.http).chain(&self.pagerank.crate_runs) {
            writeln!(
                f,
                "    {:>7.3} s  {:>3} iterations  {} thread(s)  {:<34} {} ({} artifacts)",
                run.median_seconds,
                run.iterations,
                run.threads,
                run.stopping_rule,
                run.method,
                run.artifacts
            )?;
        }
        let loads: Vec<String> = self
            .load_average
            .iter()
            .map(|l| format!("{} [{}]", l.when, l.value))
            .collect();
        writeln!(f, "  load average: {}", loads.join(", "))?;
        writeln!(f, "  HTTP side: {HTTP_COMPUTES}")?;
        writeln!(f, "  PostgreSQL side: {CTE_COMPUTES}")?;
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
