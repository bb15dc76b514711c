//! Per-convergence dimension counters.
//!
//! Freshness: the counters are maintained by the same transaction as every artifact write
//! (see `db::Outbox`), so a read sees exactly the committed artifacts, never a stale view.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::auth::Caller;
use crate::db::schema::dimension_counters;
use crate::error::Result;

use super::convergences as convergence_service;

/// One dimension's counter.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct DimensionCount {
    /// The dimension name.
    pub dimension: String,
    /// How many live artifacts carry it.
    pub artifact_count: i64,
    /// The sum of their weights.
    pub weight_sum: f64,
}

/// Counters of a readable convergence, most used first (ties by name), after the cursor
/// `(artifact_count, dimension)`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<DimensionCount>> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    let mut query = dimension_counters::table
        .filter(dimension_counters::convergence_id.eq(convergence.id))
        .filter(dimension_counters::artifact_count.gt(0))
        .select((
            dimension_counters::dimension,
            dimension_counters::artifact_count,
            dimension_counters::weight_sum,
        ))
        .order((
            dimension_counters::artifact_count.desc(),
            dimension_counters::dimension.asc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some((count, name)) = after {
        query = query.filter(
            dimension_counters::artifact_count
                .lt(count)
                .or(dimension_counters::artifact_count
                    .eq(count)
                    .and(dimension_counters::dimension.gt(name))),
        );
    }
    Ok(query.load(conn).await?)
}
