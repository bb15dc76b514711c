//! Reads what the index needs from PostgreSQL: artifacts as search documents.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_search::{SearchDocument, Visibility};
use uuid::Uuid;

use crate::db::load_dimensions;
use crate::db::schema::{artifacts, convergences};
use crate::db::{DbArtifact, DbConvergence, Snapshot, Tags};

fn to_document(
    artifact: DbArtifact,
    convergence: &DbConvergence,
    dimensions: Vec<(String, f64)>,
) -> SearchDocument {
    SearchDocument {
        id: artifact.id,
        convergence: convergence.id,
        convergence_slug: convergence.slug.clone(),
        visibility: if convergence.visibility == "public" {
            Visibility::Public
        } else {
            Visibility::Private
        },
        kind: artifact.kind,
        title: artifact.title,
        body: artifact.body,
        dimensions,
        version: i64::from(artifact.version),
        created_at: artifact.created_at,
        updated_at: artifact.updated_at,
    }
}

async fn documents(
    conn: &mut AsyncPgConnection,
    rows: Vec<(DbArtifact, DbConvergence)>,
) -> QueryResult<Vec<SearchDocument>> {
    let ids: Vec<Uuid> = rows.iter().map(|(a, _)| a.id).collect();
    let mut tags = load_dimensions(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|(artifact, convergence)| {
            let dimensions = tags.remove(&artifact.id).unwrap_or_default();
            to_document(artifact, &convergence, dimensions)
        })
        .collect())
}

/// The live artifacts among `ids`, as documents, by id (read with the projections' snapshot
/// loader). Deleted or unknown ids are absent.
pub(super) async fn live_documents(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, SearchDocument>> {
    let snapshot = Snapshot::of_artifacts(conn, ids, Tags::Load).await?;
    Ok(snapshot
        .live_artifacts()
        .map(|(artifact, convergence)| {
            let dimensions = snapshot.dimensions(artifact.id);
            (
                artifact.id,
                to_document(artifact.clone(), convergence, dimensions),
            )
        })
        .collect())
}

/// One page of live artifacts in id order, after `after`.
pub(super) async fn page_of_documents(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<SearchDocument>> {
    let mut query = artifacts::table
        .inner_join(convergences::table)
        .filter(artifacts::deleted_at.is_null())
        .select((DbArtifact::as_select(), DbConvergence::as_select()))
        .order(artifacts::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(artifacts::id.gt(after));
    }
    let rows = query.load(conn).await?;
    documents(conn, rows).await
}

/// Ids of every artifact (live or deleted) of the given convergences.
pub(super) async fn artifacts_of(
    conn: &mut AsyncPgConnection,
    convergence_ids: &[Uuid],
) -> QueryResult<Vec<Uuid>> {
    artifacts::table
        .filter(artifacts::convergence_id.eq_any(convergence_ids))
        .select(artifacts::id)
        .load(conn)
        .await
}

/// `(id, version)` of every live artifact, for verification.
pub(super) async fn live_versions(conn: &mut AsyncPgConnection) -> QueryResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i32)> = artifacts::table
        .filter(artifacts::deleted_at.is_null())
        .select((artifacts::id, artifacts::version))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, version)| (id, i64::from(version)))
        .collect())
}
