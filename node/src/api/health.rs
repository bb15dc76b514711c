//! `/healthz` and `/readyz`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use kg_graph::GraphStore;

use crate::cluster::{OwnershipState, Singletons};
use crate::db::{DbPool, ReadRouter, ReplicaStatus, applied_versions};
use crate::error::{Error, ErrorBody, Result};
use crate::indexing::SearchReadiness;

use super::state::NodeInfo;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` when healthy or ready.
    pub status: &'static str,
    /// The read replicas (`database.replica_urls`), when there are any: a replica that is
    /// skipped does not make the node unready, since the primary serves its reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaResponse>,
    /// Work that one process of those sharing the database runs at a time, and whether this
    /// one does: `owner`, `standby` (another process does), `pending` (not tried yet; not
    /// ready).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub singletons: BTreeMap<&'static str, &'static str>,
}

/// A read replica as this process sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaResponse {
    /// Host, port and database.
    pub name: String,
    /// `healthy` (reads go to it), or why it is skipped: `starting` (not probed yet), `lagging`
    /// (more than `database.replica_max_lag_secs` behind), `down`, `not_standby`.
    pub state: &'static str,
    /// How far behind the primary it is, in milliseconds, when known.
    pub lag_ms: Option<u64>,
    /// How far it has replayed the primary's WAL, when known.
    pub replay_lsn: Option<String>,
    /// Reads this process has sent it.
    pub reads: u64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<ReplicaStatus> for ReplicaResponse {
    fn from(status: ReplicaStatus) -> Self {
        Self {
            name: status.name,
            state: status.state.as_str(),
            lag_ms: status
                .lag
                .map(|lag| u64::try_from(lag.as_millis()).unwrap_or(u64::MAX)),
            replay_lsn: status.replayed.map(|lsn| lsn.to_string()),
            reads: status.reads,
            error: status.error,
        }
    }
}

/// Readiness when not ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReadyResponse {
    /// `not_ready`.
    pub status: &'static str,
    /// Migrations this binary has that the database lacks.
    pub pending_migrations: Vec<String>,
    /// Whether the in-memory graph has finished loading.
    pub graph_loaded: bool,
    /// Whether the search index has been filled from PostgreSQL.
    pub search_built: bool,
    /// While it is being filled: how many documents are written, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_progress: Option<SearchProgress>,
    /// The read replicas, as in [`HealthResponse`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaResponse>,
    /// The singletons, as in [`HealthResponse`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub singletons: BTreeMap<&'static str, &'static str>,
}

/// How far the search index's build has come.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchProgress {
    /// Documents written to the new index.
    pub written: u64,
    /// Live artifacts it will hold.
    pub total: u64,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = HealthResponse)))]
pub async fn healthz() -> web::Json<HealthResponse> {
    web::Json(HealthResponse {
        status: "ok",
        replicas: Vec::new(),
        singletons: BTreeMap::new(),
    })
}

/// The database is reachable, its schema is current, the graph is loaded and the search index
/// built, and this process knows which singletons it runs. The detail lists the read replicas
/// (and whether each is used) and the singletons (and whether this process runs them).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthResponse),
        (status = 503, description = "Migrations pending, graph loading or search index building", body = NotReadyResponse),
        (status = 503, description = "Database unreachable", body = ErrorBody)))]
pub async fn readyz(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    graph: web::Data<GraphStore>,
    search: web::Data<SearchReadiness>,
    router: web::Data<ReadRouter>,
    singletons: web::Data<Singletons>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .map_err(|e| Error::DatabaseUnavailable(e.to_string()))?;
    let applied = applied_versions(&mut conn)
        .await
        .map_err(|e| Error::DatabaseUnavailable(e.to_string()))?;
    let pending: Vec<String> = node
        .expected_migrations
        .iter()
        .filter(|version| !applied.contains(version))
        .cloned()
        .collect();
    let graph_loaded = graph.applied_seq().is_some();
    let search_built = search.is_built();
    let replicas = router.statuses().into_iter().map(Into::into).collect();
    let roles_known = singletons
        .states()
        .all(|(_, state)| state != OwnershipState::Pending);
    let singletons = singletons
        .states()
        .map(|(name, state)| (name, state.as_str()))
        .collect();
    if pending.is_empty() && graph_loaded && search_built && roles_known {
        Ok(HttpResponse::Ok().json(HealthResponse {
            status: "ok",
            replicas,
            singletons,
        }))
    } else {
        Ok(HttpResponse::ServiceUnavailable().json(NotReadyResponse {
            status: "not_ready",
            pending_migrations: pending,
            graph_loaded,
            search_built,
            search_progress: (!search_built).then(|| {
                let (written, total) = search.progress();
                SearchProgress { written, total }
            }),
            replicas,
            singletons,
        }))
    }
}
