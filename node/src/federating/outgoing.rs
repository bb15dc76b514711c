//! The outgoing projection: tails the change log and queues, for every change of an artifact or
//! relationship in a local public convergence that has followers, the `Announce` of its
//! `Create`, `Update` or `Delete`. The activities and the follower's new position are written
//! in one transaction, so a crash never loses or doubles one.
//!
//! A followed convergence whose own row changed (its name or description) sends its followers
//! an `Update` of its `Group` document.
//!
//! Objects are described as they are when the change is processed; a newer state only raises
//! the version the peers receive (they keep the newest), and an object deleted meanwhile is
//! announced by its `Delete` alone.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_federation::activities::{ContentObject, ContentType, UpdateActor, UpdateType};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::cluster::{Ownership, spawn_singleton};
use crate::config::Settings;
use crate::db::schema::{change_log, convergences, federation_cursor, federation_followers};
use crate::db::{ChangeEvent, ChangeFeed, ChangeRecord, DbConvergence, Snapshot};
use crate::workers::{Stopped, Worker, WorkerJob};

use super::FederationContext;
use super::actors::group_actor;
use super::error::FederationError;
use super::objects::{article, both_ends_public, public, relationship_document};
use super::queue::{Target, announcement, enqueue, enqueue_all};
use crate::urls::LocalUrls;

/// Changes read per transaction.
const BATCH: i64 = 500;

/// Changes that may pass without queuing anything before the position is saved anyway. Not
/// saving it for them spares a commit per change on a node that mostly receives (its copies of
/// remote objects are changes too). After a restart they are read again: they queue nothing, or
/// (if their convergence gained followers meanwhile) what receivers already hold at that version.
const MAX_UNSAVED_CHANGES: i64 = 10_000;

/// Key of the advisory lock whose holder runs this projection ([`crate::cluster`]): with one
/// cursor over the change log, two processes following it would queue every activity twice.
const OWNER_LOCK: i64 = 0x6b67_6e6f_6465_0002;

/// Starts the outgoing projection's thread; it runs while this process owns it.
pub fn start_outgoing(settings: &Settings) -> std::io::Result<(Worker, Ownership)> {
    spawn_singleton(
        "kg-federation-out",
        OWNER_LOCK,
        settings,
        OutgoingJob {
            settings: settings.clone(),
        },
    )
}

struct OutgoingJob {
    settings: Settings,
}

impl WorkerJob for OutgoingJob {
    type Error = FederationError;

    async fn run(&mut self, mut stopped: Stopped) -> Result<(), Self::Error> {
        let context = FederationContext::connect(&self.settings)?;
        let url = self.settings.database.url.expose_secret().to_owned();
        let mut conn = context.pool.get().await?;
        'resume: loop {
            let mut saved = start_position(&mut conn).await?;
            let mut feed = ChangeFeed::open(&url, saved, BATCH)
                .await
                .map_err(|error| FederationError::Invalid(error.to_string()))?;
            while let Some(changes) = stopped.next_changes(&mut feed).await? {
                let Some(last) = changes.last().map(|change| change.seq) else {
                    continue;
                };
                let followed = followed(&mut conn, &changes).await?;
                if followed.is_empty() && last - saved < MAX_UNSAVED_CHANGES {
                    continue;
                }
                let urls = &context.urls;
                let moved = conn
                    .transaction(async |conn| {
                        // Another process may have owned the projection meanwhile (a handover):
                        // what it queued is not queued again.
                        let current: i64 = federation_cursor::table
                            .select(federation_cursor::last_seq)
                            .for_update()
                            .first(conn)
                            .await?;
                        if current != saved {
                            return Ok(true);
                        }
                        queue_changes(conn, urls, &changes, &followed).await?;
                        diesel::update(federation_cursor::table)
                            .set(federation_cursor::last_seq.eq(last))
                            .execute(conn)
                            .await?;
                        Ok::<_, FederationError>(false)
                    })
                    .await?;
                if moved {
                    tracing::warn!("another process moved the federation cursor; resuming from it");
                    continue 'resume;
                }
                saved = last;
            }
            return Ok(());
        }
    }

    fn finish(self) {}
}

/// Where to resume; the first start begins at the end of the log (history is not replayed).
async fn start_position(conn: &mut AsyncPgConnection) -> Result<i64, FederationError> {
    let end: Option<i64> = change_log::table
        .select(diesel::dsl::max(change_log::seq))
        .first(conn)
        .await?;
    diesel::insert_into(federation_cursor::table)
        .values(federation_cursor::last_seq.eq(end.unwrap_or_default()))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(federation_cursor::table
        .select(federation_cursor::last_seq)
        .first(conn)
        .await?)
}

/// Local public convergences with at least one follower, among those `changes` touch.
async fn followed(
    conn: &mut AsyncPgConnection,
    changes: &[ChangeRecord],
) -> Result<HashMap<Uuid, DbConvergence>, FederationError> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.event.convergence()).collect();
    let rows: Vec<DbConvergence> = convergences::table
        .filter(convergences::id.eq_any(&ids))
        .filter(convergences::origin_url.is_null())
        .filter(convergences::visibility.eq("public"))
        .filter(diesel::dsl::exists(federation_followers::table.filter(
            federation_followers::convergence_id.eq(convergences::id),
        )))
        .select(DbConvergence::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Queues the activities `changes` call for in the `followed` convergences, reading the rows
/// they name in one [`Snapshot`] and inserting the activities together: a constant number of
/// queries per batch (a changed convergence's `Update` of its `Group` aside).
async fn queue_changes(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    changes: &[ChangeRecord],
    followed: &HashMap<Uuid, DbConvergence>,
) -> Result<(), FederationError> {
    let relevant: Vec<ChangeRecord> = changes
        .iter()
        .filter(|change| followed.contains_key(&change.event.convergence()))
        .cloned()
        .collect();
    let snapshot = Snapshot::load(conn, &relevant).await?;
    let mut activities = Vec::new();
    for change in &relevant {
        let Some(convergence) = followed.get(&change.event.convergence()) else {
            continue;
        };
        if let ChangeEvent::ConvergenceChanged { created: false, .. } = change.event {
            update_group(conn, urls, convergence).await?;
            continue;
        }
        if let Some((kind, object)) = describe(urls, &snapshot, &change.event, convergence)? {
            let target = Target::Followers(convergence.id);
            activities.push(announcement(urls, convergence, kind, object, target)?);
        }
    }
    enqueue_all(conn, activities).await
}

/// The content activity a change calls for, if any, from the rows of `snapshot`. Objects are
/// described as they are now; one deleted meanwhile is announced by its `Delete` alone.
fn describe(
    urls: &LocalUrls,
    snapshot: &Snapshot,
    event: &ChangeEvent,
    convergence: &DbConvergence,
) -> Result<Option<(ContentType, ContentObject)>, FederationError> {
    let created = |created: bool| {
        if created {
            ContentType::Create
        } else {
            ContentType::Update
        }
    };
    match event {
        // A changed convergence sends the `Update` of its `Group` itself; a new one has no
        // followers yet. Contributions stay on the node: their artifacts federate.
        ChangeEvent::ConvergenceChanged { .. } | ChangeEvent::ContributionChanged { .. } => {
            Ok(None)
        }
        ChangeEvent::ArtifactDeleted { id, .. } => Ok(Some((
            ContentType::Delete,
            ContentObject::Id(urls.artifact(*id)),
        ))),
        ChangeEvent::ArtifactUpserted {
            id,
            created: is_new,
            ..
        } => {
            let Some(row) = snapshot
                .live_artifact(*id)
                .filter(|row| row.origin_url.is_none())
            else {
                return Ok(None);
            };
            let object = article(urls, row, convergence, snapshot.dimensions(*id));
            Ok(Some((
                created(*is_new),
                ContentObject::Artifact(Box::new(object)),
            )))
        }
        ChangeEvent::RelationshipDeleted { id, edge, .. } => {
            let ends = [
                snapshot.artifact_with_convergence(edge.source),
                snapshot.artifact_with_convergence(edge.target),
            ];
            Ok(both_ends_public(ends).then(|| {
                (
                    ContentType::Delete,
                    ContentObject::Id(urls.relationship(*id)),
                )
            }))
        }
        ChangeEvent::RelationshipUpserted {
            id,
            created: is_new,
            ..
        } => {
            let Some(row) = snapshot.local_relationship(*id) else {
                return Ok(None);
            };
            let ends = [
                snapshot.artifact_with_convergence(row.source_id),
                snapshot.artifact_with_convergence(row.target_id),
            ];
            let object = relationship_document(urls, row, convergence, ends)?;
            Ok(object.map(|object| {
                (
                    created(*is_new),
                    ContentObject::Relationship(Box::new(object)),
                )
            }))
        }
    }
}

/// Queues the convergence's `Update` of its own `Group` document for its followers.
async fn update_group(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    convergence: &DbConvergence,
) -> Result<(), FederationError> {
    let path = LocalUrls::group_path(&convergence.slug);
    let document = group_actor(conn, urls, convergence).await?.document;
    let update = UpdateActor {
        kind: UpdateType::Update,
        id: urls.new_activity(),
        actor: document.id.clone(),
        to: vec![public()],
        cc: document.followers.iter().cloned().collect(),
        object: document,
    };
    let target = Target::Followers(convergence.id);
    enqueue(conn, urls, &path, target, &update.id, &update).await
}
