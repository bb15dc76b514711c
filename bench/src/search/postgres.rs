//! The PostgreSQL full-text baseline: its column and indexes, its statements, the match check.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tokio_postgres::{Client, Statement};

use super::report::{MatchCheck, MatchExample, PostgresBuild};
use super::workload::{BenchQuery, QuerySet, QueryType};
use super::{Answer, FacetMaps, MATCH_CHECK_SAMPLE, MATCH_EXAMPLES, SideRun, query_progress};
use crate::common::{BenchError, quotient};

/// The statements that add the PostgreSQL baseline, in order, with what they are for.
pub(crate) const BASELINE_STATEMENTS: [(&str, &str); 3] = [
    (
        "add_fts_column",
        "ALTER TABLE artifacts ADD COLUMN fts tsvector GENERATED ALWAYS AS \
         (setweight(to_tsvector('english', title), 'A') || \
          setweight(to_tsvector('english', body), 'B')) STORED",
    ),
    (
        "gin_index",
        "CREATE INDEX artifacts_fts ON artifacts USING gin (fts)",
    ),
    (
        "kind_index",
        "CREATE INDEX artifacts_live_kind ON artifacts (kind) WHERE deleted_at IS NULL",
    ),
];

/// Adds the full-text column and indexes to the throwaway database (never to the migrations),
/// then vacuums and analyzes. The dimension filter uses the migrations' index
/// `artifact_dimensions (dimension, artifact_id)`, the convergence join its primary key.
pub(crate) async fn build_postgres_baseline(
    client: &Client,
    artifacts: usize,
) -> Result<PostgresBuild, BenchError> {
    client
        .batch_execute("SET maintenance_work_mem = '1GB'")
        .await?;
    let mut seconds = BTreeMap::new();
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(250));
    for (step, statement) in BASELINE_STATEMENTS {
        bar.set_message(format!("PostgreSQL baseline: {step}"));
        let started = Instant::now();
        client.batch_execute(statement).await?;
        seconds.insert(step, started.elapsed().as_secs_f64());
    }
    bar.set_message("PostgreSQL baseline: vacuum_analyze");
    let started = Instant::now();
    for table in ["artifacts", "artifact_dimensions", "convergences"] {
        client
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .await?;
    }
    seconds.insert("vacuum_analyze", started.elapsed().as_secs_f64());
    bar.finish_and_clear();
    let row = client
        .query_one(
            "SELECT pg_total_relation_size('artifacts'), pg_relation_size('artifacts_fts'), \
                    pg_total_relation_size('artifact_dimensions')",
            &[],
        )
        .await?;
    let size = |column: usize| -> Result<u64, BenchError> {
        Ok(u64::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0))
    };
    let full_text = seconds.get("add_fts_column").copied().unwrap_or(0.0)
        + seconds.get("gin_index").copied().unwrap_or(0.0);
    Ok(PostgresBuild {
        documents_per_second: quotient(artifacts as f64, full_text),
        seconds,
        artifacts_bytes: size(0)?,
        gin_bytes: size(1)?,
        artifact_dimensions_bytes: size(2)?,
        settings: "maintenance_work_mem 1GB for the build session; server defaults otherwise",
    })
}

/// The ranked top-20 of the unfiltered types; `{}` is the tsquery constructor.
pub(crate) const PG_TOP: &str = "SELECT a.id::text, a.title, a.kind, ts_rank(a.fts, q.query) AS rank \
    FROM artifacts a JOIN convergences c ON c.id = a.convergence_id, \
         {}('english', $1) AS q(query) \
    WHERE a.fts @@ q.query AND a.deleted_at IS NULL AND c.visibility = 'public' \
    ORDER BY rank DESC, a.id LIMIT 20";

/// Count of the matches of the unfiltered types (match check only, never timed).
pub(crate) const PG_COUNT: &str = "SELECT count(*) \
    FROM artifacts a JOIN convergences c ON c.id = a.convergence_id, \
         {}('english', $1) AS q(query) \
    WHERE a.fts @@ q.query AND a.deleted_at IS NULL AND c.visibility = 'public'";

/// Options of `ts_headline`: an excerpt of about the length of the node's snippets, matched words
/// in `<b>…</b>` as the node marks them.
const HEADLINE_OPTIONS: &str = "StartSel=<b>, StopSel=</b>, MaxWords=35, MinWords=15";

/// The full answer of the unfiltered types, as the node computes it: the top 20 with a
/// `ts_headline` snippet of each body and the exact match count. Rows are
/// `(section, id, label, snippet, value)`; `{}` is the tsquery constructor.
pub(crate) const PG_TOP_FULL: &str = "WITH m AS MATERIALIZED ( \
        SELECT a.id, ts_rank(a.fts, q.query) AS rank \
        FROM artifacts a JOIN convergences c ON c.id = a.convergence_id, \
             {}('english', $1) AS q(query) \
        WHERE a.fts @@ q.query AND a.deleted_at IS NULL AND c.visibility = 'public'), \
    hits AS (SELECT id, rank FROM m ORDER BY rank DESC, id LIMIT 20) \
    SELECT 'hit', a.id::text, a.title, {snippet}, h.rank::float8 \
    FROM hits h JOIN artifacts a ON a.id = h.id, {}('english', $1) AS q(query) \
    UNION ALL SELECT 'total', NULL, NULL, NULL, count(*)::float8 FROM m";

/// Filtered and faceted: top 20, count, kind and dimension facets, in one statement; rows are
/// `(section, id, label, snippet, value)`. `{snippet}` is `NULL` on the lean side.
pub(crate) const PG_FILTERED: &str = "WITH m AS MATERIALIZED ( \
        SELECT a.id, a.title, a.kind, ts_rank(a.fts, q.query) * (1 + ad.weight) AS score \
        FROM artifacts a \
        JOIN convergences c ON c.id = a.convergence_id \
        JOIN artifact_dimensions ad ON ad.artifact_id = a.id AND ad.dimension = $3, \
             plainto_tsquery('english', $1) AS q(query) \
        WHERE a.fts @@ q.query AND a.kind = $2 AND a.deleted_at IS NULL \
          AND c.visibility = 'public'), \
    hits AS (SELECT id, title, score FROM m ORDER BY score DESC, id LIMIT 20), \
    kinds AS (SELECT kind, count(*) AS n FROM m GROUP BY kind ORDER BY n DESC, kind LIMIT 20), \
    dims AS (SELECT d.dimension, count(*) AS n FROM m \
             JOIN artifact_dimensions d ON d.artifact_id = m.id \
             GROUP BY d.dimension ORDER BY n DESC, d.dimension LIMIT 20) \
    SELECT 'hit', h.id::text, h.title, {snippet}, h.score::float8 \
    FROM hits h JOIN artifacts a ON a.id = h.id, plainto_tsquery('english', $1) AS q(query) \
    UNION ALL SELECT 'total', NULL, NULL, NULL, count(*)::float8 FROM m \
    UNION ALL SELECT 'kind', NULL, kind, NULL, n::float8 FROM kinds \
    UNION ALL SELECT 'dimension', NULL, dimension, NULL, n::float8 FROM dims";

/// How much of the node's answer the PostgreSQL side computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgSide {
    /// The cheapest statement for the ranking: ids and titles of the top 20 (and, filtered,
    /// the count and facets the statement needs anyway).
    Lean,
    /// The node's whole answer: `ts_headline` snippets of the 20 hits and the exact count too.
    Full,
}

/// `template` with its tsquery constructor and its snippet expression filled in.
fn statement_text(template: &str, constructor: &str, side: PgSide) -> String {
    let snippet = match side {
        PgSide::Lean => "NULL::text".to_owned(),
        PgSide::Full => format!("ts_headline('english', a.body, q.query, '{HEADLINE_OPTIONS}')"),
    };
    template
        .replace("{snippet}", &snippet)
        .replace("{}", constructor)
}

/// The text of the statement `side` runs for `query_type`.
fn query_text(query_type: QueryType, side: PgSide) -> String {
    let constructor = match query_type {
        QueryType::Phrase => "phraseto_tsquery",
        _ => "plainto_tsquery",
    };
    let template = match (query_type, side) {
        (QueryType::FilteredFaceted, _) => PG_FILTERED,
        (_, PgSide::Lean) => PG_TOP,
        (_, PgSide::Full) => PG_TOP_FULL,
    };
    statement_text(template, constructor, side)
}

/// Runs the workload's queries on PostgreSQL with prepared statements.
pub(crate) struct PgSearcher<'a> {
    pub(crate) client: &'a Client,
    /// `[lean, full]` per query type, in the order of [`QueryType::ALL`].
    statements: Vec<[Statement; 2]>,
    pub(crate) count_terms: Statement,
    pub(crate) count_phrase: Statement,
}

impl<'a> PgSearcher<'a> {
    pub(crate) async fn prepare(client: &'a Client) -> Result<Self, BenchError> {
        client.batch_execute("SET jit = off").await?;
        let mut statements = Vec::new();
        for query_type in QueryType::ALL {
            statements.push([
                client
                    .prepare(&query_text(query_type, PgSide::Lean))
                    .await?,
                client
                    .prepare(&query_text(query_type, PgSide::Full))
                    .await?,
            ]);
        }
        Ok(Self {
            statements,
            count_terms: client
                .prepare(&PG_COUNT.replace("{}", "plainto_tsquery"))
                .await?,
            count_phrase: client
                .prepare(&PG_COUNT.replace("{}", "phraseto_tsquery"))
                .await?,
            client,
        })
    }

    fn statement(&self, query_type: QueryType, side: PgSide) -> &Statement {
        &self.statements[query_type as usize][side as usize]
    }

    /// One query: the time from sending it to having received every row, and the answer.
    pub(crate) async fn run(
        &self,
        query_type: QueryType,
        side: PgSide,
        query: &BenchQuery,
    ) -> Result<(Duration, Answer), BenchError> {
        let kind = query.kind.unwrap_or_default();
        let dimension = query.dimension.as_deref().unwrap_or_default();
        let statement = self.statement(query_type, side);
        let filtered = query_type == QueryType::FilteredFaceted;
        let started = Instant::now();
        let rows = if filtered {
            self.client
                .query(statement, &[&query.words, &kind, &dimension])
                .await?
        } else {
            self.client.query(statement, &[&query.words]).await?
        };
        let elapsed = started.elapsed();
        if !filtered && side == PgSide::Lean {
            return Ok((
                elapsed,
                Answer {
                    total: None,
                    facets: None,
                },
            ));
        }
        let mut total = None;
        let mut facets = FacetMaps::default();
        for row in &rows {
            let section: &str = row.try_get(0)?;
            let label: Option<String> = row.try_get(2)?;
            let value: f64 = row.try_get(4)?;
            let count = value as u64;
            match (section, label) {
                ("total", _) => total = Some(count),
                ("kind", Some(label)) => {
                    facets.kind.insert(label, count);
                }
                ("dimension", Some(label)) => {
                    facets.dimension.insert(label, count);
                }
                _ => {}
            }
        }
        Ok((
            elapsed,
            Answer {
                total,
                facets: filtered.then_some(facets),
            },
        ))
    }

    pub(crate) async fn run_all(
        &self,
        set: &QuerySet,
        side: PgSide,
    ) -> Result<SideRun, BenchError> {
        let mut run = SideRun {
            latencies: Vec::with_capacity(set.measured.len()),
            answers: Vec::with_capacity(set.measured.len()),
            engine_ms: Vec::new(),
        };
        let label = match side {
            PgSide::Lean => "PostgreSQL lean",
            PgSide::Full => "PostgreSQL full",
        };
        let bar = query_progress(label, set)?;
        for query in &set.measured {
            let (elapsed, answer) = self.run(set.query_type, side, query).await?;
            run.latencies.push(elapsed);
            run.answers.push(answer);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }

    /// Matches of an unfiltered query (not timed).
    pub(crate) async fn count(
        &self,
        query_type: QueryType,
        query: &BenchQuery,
    ) -> Result<u64, BenchError> {
        let statement = if query_type == QueryType::Phrase {
            &self.count_phrase
        } else {
            &self.count_terms
        };
        let row = self.client.query_one(statement, &[&query.words]).await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }

    /// Prints the plan of `query` with `EXPLAIN (ANALYZE, BUFFERS)` on stderr.
    pub(crate) async fn explain(
        &self,
        query_type: QueryType,
        query: &BenchQuery,
    ) -> Result<(), BenchError> {
        let kind = query.kind.unwrap_or_default();
        let dimension = query.dimension.as_deref().unwrap_or_default();
        let text = query_text(query_type, PgSide::Full);
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {text}");
        let rows = if query_type == QueryType::FilteredFaceted {
            self.client
                .query(&explain, &[&query.words, &kind, &dimension])
                .await?
        } else {
            self.client.query(&explain, &[&query.words]).await?
        };
        eprintln!("--- {} ({}):", query_type.label(), query.describe());
        for row in rows {
            let line: String = row.try_get(0)?;
            eprintln!("{line}");
        }
        Ok(())
    }
}

/// Compares the match counts of both sides: for the filtered type on every measured query
/// (PostgreSQL counts them anyway), otherwise on the first [`MATCH_CHECK_SAMPLE`] queries,
/// which PostgreSQL counts again outside the timings.
pub(crate) async fn check_matches(
    postgres: &PgSearcher<'_>,
    set: &QuerySet,
    tantivy: &SideRun,
    pg: &SideRun,
) -> Result<MatchCheck, BenchError> {
    let mut check = MatchCheck::default();
    let filtered = set.query_type == QueryType::FilteredFaceted;
    let mut equal_facets = 0;
    for (position, query) in set.measured.iter().enumerate() {
        if !filtered && position >= MATCH_CHECK_SAMPLE {
            break;
        }
        let (Some(ours), Some(theirs)) = (tantivy.answers.get(position), pg.answers.get(position))
        else {
            break;
        };
        let Some(node_total) = ours.total else {
            continue;
        };
        let pg_total = match theirs.total {
            Some(total) => total,
            None => postgres.count(set.query_type, query).await?,
        };
        check.compared += 1;
        check.tantivy_matches += node_total;
        check.postgres_matches += pg_total;
        if node_total == pg_total {
            check.equal += 1;
        }
        let difference = node_total.abs_diff(pg_total) as f64 / pg_total.max(1) as f64;
        check.max_relative_difference = check.max_relative_difference.max(difference);
        if filtered && ours.facets.is_some() && ours.facets == theirs.facets {
            equal_facets += 1;
        }
        if check.examples.len() < MATCH_EXAMPLES {
            check.examples.push(MatchExample {
                query: query.describe(),
                tantivy: node_total,
                postgres: pg_total,
            });
        }
    }
    if filtered {
        check.equal_facets = Some(equal_facets);
    }
    Ok(check)
}
