//! Reads of current rows shared by the services and the projections (search, federation), so
//! that neither reaches into the other.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::models::DbDimension;
use super::schema::artifact_dimensions;

/// Loads the tags of the given artifacts, by artifact id, each list ordered by name.
pub async fn load_dimensions(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, Vec<(String, f64)>>> {
    let rows: Vec<DbDimension> = artifact_dimensions::table
        .filter(artifact_dimensions::artifact_id.eq_any(ids))
        .order((
            artifact_dimensions::artifact_id,
            artifact_dimensions::dimension,
        ))
        .select(DbDimension::as_select())
        .load(conn)
        .await?;
    let mut by_artifact: HashMap<Uuid, Vec<(String, f64)>> = HashMap::new();
    for row in rows {
        by_artifact
            .entry(row.artifact_id)
            .or_default()
            .push((row.dimension, row.weight));
    }
    Ok(by_artifact)
}
