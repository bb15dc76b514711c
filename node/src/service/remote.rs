//! Writes that arrive from other nodes: local, read-only copies of remote convergences,
//! artifacts and relationships, keyed by their origin URL.
//!
//! The origin is the authority: a copy only moves to a higher version, a deleted object is
//! remembered (`remote_tombstones`) and never comes back, and every write goes through the change
//! log like a local one, so search and graph show remote objects too. Each function runs inside
//! the caller's transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{artifact_relationships, artifacts, convergences, remote_tombstones};
use crate::db::{ChangeOperation, DbArtifact, DbConvergence, DbRelationship, Outbox};
use crate::domain::{ArtifactKind, Author, Body, Dimensions, EdgeWeight, RelationshipKind, Title};
use crate::error::Result;

use super::artifacts::{
    artifact_change, dimension_rows, insert_dimensions, replace_dimensions, soft_delete,
};
use super::convergences::convergence_change;
use super::relationships::relationship_change;

/// A remote convergence as this node mirrors it.
#[derive(Debug, Clone)]
pub struct RemoteConvergence {
    /// The `Group` actor's URL.
    pub origin_url: String,
    /// Local name, `slug@host[:port]`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A remote artifact's state, validated.
#[derive(Debug, Clone)]
pub struct RemoteArtifact {
    /// Its URL on the origin.
    pub origin_url: String,
    /// The local mirror of its convergence.
    pub convergence_id: Uuid,
    /// Kind.
    pub kind: ArtifactKind,
    /// Title.
    pub title: Title,
    /// Body.
    pub body: Body,
    /// Author's name.
    pub author: Option<Author>,
    /// Dimension tags.
    pub dimensions: Dimensions,
    /// Version on the origin.
    pub version: i32,
    /// Creation time on the origin.
    pub published: DateTime<Utc>,
}

/// A remote relationship whose endpoints are resolved to local rows.
#[derive(Debug, Clone)]
pub struct RemoteRelationship {
    /// Its URL on the origin.
    pub origin_url: String,
    /// Local id of the source artifact.
    pub source: Uuid,
    /// Local id of the target artifact.
    pub target: Uuid,
    /// Kind.
    pub kind: RelationshipKind,
    /// Weight.
    pub weight: EdgeWeight,
}

/// What applying a remote write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The local copy changed.
    Stored,
    /// Nothing to do: the copy is as new or newer, or the object was deleted.
    Ignored(&'static str),
}

/// Creates or refreshes the local mirror of a remote convergence (public, read-only).
pub async fn mirror_convergence(
    conn: &mut AsyncPgConnection,
    remote: &RemoteConvergence,
) -> Result<DbConvergence> {
    let now = crate::db::now();
    let row = DbConvergence {
        id: Uuid::now_v7(),
        slug: remote.slug.clone(),
        name: remote.name.clone(),
        description: remote.description.clone(),
        visibility: "public".to_owned(),
        created_at: now,
        updated_at: now,
        origin_url: Some(remote.origin_url.clone()),
    };
    conn.transaction(async |conn| {
        let existing = find_convergence(conn, &remote.origin_url).await?;
        let stored = diesel::insert_into(convergences::table)
            .values(&row)
            .on_conflict(convergences::origin_url)
            .do_update()
            .set((
                convergences::name.eq(&row.name),
                convergences::description.eq(&row.description),
            ))
            .returning(DbConvergence::as_returning())
            .get_result(conn)
            .await?;
        let mut outbox = Outbox::default();
        outbox.push(convergence_change(&stored, existing.is_none())?);
        outbox.flush(conn).await?;
        Ok(stored)
    })
    .await
}

/// The local mirror of the convergence whose `Group` is at `origin_url`.
pub async fn find_convergence(
    conn: &mut AsyncPgConnection,
    origin_url: &str,
) -> Result<Option<DbConvergence>> {
    Ok(convergences::table
        .filter(convergences::origin_url.eq(origin_url))
        .select(DbConvergence::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The local copy (live or deleted) of the artifact at `origin_url`, locked for update.
pub async fn find_artifact(
    conn: &mut AsyncPgConnection,
    origin_url: &str,
) -> Result<Option<DbArtifact>> {
    Ok(artifacts::table
        .filter(artifacts::origin_url.eq(origin_url))
        .select(DbArtifact::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

async fn is_tombstoned(conn: &mut AsyncPgConnection, origin_url: &str) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        remote_tombstones::table.filter(remote_tombstones::object_url.eq(origin_url)),
    ))
    .get_result(conn)
    .await?)
}

async fn remember_deleted(conn: &mut AsyncPgConnection, origin_url: &str) -> Result<()> {
    diesel::insert_into(remote_tombstones::table)
        .values(remote_tombstones::object_url.eq(origin_url))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a remote artifact, or moves the copy to a newer version.
///
/// Two receipts of one object may run at once (an activity about it, and a fetch of it as the
/// end of a relationship): the insert gives way to a copy stored meanwhile, which is then
/// version-gated like any stored copy, instead of failing on the unique origin URL.
pub(crate) async fn upsert_artifact(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    remote: RemoteArtifact,
) -> Result<Applied> {
    if is_tombstoned(conn, &remote.origin_url).await? {
        return Ok(Applied::Ignored("the artifact was deleted"));
    }
    let now = crate::db::now();
    let current = match find_artifact(conn, &remote.origin_url).await? {
        Some(current) => current,
        None => {
            if insert_copy(conn, outbox, &remote, now).await? {
                return Ok(Applied::Stored);
            }
            find_artifact(conn, &remote.origin_url)
                .await?
                .ok_or(diesel::result::Error::NotFound)?
        }
    };
    if current.deleted_at.is_some() {
        return Ok(Applied::Ignored("the artifact was deleted"));
    }
    if current.version >= remote.version {
        return Ok(Applied::Ignored("the stored copy is as new or newer"));
    }
    replace_dimensions(
        conn,
        outbox,
        current.convergence_id,
        current.id,
        &remote.dimensions,
    )
    .await?;
    let updated: DbArtifact = diesel::update(artifacts::table.find(current.id))
        .set((
            artifacts::kind.eq(remote.kind.as_str()),
            artifacts::title.eq(remote.title.into_inner()),
            artifacts::body.eq(remote.body.into_inner()),
            artifacts::author.eq(remote.author.map(Author::into_inner)),
            artifacts::version.eq(remote.version),
            artifacts::updated_at.eq(now),
        ))
        .returning(DbArtifact::as_returning())
        .get_result(conn)
        .await?;
    outbox.push(artifact_change(&updated, ChangeOperation::Update)?);
    Ok(Applied::Stored)
}

/// Inserts the first local copy of `remote`; false when a copy with its origin URL was stored
/// meanwhile (nothing is written then).
async fn insert_copy(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    remote: &RemoteArtifact,
    now: DateTime<Utc>,
) -> Result<bool> {
    let row = DbArtifact {
        id: Uuid::now_v7(),
        convergence_id: remote.convergence_id,
        kind: remote.kind.as_str().to_owned(),
        title: remote.title.as_str().to_owned(),
        body: remote.body.as_str().to_owned(),
        author: remote.author.as_ref().map(|a| a.as_str().to_owned()),
        version: remote.version,
        created_at: remote.published,
        updated_at: now,
        deleted_at: None,
        origin_url: Some(remote.origin_url.clone()),
        contribution_id: None,
        created_by: None,
    };
    let inserted = diesel::insert_into(artifacts::table)
        .values(&row)
        .on_conflict(artifacts::origin_url)
        .do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let tags = dimension_rows(row.id, &remote.dimensions);
    insert_dimensions(conn, &tags).await?;
    outbox.count_dimensions(
        row.convergence_id,
        tags.iter().map(|t| (t.dimension.as_str(), t.weight)),
        1,
    );
    outbox.push(artifact_change(&row, ChangeOperation::Insert)?);
    Ok(true)
}

/// Deletes the copy of the remote artifact or relationship at `origin_url` and remembers that
/// it is gone (also when no copy exists yet, so that a late Create stays without effect).
pub(crate) async fn delete_object(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    origin_url: &str,
) -> Result<Applied> {
    remember_deleted(conn, origin_url).await?;
    if let Some(artifact) = find_artifact(conn, origin_url).await? {
        if artifact.deleted_at.is_some() {
            return Ok(Applied::Ignored("the artifact was already deleted"));
        }
        soft_delete(conn, outbox, &artifact, artifact.version + 1).await?;
        return Ok(Applied::Stored);
    }
    let deleted: Option<DbRelationship> = diesel::delete(
        artifact_relationships::table.filter(artifact_relationships::origin_url.eq(origin_url)),
    )
    .returning(DbRelationship::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    let Some(relationship) = deleted else {
        return Ok(Applied::Ignored("no copy of the object was stored"));
    };
    let convergence_id = source_convergence(conn, relationship.source_id).await?;
    outbox.push(relationship_change(
        &relationship,
        convergence_id,
        ChangeOperation::Delete,
    )?);
    Ok(Applied::Stored)
}

async fn source_convergence(conn: &mut AsyncPgConnection, source: Uuid) -> Result<Uuid> {
    Ok(artifacts::table
        .find(source)
        .select(artifacts::convergence_id)
        .first(conn)
        .await?)
}

/// Stores a remote relationship between two stored artifacts (a no-op when it is known, was
/// deleted, or one of its ends is deleted).
pub(crate) async fn insert_relationship(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    remote: RemoteRelationship,
) -> Result<Applied> {
    if is_tombstoned(conn, &remote.origin_url).await? {
        return Ok(Applied::Ignored("the relationship was deleted"));
    }
    let live: i64 = artifacts::table
        .filter(artifacts::id.eq_any([remote.source, remote.target]))
        .filter(artifacts::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    if live < 2 {
        return Ok(Applied::Ignored("an end of the relationship was deleted"));
    }
    let inserted: Option<DbRelationship> = diesel::insert_into(artifact_relationships::table)
        .values((
            artifact_relationships::id.eq(Uuid::now_v7()),
            artifact_relationships::source_id.eq(remote.source),
            artifact_relationships::target_id.eq(remote.target),
            artifact_relationships::kind.eq(remote.kind.as_str()),
            artifact_relationships::weight.eq(remote.weight.get()),
            artifact_relationships::origin_url.eq(&remote.origin_url),
        ))
        .on_conflict_do_nothing()
        .returning(DbRelationship::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    let Some(relationship) = inserted else {
        return Ok(Applied::Ignored("the relationship is already stored"));
    };
    let convergence_id = source_convergence(conn, relationship.source_id).await?;
    outbox.push(relationship_change(
        &relationship,
        convergence_id,
        ChangeOperation::Insert,
    )?);
    Ok(Applied::Stored)
}
