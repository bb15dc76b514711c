//! Activities peers send to this node's inboxes.
//!
//! The ActivityPub layer has already checked the body's digest, that the activity's id and actor
//! share a host, and the actor's HTTP signature; here each activity is checked against what this
//! node knows (whom it follows, which convergences it federates) and applied. Every activity id
//! is remembered in the transaction that applies it, so replays and duplicates are no-ops.

use activitypub_federation::config::Data;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::protocol::verification::verify_domains_match;
use activitypub_federation::traits::{Activity, Actor, Object};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_federation::activities::{
    Accept, AcceptType, Announce, ContentActivity, ContentObject, ContentType, Follow, FollowRef,
    Reject, RejectType, Undo, UpdateActor,
};
use kg_federation::actors::ActorKind;
use kg_federation::context::relationship_kind;
use kg_federation::objects::RelationshipObject;
use serde::Deserialize;
use url::Url;
use uuid::Uuid;

use crate::db::schema::{
    federation_followers, federation_follows, received_activities, remote_actors,
};
use crate::db::{DbConvergence, Outbox};
use crate::domain::{EdgeWeight, RelationshipKind};
use crate::service::remote::{self, RemoteArtifact, RemoteRelationship};

use super::FederationContext;
use super::actors::{ActorRecord, federated_convergence, find_local_actor};
use super::backfill;
use super::error::FederationError;
use super::objects::{StoredArtifact, ensure_mirror, mirror_actor, remote_artifact};
use super::queue::{Target, enqueue, latest_activity, track_inbox};
use crate::urls::LocalUrls;

/// Everything an inbox accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InboxActivity {
    /// A peer follows one of our convergences.
    Follow(Follow),
    /// A convergence we follow accepted.
    Accept(Accept),
    /// A convergence we asked to follow refused.
    Reject(Reject),
    /// A peer stops following.
    Undo(Undo),
    /// A convergence we follow passes on a change.
    Announce(Box<Announce>),
    /// An actor's document changed (a convergence renamed, a key replaced).
    Update(Box<UpdateActor>),
}

#[async_trait]
impl Activity for InboxActivity {
    type DataType = FederationContext;
    type Error = FederationError;

    fn id(&self) -> &Url {
        match self {
            InboxActivity::Follow(follow) => &follow.id,
            InboxActivity::Accept(accept) => &accept.id,
            InboxActivity::Reject(reject) => &reject.id,
            InboxActivity::Undo(undo) => &undo.id,
            InboxActivity::Announce(announce) => &announce.id,
            InboxActivity::Update(update) => &update.id,
        }
    }

    fn actor(&self) -> &Url {
        match self {
            InboxActivity::Follow(follow) => &follow.actor,
            InboxActivity::Accept(accept) => &accept.actor,
            InboxActivity::Reject(reject) => &reject.actor,
            InboxActivity::Undo(undo) => &undo.actor,
            InboxActivity::Announce(announce) => &announce.actor,
            InboxActivity::Update(update) => &update.actor,
        }
    }

    async fn verify(&self, data: &Data<Self::DataType>) -> Result<(), Self::Error> {
        match self {
            // Whether it is accepted or refused (with a Reject) is decided on receipt.
            InboxActivity::Follow(follow) => {
                if kg_federation::origin::same_origin(&follow.object, data.urls.base()) {
                    Ok(())
                } else {
                    Err(FederationError::Rejected(format!(
                        "{} is not an actor of this node",
                        follow.object
                    )))
                }
            }
            InboxActivity::Accept(accept) => answers_our_follow(&accept.object, data),
            InboxActivity::Reject(reject) => answers_our_follow(&reject.object, data),
            // An Undo by id is matched against the follows its actor made (on receipt).
            InboxActivity::Undo(undo) => match &undo.object {
                FollowRef::Embedded(follow) if follow.actor != undo.actor => Err(
                    FederationError::Rejected("an actor may only undo its own Follow".to_owned()),
                ),
                FollowRef::Embedded(_) | FollowRef::Id(_) => Ok(()),
            },
            InboxActivity::Announce(announce) => verify_announce(announce, data).await,
            InboxActivity::Update(update) => {
                if update.object.id != update.actor {
                    return Err(FederationError::Rejected(format!(
                        "{} may only update itself, not {}",
                        update.actor, update.object.id
                    )));
                }
                ActorRecord::verify(&update.object, &update.actor, data).await
            }
        }
    }

    async fn receive(self, data: &Data<Self::DataType>) -> Result<(), Self::Error> {
        match self {
            InboxActivity::Follow(follow) => receive_follow(follow, data).await,
            InboxActivity::Accept(accept) => receive_accept(accept, data).await,
            InboxActivity::Reject(reject) => receive_reject(reject, data).await,
            InboxActivity::Undo(undo) => receive_undo(undo, data).await,
            InboxActivity::Announce(announce) => receive_announce(*announce, data).await,
            InboxActivity::Update(update) => receive_actor_update(*update, data).await,
        }
    }
}

/// Checks that an Accept or Reject answers a Follow this node's own actor sent.
fn answers_our_follow(
    follow: &FollowRef,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    if data.urls.local_group(follow.id()).is_some()
        || !kg_federation::origin::same_origin(follow.id(), data.urls.base())
    {
        return Err(FederationError::Rejected(
            "the answered Follow is not one of ours".to_owned(),
        ));
    }
    Ok(())
}

/// The local, public convergence whose `Group` is `group`, or a rejection.
async fn followed_convergence(
    group: &Url,
    data: &Data<FederationContext>,
) -> Result<DbConvergence, FederationError> {
    let slug = data.urls.local_group(group).ok_or_else(|| {
        FederationError::Rejected(format!("{group} is not a convergence of this node"))
    })?;
    let mut conn = data.pool.get().await?;
    federated_convergence(&mut conn, &slug)
        .await?
        .ok_or_else(|| FederationError::Rejected(format!("{group} is not a public convergence")))
}

/// Remembers activity ids; false when the last one was already applied (a replay).
async fn first_receipt(
    conn: &mut AsyncPgConnection,
    ids: &[&Url],
) -> Result<bool, FederationError> {
    let mut fresh = false;
    for id in ids {
        fresh = diesel::insert_into(received_activities::table)
            .values(received_activities::activity_url.eq(id.as_str()))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?
            == 1;
    }
    Ok(fresh)
}

async fn receive_follow(
    follow: Follow,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let convergence = match followed_convergence(&follow.object, data).await {
        Ok(convergence) => convergence,
        Err(refusal) => return reject_follow(follow, refusal, data).await,
    };
    let follower = ObjectId::<ActorRecord>::from(follow.actor.clone())
        .dereference(data)
        .await?;
    let group_path = LocalUrls::group_path(&convergence.slug);
    let accept = Accept {
        kind: AcceptType::Accept,
        id: data.urls.new_activity(),
        actor: follow.object.clone(),
        object: FollowRef::Embedded(follow.clone()),
    };
    let mut conn = data.pool.get().await?;
    conn.transaction(async |conn| {
        if !first_receipt(conn, &[&follow.id]).await? {
            return Ok(());
        }
        let since = latest_activity(conn).await?;
        let inbox = follower.shared_inbox_or_inbox();
        diesel::insert_into(federation_followers::table)
            .values((
                federation_followers::convergence_id.eq(convergence.id),
                federation_followers::actor_url.eq(follower.url().as_str()),
                federation_followers::inbox.eq(inbox.as_str()),
                federation_followers::since_activity.eq(since),
                federation_followers::follow_activity.eq(follow.id.as_str()),
            ))
            .on_conflict((
                federation_followers::convergence_id,
                federation_followers::actor_url,
            ))
            .do_update()
            .set((
                federation_followers::inbox.eq(inbox.as_str()),
                federation_followers::follow_activity.eq(follow.id.as_str()),
            ))
            .execute(conn)
            .await?;
        track_inbox(conn, inbox.as_str()).await?;
        backfill::schedule(conn, convergence.id, inbox.as_str()).await?;
        enqueue(
            conn,
            &data.urls,
            &group_path,
            Target::Inbox(&follower.inbox()),
            &accept.id,
            &accept,
        )
        .await?;
        tracing::info!(follower = %follower.url(), convergence = %convergence.slug, "accepted a follower");
        Ok::<_, FederationError>(())
    })
    .await
}

/// Answers a Follow of a local actor that cannot be followed (an author, the node itself) with
/// a `Reject` from that actor, so that the follower stops waiting. A Follow of anything else
/// (a private or unknown convergence) is refused outright with `refusal`.
async fn reject_follow(
    follow: Follow,
    refusal: FederationError,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let mut conn = data.pool.get().await?;
    if find_local_actor(&mut conn, &data.urls, &follow.object)
        .await?
        .is_none()
    {
        return Err(refusal);
    }
    let follower = ObjectId::<ActorRecord>::from(follow.actor.clone())
        .dereference(data)
        .await?;
    let reject = Reject {
        kind: RejectType::Reject,
        id: data.urls.new_activity(),
        actor: follow.object.clone(),
        object: FollowRef::Embedded(follow.clone()),
    };
    conn.transaction(async |conn| {
        if !first_receipt(conn, &[&follow.id]).await? {
            return Ok(());
        }
        enqueue(
            conn,
            &data.urls,
            follow.object.path(),
            Target::Inbox(&follower.inbox()),
            &reject.id,
            &reject,
        )
        .await?;
        tracing::info!(follower = %follower.url(), object = %follow.object, "refused a follow: only convergences can be followed");
        Ok::<_, FederationError>(())
    })
    .await
}

async fn receive_accept(
    accept: Accept,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let mut conn = data.pool.get().await?;
    let updated = diesel::update(
        federation_follows::table
            .filter(federation_follows::follow_activity.eq(accept.object.id().as_str()))
            .filter(federation_follows::group_url.eq(accept.actor.as_str())),
    )
    .set((
        federation_follows::state.eq("accepted"),
        federation_follows::accepted_at.eq(Some(chrono::Utc::now())),
    ))
    .execute(&mut conn)
    .await?;
    if updated == 0 {
        return Err(FederationError::Rejected(format!(
            "no pending follow {} of {}",
            accept.object.id(),
            accept.actor
        )));
    }
    tracing::info!(group = %accept.actor, "follow accepted");
    Ok(())
}

async fn receive_reject(
    reject: Reject,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let mut conn = data.pool.get().await?;
    let updated = diesel::update(
        federation_follows::table
            .filter(federation_follows::follow_activity.eq(reject.object.id().as_str()))
            .filter(federation_follows::group_url.eq(reject.actor.as_str())),
    )
    .set(federation_follows::state.eq("rejected"))
    .execute(&mut conn)
    .await?;
    if updated == 0 {
        return Err(FederationError::Rejected(format!(
            "no follow {} of {}",
            reject.object.id(),
            reject.actor
        )));
    }
    tracing::warn!(group = %reject.actor, "follow rejected");
    Ok(())
}

/// Ends a follow: the embedded Follow's convergence, or the follow made by the Follow with that
/// id. Undoing a follow that does not exist (any more) changes nothing.
async fn receive_undo(undo: Undo, data: &Data<FederationContext>) -> Result<(), FederationError> {
    let mut conn = data.pool.get().await?;
    let by_actor = federation_followers::actor_url.eq(undo.actor.as_str());
    let left = match &undo.object {
        FollowRef::Embedded(follow) => {
            let convergence = followed_convergence(&follow.object, data).await?;
            diesel::delete(
                federation_followers::table
                    .filter(federation_followers::convergence_id.eq(convergence.id))
                    .filter(by_actor),
            )
            .execute(&mut conn)
            .await?
        }
        FollowRef::Id(id) => {
            diesel::delete(
                federation_followers::table
                    .filter(federation_followers::follow_activity.eq(id.as_str()))
                    .filter(by_actor),
            )
            .execute(&mut conn)
            .await?
        }
    };
    tracing::info!(follower = %undo.actor, follow = %undo.object.id(), left, "follower left");
    Ok(())
}

/// Refreshes the cached document (and key) of an actor this node knows, and the mirror of a
/// convergence it follows; an unknown actor's update is acknowledged and not stored.
async fn receive_actor_update(
    update: UpdateActor,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let known = {
        let mut conn = data.pool.get().await?;
        diesel::select(diesel::dsl::exists(
            remote_actors::table.find(update.actor.as_str()),
        ))
        .get_result::<bool>(&mut conn)
        .await?
    };
    if !known {
        tracing::debug!(actor = %update.actor, "update of an actor this node does not know");
        return Ok(());
    }
    let actor = ActorRecord::from_json(update.object, data).await?;
    let mirrored = {
        let mut conn = data.pool.get().await?;
        remote::find_convergence(&mut conn, update.actor.as_str()).await?
    };
    if actor.document.kind == ActorKind::Group && mirrored.is_some() {
        let mirror = mirror_actor(&actor, data).await?;
        tracing::info!(convergence = %mirror.slug, name = %mirror.name, "mirror updated");
    }
    Ok(())
}

/// An announced change is accepted only from a convergence this node follows, and only about
/// objects of that convergence's own host.
async fn verify_announce(
    announce: &Announce,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let inner = &announce.object;
    verify_domains_match(&inner.id, &announce.actor)?;
    verify_domains_match(&inner.actor, &announce.actor)?;
    verify_domains_match(inner.object.id(), &announce.actor)?;
    if inner.audience != announce.actor {
        return Err(FederationError::Rejected(format!(
            "{} announced a change of {}",
            announce.actor, inner.audience
        )));
    }
    let mut conn = data.pool.get().await?;
    let followed: bool = diesel::select(diesel::dsl::exists(
        federation_follows::table.filter(federation_follows::group_url.eq(announce.actor.as_str())),
    ))
    .get_result(&mut conn)
    .await?;
    if !followed {
        return Err(FederationError::Rejected(format!(
            "this node does not follow {}",
            announce.actor
        )));
    }
    Ok(())
}

async fn receive_announce(
    announce: Announce,
    data: &Data<FederationContext>,
) -> Result<(), FederationError> {
    let convergence = ensure_mirror(&announce.actor, data).await?;
    let ContentActivity {
        kind, id, object, ..
    } = announce.object;
    let write = match (kind, object) {
        (ContentType::Create | ContentType::Update, ContentObject::Artifact(artifact)) => {
            RemoteWrite::Artifact(remote_artifact(*artifact, convergence.id)?)
        }
        (ContentType::Create | ContentType::Update, ContentObject::Relationship(relationship)) => {
            match resolve_relationship(&relationship, data).await? {
                Some(resolved) => RemoteWrite::Relationship(resolved),
                None => RemoteWrite::Nothing("an end of the relationship was deleted"),
            }
        }
        (ContentType::Delete, object) => RemoteWrite::Delete(object.id().to_string()),
        (kind, object) => {
            return Err(FederationError::Invalid(format!(
                "cannot {kind:?} {}: only artifacts and relationships",
                object.id()
            )));
        }
    };
    apply(data, &[&announce.id, &id], write).await
}

/// A change to the local copies, decided before its transaction.
enum RemoteWrite {
    /// Store or refresh an artifact.
    Artifact(RemoteArtifact),
    /// Store a relationship.
    Relationship(RemoteRelationship),
    /// Delete the copy of the object at this URL.
    Delete(String),
    /// Only remember the activity.
    Nothing(&'static str),
}

/// Applies a remote write with the receipt of its activity ids, in one transaction.
async fn apply(
    data: &Data<FederationContext>,
    ids: &[&Url],
    write: RemoteWrite,
) -> Result<(), FederationError> {
    let last = ids.last().map(|id| id.to_string()).unwrap_or_default();
    let mut conn = data.pool.get().await?;
    conn.transaction(async |conn| {
        if !first_receipt(conn, ids).await? {
            tracing::debug!(activity = %last, "replayed activity ignored");
            return Ok(());
        }
        let mut outbox = Outbox::default();
        let applied = match write {
            RemoteWrite::Artifact(artifact) => {
                remote::upsert_artifact(conn, &mut outbox, artifact).await?
            }
            RemoteWrite::Relationship(relationship) => {
                remote::insert_relationship(conn, &mut outbox, relationship).await?
            }
            RemoteWrite::Delete(url) => remote::delete_object(conn, &mut outbox, &url).await?,
            RemoteWrite::Nothing(why) => remote::Applied::Ignored(why),
        };
        outbox.flush(conn).await?;
        if let remote::Applied::Ignored(why) = applied {
            tracing::debug!(activity = %last, why, "activity changed nothing");
        }
        Ok::<_, FederationError>(())
    })
    .await
}

/// Resolves both ends of a remote relationship to local artifacts, fetching unknown ones from
/// their origin. `None` when an end is deleted; an error (so the sender retries later) when an
/// end cannot be fetched now.
async fn resolve_relationship(
    relationship: &RelationshipObject,
    data: &Data<FederationContext>,
) -> Result<Option<RemoteRelationship>, FederationError> {
    let kind: RelationshipKind = relationship_kind(&relationship.relationship)
        .ok_or_else(|| {
            FederationError::Invalid(format!(
                "relationship {}: unknown kind '{}'",
                relationship.id, relationship.relationship
            ))
        })?
        .parse()
        .map_err(|error| FederationError::Invalid(format!("relationship: {error}")))?;
    let weight = EdgeWeight::try_from(relationship.weight)
        .map_err(|error| FederationError::Invalid(format!("relationship weight: {error}")))?;
    let (Some(source), Some(target)) = (
        resolve_end(&relationship.subject, data).await?,
        resolve_end(&relationship.object, data).await?,
    ) else {
        return Ok(None);
    };
    if source == target {
        return Err(FederationError::Invalid(format!(
            "relationship {} links an artifact to itself",
            relationship.id
        )));
    }
    Ok(Some(RemoteRelationship {
        origin_url: relationship.id.to_string(),
        source,
        target,
        kind,
        weight,
    }))
}

async fn resolve_end(
    url: &Url,
    data: &Data<FederationContext>,
) -> Result<Option<Uuid>, FederationError> {
    match ObjectId::<StoredArtifact>::from(url.clone())
        .dereference(data)
        .await
    {
        Ok(artifact) if artifact.row.deleted_at.is_none() => Ok(Some(artifact.row.id)),
        Ok(_) => Ok(None),
        Err(FederationError::Protocol(
            activitypub_federation::error::Error::ObjectDeleted(_)
            | activitypub_federation::error::Error::NotFound,
        )) => Ok(None),
        Err(error) => Err(error),
    }
}
