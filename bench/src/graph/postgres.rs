//! The PostgreSQL side: recursive CTEs answering the graph queries, with a statement timeout.

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use super::workload::{GraphQuery, QueryKind};
use super::{GraphAnswer, Way, query_progress};
use crate::common::BenchError;

/// The neighbourhood statement; `{step}` is the lateral subquery of one step's neighbours of
/// `w.id`. Breadth first by levels (`UNION` drops repeated `(id, depth)` rows), every step
/// restricted to live artifacts of public convergences as the anonymous HTTP caller sees
/// them; then each artifact's fewest steps, the shallowest `$3` (smallest ids where the cut
/// falls) with their titles, kinds and convergence slugs, the relationships among them, and
/// the number of artifacts reached before the cut.
const NEIGHBORHOOD: &str = "WITH RECURSIVE walk(id, depth) AS ( \
        SELECT a.id, 0 FROM artifacts a JOIN convergences c ON c.id = a.convergence_id \
        WHERE a.id = $1::text::uuid AND a.deleted_at IS NULL AND c.visibility = 'public' \
      UNION \
        SELECT s.next, w.depth + 1 FROM walk w \
        CROSS JOIN LATERAL ({step}) AS s(next) \
        JOIN artifacts a ON a.id = s.next AND a.deleted_at IS NULL \
        JOIN convergences c ON c.id = a.convergence_id AND c.visibility = 'public' \
        WHERE w.depth < $2), \
    shallowest AS (SELECT id, min(depth) AS depth FROM walk GROUP BY id), \
    kept AS MATERIALIZED (SELECT id, depth FROM shallowest ORDER BY depth, id LIMIT $3) \
    SELECT 'node' AS part, k.id, k.depth, a.title, a.kind, c.slug, \
           NULL::uuid AS source, NULL::uuid AS target, NULL::float8 AS weight \
    FROM kept k JOIN artifacts a ON a.id = k.id JOIN convergences c ON c.id = a.convergence_id \
    UNION ALL \
    SELECT 'edge', r.id, NULL, NULL, r.kind, NULL, r.source_id, r.target_id, r.weight \
    FROM kept k JOIN artifact_relationships r ON r.source_id = k.id \
    WHERE r.target_id IN (SELECT id FROM kept) \
    UNION ALL \
    SELECT 'reached', NULL, count(*)::int, NULL, NULL, NULL, NULL, NULL, NULL FROM shallowest";

/// One step's neighbours of `w.id`, per direction; each uses an index (the unique index on
/// `(source_id, target_id, kind)` out, the index on `target_id` in).
const STEP_OUT: &str = "SELECT r.target_id FROM artifact_relationships r WHERE r.source_id = w.id";
const STEP_IN: &str = "SELECT r.source_id FROM artifact_relationships r WHERE r.target_id = w.id";

/// The path statement: breadth first by levels from `$1` along relationships source to target
/// (live artifacts of public convergences only), at most `$3` levels; PostgreSQL evaluates
/// the recursive union lazily, so `LIMIT 1` stops it at the first level that reaches `$2`.
/// It returns the hop count only, not the path (less work than the node does).
const PATH: &str = "WITH RECURSIVE bfs(id, depth) AS ( \
        SELECT a.id, 0 FROM artifacts a JOIN convergences c ON c.id = a.convergence_id \
        WHERE a.id = $1::text::uuid AND a.deleted_at IS NULL AND c.visibility = 'public' \
      UNION \
        SELECT r.target_id, b.depth + 1 FROM bfs b \
        JOIN artifact_relationships r ON r.source_id = b.id \
        JOIN artifacts a ON a.id = r.target_id AND a.deleted_at IS NULL \
        JOIN convergences c ON c.id = a.convergence_id AND c.visibility = 'public' \
        WHERE b.depth < $3) \
    SELECT depth FROM bfs WHERE id = $2::text::uuid LIMIT 1";

/// What PostgreSQL computes, for the report.
pub(crate) const CTE_COMPUTES: &str = "one tokio-postgres connection, prepared statements, \
    sequential, jit off, statement_timeout per query (a timed-out query counts at the timeout \
    in the percentiles), otherwise server defaults, after VACUUM ANALYZE. Neighbourhood: \
    WITH RECURSIVE breadth first by levels (UNION), each step an index lookup (unique index \
    (source_id, target_id, kind) out, index on target_id in, both for both) restricted to \
    live artifacts of public convergences; then min(depth) per artifact, ORDER BY depth, id \
    LIMIT limit (the node's cut), their title, kind and convergence slug, the relationships \
    among them and the count reached. Path: the same breadth-first CTE out from `from`, at \
    most --path-max-hops levels, SELECT depth WHERE id = to LIMIT 1 (lazy evaluation stops at \
    the first level reaching `to`); hop count only, no path";

/// The CTE side's measured run of one query kind.
pub(crate) struct CteRun {
    pub(crate) latencies: Vec<Duration>,
    /// `None`: the statement timed out.
    pub(crate) answers: Vec<Option<GraphAnswer>>,
    pub(crate) timeouts: usize,
}

/// Runs graph queries as recursive CTEs.
pub(crate) struct CteRunner<'a> {
    client: &'a Client,
    out: Statement,
    inward: Statement,
    both: Statement,
    path: Statement,
    limit: i64,
    max_hops: i32,
    timeout: Duration,
}

impl<'a> CteRunner<'a> {
    pub(crate) async fn prepare(
        client: &'a Client,
        timeout_ms: usize,
        limit: usize,
        max_hops: usize,
    ) -> Result<Self, BenchError> {
        client
            .batch_execute(&format!(
                "SET jit = off; SET statement_timeout = {timeout_ms}"
            ))
            .await?;
        let both = format!("{STEP_OUT} UNION ALL {STEP_IN}");
        Ok(Self {
            out: client
                .prepare(&NEIGHBORHOOD.replace("{step}", STEP_OUT))
                .await?,
            inward: client
                .prepare(&NEIGHBORHOOD.replace("{step}", STEP_IN))
                .await?,
            both: client
                .prepare(&NEIGHBORHOOD.replace("{step}", &both))
                .await?,
            path: client.prepare(PATH).await?,
            client,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            max_hops: i32::try_from(max_hops).unwrap_or(i32::MAX),
            timeout: Duration::from_millis(timeout_ms as u64),
        })
    }

    /// One query: the time until every row arrived, and the answer (`None` on timeout).
    pub(crate) async fn run(
        &self,
        query: &GraphQuery,
    ) -> Result<(Duration, Option<GraphAnswer>), BenchError> {
        let started = Instant::now();
        let rows = match *query {
            GraphQuery::Neighborhood {
                center,
                depth,
                direction,
            } => {
                let statement = match direction {
                    Way::Out => &self.out,
                    Way::In => &self.inward,
                    Way::Both => &self.both,
                };
                self.client
                    .query(
                        statement,
                        &[&center.to_string(), &i32::from(depth), &self.limit],
                    )
                    .await
            }
            GraphQuery::Path { from, to } => {
                self.client
                    .query(
                        &self.path,
                        &[&from.to_string(), &to.to_string(), &self.max_hops],
                    )
                    .await
            }
        };
        let elapsed = started.elapsed();
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) if error.code() == Some(&SqlState::QUERY_CANCELED) => {
                return Ok((elapsed.max(self.timeout), None));
            }
            Err(error) => return Err(error.into()),
        };
        let answer = match query {
            GraphQuery::Neighborhood { .. } => {
                let (mut nodes, mut edges, mut reached) = (0, 0, 0);
                for row in &rows {
                    match row.try_get::<_, &str>(0)? {
                        "node" => nodes += 1,
                        "edge" => edges += 1,
                        _ => reached = row.try_get::<_, Option<i32>>(2)?.unwrap_or(0),
                    }
                }
                GraphAnswer::Neighborhood {
                    nodes,
                    edges,
                    truncated: i64::from(reached) > self.limit,
                }
            }
            GraphQuery::Path { .. } => GraphAnswer::Path(match rows.first() {
                Some(row) => Some(u64::try_from(row.try_get::<_, i32>(0)?).unwrap_or(0)),
                None => None,
            }),
        };
        Ok((elapsed, Some(answer)))
    }

    pub(crate) async fn run_all(
        &self,
        kind: QueryKind,
        queries: &[GraphQuery],
    ) -> Result<CteRun, BenchError> {
        let mut run = CteRun {
            latencies: Vec::with_capacity(queries.len()),
            answers: Vec::with_capacity(queries.len()),
            timeouts: 0,
        };
        let bar = query_progress("CTE", kind, queries.len())?;
        for query in queries {
            let (elapsed, answer) = self.run(query).await?;
            run.timeouts += usize::from(answer.is_none());
            run.latencies.push(elapsed);
            run.answers.push(answer);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }

    /// Prints the plan of `query` with `EXPLAIN (ANALYZE, BUFFERS)` on stderr.
    pub(crate) async fn explain(&self, query: &GraphQuery) -> Result<(), BenchError> {
        let (text, params): (String, Vec<Box<dyn tokio_postgres::types::ToSql + Sync>>) =
            match *query {
                GraphQuery::Neighborhood {
                    center,
                    depth,
                    direction,
                } => {
                    let step = match direction {
                        Way::Out => STEP_OUT.to_owned(),
                        Way::In => STEP_IN.to_owned(),
                        Way::Both => format!("{STEP_OUT} UNION ALL {STEP_IN}"),
                    };
                    (
                        NEIGHBORHOOD.replace("{step}", &step),
                        vec![
                            Box::new(center.to_string()),
                            Box::new(i32::from(depth)),
                            Box::new(self.limit),
                        ],
                    )
                }
                GraphQuery::Path { from, to } => (
                    PATH.to_owned(),
                    vec![
                        Box::new(from.to_string()),
                        Box::new(to.to_string()),
                        Box::new(self.max_hops),
                    ],
                ),
            };
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_ref()).collect();
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {text}");
        match self.client.query(&explain, &refs).await {
            Ok(rows) => {
                eprintln!("--- EXPLAIN {query:?}:");
                for row in rows {
                    let line: String = row.try_get(0)?;
                    eprintln!("{line}");
                }
            }
            Err(error) if error.code() == Some(&SqlState::QUERY_CANCELED) => {
                eprintln!("--- EXPLAIN {query:?}: timed out");
            }
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}
