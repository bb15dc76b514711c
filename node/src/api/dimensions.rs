//! `GET /api/v1/convergences/{slug}/dimensions`: dimension counters.

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ErrorBody, Result};
use crate::service::dimensions::{self as service, DimensionCount};

use super::consistency::ReadDb;
use super::pagination::{Page, decode_cursor, page_limit, paginate};

/// One dimension's usage in a convergence.
#[derive(Debug, Serialize, ToSchema)]
pub struct DimensionCountResponse {
    /// The dimension name.
    pub dimension: String,
    /// How many live artifacts carry it.
    pub artifact_count: i64,
    /// The sum of their weights.
    pub weight_sum: f64,
    /// `weight_sum / artifact_count`.
    pub mean_weight: f64,
}

impl From<DimensionCount> for DimensionCountResponse {
    fn from(count: DimensionCount) -> Self {
        Self {
            mean_weight: count.weight_sum / count.artifact_count.max(1) as f64,
            dimension: count.dimension,
            artifact_count: count.artifact_count,
            weight_sum: count.weight_sum,
        }
    }
}

/// Query of the dimensions endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListDimensionsQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists a convergence's dimension counters, most used first. They are updated in the same
/// transaction as the artifacts, so they are always exact.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/dimensions", tag = "convergences",
    params(("slug" = String, Path, description = "Convergence slug"), ListDimensionsQuery),
    responses((status = 200, body = Page<DimensionCountResponse>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_dimensions(
    db: ReadDb,
    caller: Caller,
    slug: web::Path<String>,
    query: web::Query<ListDimensionsQuery>,
) -> Result<web::Json<Page<DimensionCountResponse>>> {
    let limit = page_limit(query.limit)?;
    let after: Option<(i64, String)> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = db.conn().await?;
    let rows = service::list(&mut conn, &caller, &slug, after, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| (row.artifact_count, row.dimension.clone()),
        DimensionCountResponse::from,
    )))
}
