//! `/healthz` and `/readyz`.

use actix_web::{HttpResponse, web};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use kg_graph::GraphStore;

use crate::db::{DbPool, applied_versions};
use crate::error::{Error, ErrorBody, Result};
use crate::indexing::SearchReadiness;

use super::state::NodeInfo;

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` when healthy or ready.
    pub status: &'static str,
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
    web::Json(HealthResponse { status: "ok" })
}

/// The database is reachable, its schema is current, the graph is loaded and the search index
/// built.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthResponse),
        (status = 503, description = "Migrations pending, graph loading or search index building", body = NotReadyResponse),
        (status = 503, description = "Database unreachable", body = ErrorBody)))]
pub async fn readyz(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    graph: web::Data<GraphStore>,
    search: web::Data<SearchReadiness>,
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
    if pending.is_empty() && graph_loaded && search_built {
        Ok(HttpResponse::Ok().json(HealthResponse { status: "ok" }))
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
        }))
    }
}
