//! The gauges, read when Prometheus scrapes: the process's own state (pool, event streams,
//! search index, graph) costs nothing to read; what lives in PostgreSQL (the change log's head,
//! projection lag, the job queue, the federation queue) takes a few indexed queries in one
//! read-only transaction with a statement timeout, so that a scrape stays cheap and bounded.
//!
//! The gauges go into a fresh [`MetricSet`] per scrape: a series that is gone (a peer whose
//! queue drained out of the top ones) is not shown with its last value.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::sql_types::{Array, BigInt, Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_graph::GraphStore;
use kg_search::SearchIndex;
use metrics::Label;

use crate::db::DbPool;
use crate::federating::FederationError;
use crate::federating::admin::{PeerQueue, queue_state};
use crate::jobs::JobState;
use crate::realtime::EventHub;
use crate::workers::Projections;

use super::http::HttpMetrics;
use super::set::MetricSet;

/// Peers shown by name in the federation gauges, largest backlog first; the others are added
/// up under `peer="other"`, so that the number of series stays bounded however many peers
/// follow.
const TOP_PEERS: usize = 10;

/// The longest a scrape's query may run, in milliseconds.
const STATEMENT_TIMEOUT_MS: u32 = 2000;

/// What the metrics are read from: the node's shared state.
pub struct MetricsSources {
    /// The API's connection pool (also used for the scrape's queries).
    pub pool: DbPool,
    /// The change log's projections and their progress.
    pub projections: Projections,
    /// The event-stream hub.
    pub hub: EventHub,
    /// The search index.
    pub index: SearchIndex,
    /// The in-memory graph.
    pub store: Arc<GraphStore>,
    /// The API's request metrics.
    pub http: HttpMetrics,
}

/// A gauge family: its name and `# HELP` text.
struct Family {
    name: &'static str,
    help: &'static str,
}

impl Family {
    fn set(&self, gauges: &MetricSet, labels: Vec<Label>, value: f64) {
        gauges.describe(self.name, self.help);
        gauges.set_gauge(self.name, labels, value);
    }
}

const IN_FLIGHT: Family = Family {
    name: "kgnode_http_requests_in_flight",
    help: "HTTP requests being handled now (until their response's head).",
};
const POOL_CONNECTIONS: Family = Family {
    name: "kgnode_db_pool_connections",
    help: "Open connections of the API's PostgreSQL pool, by state (in_use, idle).",
};
const POOL_WAITING: Family = Family {
    name: "kgnode_db_pool_waiting",
    help: "Requests waiting for a pooled PostgreSQL connection.",
};
const POOL_MAX: Family = Family {
    name: "kgnode_db_pool_max_connections",
    help: "Size limit of the API's PostgreSQL pool (database.max_connections).",
};
const SUBSCRIBERS: Family = Family {
    name: "kgnode_realtime_subscribers",
    help: "Open event streams.",
};
const SEARCH_DOCUMENTS: Family = Family {
    name: "kgnode_search_documents",
    help: "Live documents of the search index.",
};
const SEARCH_SEGMENTS: Family = Family {
    name: "kgnode_search_segments",
    help: "Segments of the search index (many small ones slow searches until they merge).",
};
const GRAPH_ARTIFACTS: Family = Family {
    name: "kgnode_graph_artifacts",
    help: "Artifacts in the in-memory graph.",
};
const GRAPH_RELATIONSHIPS: Family = Family {
    name: "kgnode_graph_relationships",
    help: "Relationships in the in-memory graph.",
};
const DATABASE_UP: Family = Family {
    name: "kgnode_database_up",
    help: "1 when this scrape's PostgreSQL queries succeeded (and the gauges read from them are shown), else 0.",
};
const LOG_HEAD: Family = Family {
    name: "kgnode_change_log_head_seq",
    help: "Sequence number of the newest committed change.",
};
const PROJECTION_APPLIED: Family = Family {
    name: "kgnode_projection_applied_seq",
    help: "Last change applied by each projection of the change log.",
};
const PROJECTION_LAG: Family = Family {
    name: "kgnode_projection_lag_seq",
    help: "Changes committed that each projection has not applied yet.",
};
const PROJECTION_LAG_SECONDS: Family = Family {
    name: "kgnode_projection_lag_seconds",
    help: "Age of the oldest change each projection has not applied yet (0 when caught up).",
};
const JOBS: Family = Family {
    name: "kgnode_jobs",
    help: "Jobs in the queue by state (queued, running, failed; succeeded ones are history and not counted).",
};
const FEDERATION_BACKLOG: Family = Family {
    name: "kgnode_federation_backlog",
    help: "Activities not yet delivered, by peer (the largest backlogs by name, the rest as other).",
};
const FEDERATION_FAILURES: Family = Family {
    name: "kgnode_federation_failures",
    help: "Consecutive failed delivery attempts, by peer.",
};
const FEDERATION_PARKED: Family = Family {
    name: "kgnode_federation_parked",
    help: "Activities parked after repeated refusals, by peer.",
};

/// Everything, in the Prometheus text format.
pub(super) async fn render(sources: &MetricsSources) -> String {
    let gauges = MetricSet::new();
    process_gauges(sources, &gauges);
    let up = match database_gauges(sources, &gauges).await {
        Ok(()) => 1.0,
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the gauges kept in PostgreSQL");
            0.0
        }
    };
    DATABASE_UP.set(&gauges, Vec::new(), up);
    let mut text = gauges.render();
    text.push_str(&sources.http.render());
    text
}

fn process_gauges(sources: &MetricsSources, gauges: &MetricSet) {
    IN_FLIGHT.set(gauges, Vec::new(), sources.http.in_flight().count() as f64);
    let pool = sources.pool.status();
    let in_use = pool.size.saturating_sub(pool.available);
    POOL_CONNECTIONS.set(gauges, vec![Label::new("state", "in_use")], in_use as f64);
    POOL_CONNECTIONS.set(
        gauges,
        vec![Label::new("state", "idle")],
        pool.available as f64,
    );
    POOL_WAITING.set(gauges, Vec::new(), pool.waiting as f64);
    POOL_MAX.set(gauges, Vec::new(), pool.max_size as f64);
    SUBSCRIBERS.set(gauges, Vec::new(), sources.hub.subscribers() as f64);
    SEARCH_DOCUMENTS.set(gauges, Vec::new(), sources.index.num_docs() as f64);
    SEARCH_SEGMENTS.set(gauges, Vec::new(), sources.index.num_segments() as f64);
    let (artifacts, relationships) = sources
        .store
        .read_with(|graph| (graph.artifact_count(), graph.relationship_count()));
    GRAPH_ARTIFACTS.set(gauges, Vec::new(), artifacts as f64);
    GRAPH_RELATIONSHIPS.set(gauges, Vec::new(), relationships as f64);
}

/// What one scrape reads from PostgreSQL.
struct Readings {
    head: i64,
    lag_seconds: Vec<ProjectionLag>,
    jobs: Vec<JobCount>,
    peers: Vec<PeerQueue>,
}

async fn database_gauges(
    sources: &MetricsSources,
    gauges: &MetricSet,
) -> Result<(), FederationError> {
    let applied: Vec<(&'static str, i64)> = sources
        .projections
        .applied()
        .filter_map(|(name, applied)| Some((name, applied?)))
        .collect();
    let mut conn = sources.pool.get().await?;
    let readings = conn
        .build_transaction()
        .read_only()
        .run(async |conn| {
            diesel::sql_query(format!(
                "SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"
            ))
            .execute(conn)
            .await?;
            Ok::<_, FederationError>(Readings {
                head: crate::db::snapshot_position(conn).await?,
                lag_seconds: projection_lag_seconds(conn, &applied).await?,
                jobs: job_counts(conn).await?,
                peers: queue_state(conn).await?,
            })
        })
        .await?;
    LOG_HEAD.set(gauges, Vec::new(), readings.head as f64);
    for (name, applied) in &applied {
        let labels = vec![Label::new("projection", *name)];
        PROJECTION_APPLIED.set(gauges, labels.clone(), *applied as f64);
        PROJECTION_LAG.set(gauges, labels, (readings.head - applied).max(0) as f64);
    }
    for lag in readings.lag_seconds {
        PROJECTION_LAG_SECONDS.set(
            gauges,
            vec![Label::new("projection", lag.name)],
            lag.seconds,
        );
    }
    let counted: HashMap<String, i64> = readings
        .jobs
        .into_iter()
        .map(|count| (count.state, count.n))
        .collect();
    for state in QUEUE_STATES {
        let n = counted.get(state.as_str()).copied().unwrap_or(0);
        JOBS.set(gauges, vec![Label::new("state", state.as_str())], n as f64);
    }
    for peer in by_peer(readings.peers) {
        let labels = vec![Label::new("peer", peer.name)];
        FEDERATION_BACKLOG.set(gauges, labels.clone(), peer.backlog as f64);
        FEDERATION_FAILURES.set(gauges, labels.clone(), peer.failures as f64);
        FEDERATION_PARKED.set(gauges, labels, peer.parked as f64);
    }
    Ok(())
}

/// The job states counted: those of the queue's work, not its history.
const QUEUE_STATES: [JobState; 3] = [JobState::Queued, JobState::Running, JobState::Failed];

#[derive(diesel::QueryableByName)]
struct JobCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Jobs per state of [`QUEUE_STATES`] (through the `jobs_by_state` index).
async fn job_counts(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<JobCount>> {
    let states: Vec<&str> = QUEUE_STATES.iter().map(|state| state.as_str()).collect();
    diesel::sql_query("SELECT state, count(*) AS n FROM jobs WHERE state = ANY($1) GROUP BY state")
        .bind::<Array<Text>, _>(states)
        .load(conn)
        .await
}

#[derive(diesel::QueryableByName)]
struct ProjectionLag {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Double)]
    seconds: f64,
}

/// For each projection at `applied`, the age of the first change after it (one index probe
/// each).
async fn projection_lag_seconds(
    conn: &mut AsyncPgConnection,
    applied: &[(&'static str, i64)],
) -> diesel::QueryResult<Vec<ProjectionLag>> {
    let names: Vec<&str> = applied.iter().map(|(name, _)| *name).collect();
    let positions: Vec<i64> = applied.iter().map(|(_, seq)| *seq).collect();
    diesel::sql_query(
        "SELECT p.name, GREATEST(0, COALESCE(( \
             SELECT extract(epoch FROM now() - c.recorded_at) FROM change_log c \
             WHERE c.seq > p.applied ORDER BY c.seq LIMIT 1), 0))::float8 AS seconds \
         FROM unnest($1::text[], $2::bigint[]) AS p(name, applied)",
    )
    .bind::<Array<Text>, _>(names)
    .bind::<Array<BigInt>, _>(positions)
    .load(conn)
    .await
}

/// One peer's (or the others') delivery state.
#[derive(Debug, PartialEq)]
struct Peer {
    name: String,
    backlog: i64,
    failures: i64,
    parked: i64,
}

/// The inboxes' queues added up per peer instance; the [`TOP_PEERS`] largest backlogs by
/// name, then `other` (always shown, 0 when there are no others).
fn by_peer(queues: Vec<PeerQueue>) -> Vec<Peer> {
    let mut peers: HashMap<String, Peer> = HashMap::new();
    for queue in queues {
        let name = url::Url::parse(&queue.inbox)
            .ok()
            .and_then(|url| kg_federation::origin::instance(&url))
            .unwrap_or_else(|| queue.inbox.clone());
        let peer = peers.entry(name.clone()).or_insert(Peer {
            name,
            backlog: 0,
            failures: 0,
            parked: 0,
        });
        peer.backlog += queue.backlog;
        peer.failures += i64::from(queue.failures);
        peer.parked += queue.parked;
    }
    let mut peers: Vec<Peer> = peers.into_values().collect();
    peers.sort_by(|a, b| b.backlog.cmp(&a.backlog).then_with(|| a.name.cmp(&b.name)));
    let mut other = Peer {
        name: "other".to_owned(),
        backlog: 0,
        failures: 0,
        parked: 0,
    };
    for rest in peers.drain(TOP_PEERS.min(peers.len())..) {
        other.backlog += rest.backlog;
        other.failures += rest.failures;
        other.parked += rest.parked;
    }
    peers.push(other);
    peers
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn queue(inbox: &str, backlog: i64, failures: i32) -> PeerQueue {
        PeerQueue {
            inbox: inbox.to_owned(),
            backlog,
            delivered_through: 0,
            failures,
            refusals: 0,
            parked: 1,
            last_error: None,
            next_attempt_at: Utc::now(),
            last_success_at: None,
            followers: 1,
        }
    }

    #[test]
    fn peers_are_added_up_by_instance_and_bounded_with_an_other_bucket() {
        let mut queues = vec![
            queue("https://big.example/inbox", 100, 2),
            queue("https://big.example/users/alice/inbox", 50, 1),
            queue("http://localhost:8081/inbox", 70, 0),
        ];
        for n in 0..12 {
            queues.push(queue(&format!("https://small{n:02}.example/inbox"), n, 0));
        }
        let peers = by_peer(queues);
        assert_eq!(peers.len(), TOP_PEERS + 1);
        assert_eq!(
            peers[0],
            Peer {
                name: "big.example".to_owned(),
                backlog: 150,
                failures: 3,
                parked: 2,
            }
        );
        assert_eq!(peers[1].name, "localhost:8081");
        assert_eq!(peers[2].name, "small11.example");
        // The four smallest of the twelve (backlogs 0 to 3) are the others.
        assert_eq!(
            peers.last().unwrap(),
            &Peer {
                name: "other".to_owned(),
                backlog: 6,
                failures: 0,
                parked: 4,
            }
        );
        assert_eq!(by_peer(Vec::new()).len(), 1, "other is always shown");
    }
}
