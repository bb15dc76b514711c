//! Backfill: a new follower of a convergence is sent what the convergence already held — its
//! live artifacts in id order, then its relationships — as `Announce`s of `Create`s through the
//! delivery queue, a chunk per step, so that even a large convergence never holds up the inbox
//! request that accepted the follow. Changes made meanwhile reach the follower live; a copy only
//! moves to higher versions, so the two never conflict.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_federation::activities::{ContentObject, ContentType};
use url::Url;
use uuid::Uuid;

use crate::db::load_dimensions;
use crate::db::schema::{artifact_relationships, artifacts, federation_backfills};
use crate::db::{DbArtifact, DbConvergence, DbRelationship, Snapshot, Tags};

use super::actors::federated_convergence;
use super::error::FederationError;
use super::objects::{article, relationship_document};
use super::queue::{NewActivity, Target, announcement, enqueue_all};
use crate::urls::LocalUrls;

/// Objects queued per step.
const CHUNK: i64 = 200;

/// Schedules the backfill of `convergence` for the follower behind `inbox` (in the caller's
/// transaction).
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    convergence: Uuid,
    inbox: &str,
) -> QueryResult<()> {
    diesel::insert_into(federation_backfills::table)
        .values((
            federation_backfills::convergence_id.eq(convergence),
            federation_backfills::inbox.eq(inbox),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

type Backfill = (Uuid, String, Option<Uuid>, Option<Uuid>, bool);

/// Queues the next chunk of the oldest pending backfill; the number of objects queued (0 when
/// nothing is pending).
pub async fn step(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
) -> Result<usize, FederationError> {
    conn.transaction(async |conn| {
        let pending: Option<Backfill> = federation_backfills::table
            .select((
                federation_backfills::convergence_id,
                federation_backfills::inbox,
                federation_backfills::after_artifact,
                federation_backfills::after_relationship,
                federation_backfills::artifacts_done,
            ))
            .order(federation_backfills::created_at)
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()?;
        let Some((convergence_id, inbox, after_artifact, after_relationship, artifacts_done)) =
            pending
        else {
            return Ok(0);
        };
        let key = federation_backfills::table.find((convergence_id, inbox.clone()));
        let convergence = federated_convergence_by_id(conn, convergence_id).await?;
        let (Some(convergence), Ok(inbox_url)) = (convergence, Url::parse(&inbox)) else {
            diesel::delete(key).execute(conn).await?;
            return Ok(0);
        };
        let target = Target::Inbox(&inbox_url);
        if !artifacts_done {
            let rows: Vec<DbArtifact> = artifacts::table
                .filter(artifacts::convergence_id.eq(convergence_id))
                .filter(artifacts::deleted_at.is_null())
                .filter(artifacts::id.gt(after_artifact.unwrap_or(Uuid::nil())))
                .order(artifacts::id)
                .limit(CHUNK)
                .select(DbArtifact::as_select())
                .load(conn)
                .await?;
            let mut tags =
                load_dimensions(conn, &rows.iter().map(|row| row.id).collect::<Vec<_>>()).await?;
            let mut activities = Vec::with_capacity(rows.len());
            for row in &rows {
                let tags = tags.remove(&row.id).unwrap_or_default();
                let object =
                    ContentObject::Artifact(Box::new(article(urls, row, &convergence, tags)));
                activities.push(create(urls, &convergence, object, target)?);
            }
            enqueue_all(conn, activities).await?;
            diesel::update(key)
                .set((
                    federation_backfills::after_artifact.eq(rows.last().map(|row| row.id)),
                    federation_backfills::artifacts_done.eq(rows.len() < CHUNK as usize),
                ))
                .execute(conn)
                .await?;
            return Ok(rows.len());
        }
        let rows: Vec<DbRelationship> = artifact_relationships::table
            .inner_join(artifacts::table.on(artifacts::id.eq(artifact_relationships::source_id)))
            .filter(artifacts::convergence_id.eq(convergence_id))
            .filter(artifact_relationships::origin_url.is_null())
            .filter(artifact_relationships::id.gt(after_relationship.unwrap_or(Uuid::nil())))
            .order(artifact_relationships::id)
            .limit(CHUNK)
            .select(DbRelationship::as_select())
            .load(conn)
            .await?;
        let ids: Vec<Uuid> = rows
            .iter()
            .flat_map(|row| [row.source_id, row.target_id])
            .collect();
        let ends = Snapshot::of_artifacts(conn, &ids, Tags::Skip).await?;
        let mut activities = Vec::with_capacity(rows.len());
        for row in &rows {
            let ends = [
                ends.artifact_with_convergence(row.source_id),
                ends.artifact_with_convergence(row.target_id),
            ];
            let Some(object) = relationship_document(urls, row, &convergence, ends)? else {
                continue;
            };
            let object = ContentObject::Relationship(Box::new(object));
            activities.push(create(urls, &convergence, object, target)?);
        }
        enqueue_all(conn, activities).await?;
        if rows.len() < CHUNK as usize {
            diesel::delete(key).execute(conn).await?;
        } else {
            diesel::update(key)
                .set(federation_backfills::after_relationship.eq(rows.last().map(|row| row.id)))
                .execute(conn)
                .await?;
        }
        Ok(rows.len())
    })
    .await
}

/// The `Create` of one existing object for the backfilled inbox.
fn create(
    urls: &LocalUrls,
    convergence: &DbConvergence,
    object: ContentObject,
    target: Target<'_>,
) -> Result<NewActivity, FederationError> {
    announcement(urls, convergence, ContentType::Create, object, target)
}

async fn federated_convergence_by_id(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<DbConvergence>, FederationError> {
    let slug: Option<String> = crate::db::schema::convergences::table
        .find(id)
        .select(crate::db::schema::convergences::slug)
        .first(conn)
        .await
        .optional()?;
    match slug {
        Some(slug) => federated_convergence(conn, &slug).await,
        None => Ok(None),
    }
}
