//! Reads of current rows shared by the services and the projections (search, federation), so
//! that neither reaches into the other.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::models::{DbContribution, DbDimension};
use super::schema::{artifact_dimensions, artifact_relationships, artifacts, contributions};

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

/// A contribution with what its extraction produced.
#[derive(Debug, Clone)]
pub struct ContributionRecord {
    /// The row.
    pub row: DbContribution,
    /// Artifacts extracted from it, in creation order.
    pub artifacts: Vec<Uuid>,
    /// Relationships extracted from it, in creation order.
    pub relationships: Vec<Uuid>,
}

/// Loads the contributions `ids` with their products, in three queries, by id.
pub async fn load_contributions(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, ContributionRecord>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<DbContribution> = contributions::table
        .filter(contributions::id.eq_any(ids))
        .select(DbContribution::as_select())
        .load(conn)
        .await?;
    let artifacts: Vec<(Option<Uuid>, Uuid)> = artifacts::table
        .filter(artifacts::contribution_id.eq_any(ids))
        .order(artifacts::id)
        .select((artifacts::contribution_id, artifacts::id))
        .load(conn)
        .await?;
    let relationships: Vec<(Option<Uuid>, Uuid)> = artifact_relationships::table
        .filter(artifact_relationships::contribution_id.eq_any(ids))
        .order(artifact_relationships::id)
        .select((
            artifact_relationships::contribution_id,
            artifact_relationships::id,
        ))
        .load(conn)
        .await?;
    let mut records: HashMap<Uuid, ContributionRecord> = rows
        .into_iter()
        .map(|row| {
            let record = ContributionRecord {
                row,
                artifacts: Vec::new(),
                relationships: Vec::new(),
            };
            (record.row.id, record)
        })
        .collect();
    for (contribution, id) in artifacts {
        if let Some(record) = contribution.and_then(|c| records.get_mut(&c)) {
            record.artifacts.push(id);
        }
    }
    for (contribution, id) in relationships {
        if let Some(record) = contribution.and_then(|c| records.get_mut(&c)) {
            record.relationships.push(id);
        }
    }
    Ok(records)
}
