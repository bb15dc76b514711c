//! Administration of federation: following remote convergences, the delivery queue's state,
//! the block list.

use activitypub_federation::config::Data;
use activitypub_federation::error::Error as ProtocolError;
use activitypub_federation::fetch::object_id::ObjectId;
use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use activitypub_federation::traits::Actor;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_federation::activities::{Follow, FollowRef, FollowType, Undo, UndoType};
use serde::Serialize;
use url::Url;
use utoipa::ToSchema;

use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::Caller;
use crate::db::schema::{blocked_instances, convergences, federation_follows};

use super::FederationContext;
use super::actors::{ActorRecord, node_actor};
use super::error::FederationError;
use super::objects::mirror_actor;
use super::queue::{Target, enqueue};
use crate::urls::{LocalUrls, NODE_ACTOR_PATH};

/// This node's follow of a remote convergence.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct FollowView {
    /// Local name of the mirrored convergence, `slug@host[:port]`.
    pub convergence: String,
    /// The remote `Group` actor.
    pub group_url: String,
    /// `pending` until the remote node accepts (`accepted`) or refuses (`rejected`).
    pub state: String,
    /// When the follow was sent.
    pub created_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// Follows the remote convergence `target`: its actor URL (`https://peer/c/slug`) or its
/// WebFinger name (`slug@peer`). Idempotent: following again returns the existing follow.
pub async fn follow_remote(
    data: &Data<FederationContext>,
    caller: &Caller,
    target: &str,
) -> Result<(FollowView, bool), FederationError> {
    let target = target.trim();
    let group: ActorRecord = match Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            match ObjectId::<ActorRecord>::from(url).dereference(data).await {
                Ok(group) => group,
                Err(error) => return Err(explain_refused_host(error).await),
            }
        }
        _ if target.contains('@') && !target.contains('/') => {
            match webfinger_resolve_actor(target.trim_start_matches('@'), data).await {
                Ok(group) => group,
                Err(error) => return Err(explain_refused_host(error).await),
            }
        }
        _ => {
            return Err(FederationError::Invalid(format!(
                "'{target}' is neither an http(s) actor URL nor a name like slug@host"
            )));
        }
    };
    let mirror = mirror_actor(&group, data).await?;
    let mut conn = data.pool.get().await?;
    if let Some(existing) = find_follow(&mut conn, group.url()).await? {
        return Ok((existing, false));
    }
    let follower = node_actor(&mut conn, &data.urls).await?;
    let follow = Follow {
        kind: FollowType::Follow,
        id: data.urls.new_activity(),
        actor: follower.url().clone(),
        object: group.url().clone(),
    };
    let urls = &data.urls;
    conn.transaction(async |conn| {
        diesel::insert_into(federation_follows::table)
            .values((
                federation_follows::convergence_id.eq(mirror.id),
                federation_follows::group_url.eq(group.url().as_str()),
                federation_follows::follow_activity.eq(follow.id.as_str()),
                federation_follows::state.eq("pending"),
            ))
            .execute(conn)
            .await?;
        let event =
            AuditEvent::new(AuditAction::FollowAdded, group.url()).in_convergence(mirror.id);
        audit::record(conn, caller, event).await?;
        queue_for_group(conn, urls, &group, &follow.id, &follow).await
    })
    .await?;
    tracing::info!(group = %group.url(), convergence = %mirror.slug, "following");
    let created = find_follow(&mut conn, group.url())
        .await?
        .ok_or_else(|| FederationError::Invalid("the follow was not stored".to_owned()))?;
    Ok((created, true))
}

/// Says in the node's terms why a peer's URL was refused. activitypub_federation reports a host
/// that does not resolve like one that resolves to a local address, and names its own
/// environment variable rather than the node's setting.
async fn explain_refused_host(error: FederationError) -> FederationError {
    let local_network = "this node federates only with https:// peers on public addresses \
         without explicit ports unless federation.allow_local_network is true (local testing only)";
    match &error {
        FederationError::Protocol(ProtocolError::DomainResolveError(host)) => {
            let resolves = tokio::net::lookup_host((host.as_str(), 443))
                .await
                .is_ok_and(|mut addresses| addresses.next().is_some());
            FederationError::Invalid(if resolves {
                format!("{host} resolves to a loopback or private address: {local_network}")
            } else {
                format!("the host {host} does not resolve")
            })
        }
        FederationError::Protocol(ProtocolError::UrlVerificationError(
            "Explicit port is not allowed" | "Http urls are only allowed in debug mode",
        )) => FederationError::Invalid(format!(
            "the URL uses http:// or names a port: {local_network}"
        )),
        _ => error,
    }
}

/// Stops following the remote convergence mirrored as `convergence` (`slug@host`): sends an
/// `Undo` of the `Follow` and forgets the follow. The copies already received stay. False when
/// this node does not follow it.
pub async fn unfollow_remote(
    data: &Data<FederationContext>,
    caller: &Caller,
    convergence: &str,
) -> Result<bool, FederationError> {
    let mut conn = data.pool.get().await?;
    let follow: Option<(uuid::Uuid, String, String)> = federation_follows::table
        .inner_join(convergences::table)
        .filter(convergences::slug.eq(convergence))
        .select((
            federation_follows::convergence_id,
            federation_follows::group_url,
            federation_follows::follow_activity,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((convergence_id, group_url, follow_activity)) = follow else {
        return Ok(false);
    };
    let group: ActorRecord = ObjectId::<ActorRecord>::parse(&group_url)
        .map_err(|error| FederationError::Invalid(format!("stored group URL: {error}")))?
        .dereference(data)
        .await?;
    let follower = node_actor(&mut conn, &data.urls).await?;
    let parse = |url: &str| {
        Url::parse(url).map_err(|error| FederationError::Invalid(format!("stored URL: {error}")))
    };
    let undo = Undo {
        kind: UndoType::Undo,
        id: data.urls.new_activity(),
        actor: follower.url().clone(),
        object: FollowRef::Embedded(Follow {
            kind: FollowType::Follow,
            id: parse(&follow_activity)?,
            actor: follower.url().clone(),
            object: group.url().clone(),
        }),
    };
    let urls = &data.urls;
    conn.transaction(async |conn| {
        diesel::delete(federation_follows::table.find(convergence_id))
            .execute(conn)
            .await?;
        let event =
            AuditEvent::new(AuditAction::FollowRemoved, group.url()).in_convergence(convergence_id);
        audit::record(conn, caller, event).await?;
        queue_for_group(conn, urls, &group, &undo.id, &undo).await
    })
    .await?;
    tracing::info!(group = %group.url(), "unfollowed");
    Ok(true)
}

/// Queues an activity of the node's own actor for `group`'s inbox.
async fn queue_for_group(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    group: &ActorRecord,
    id: &Url,
    activity: &impl Serialize,
) -> Result<(), FederationError> {
    let inbox = group.inbox();
    enqueue(
        conn,
        urls,
        NODE_ACTOR_PATH,
        Target::Inbox(&inbox),
        id,
        activity,
    )
    .await
}

async fn find_follow(
    conn: &mut AsyncPgConnection,
    group: &Url,
) -> Result<Option<FollowView>, FederationError> {
    Ok(follows_query()
        .filter(federation_follows::group_url.eq(group.as_str()))
        .first(conn)
        .await
        .optional()?)
}

#[diesel::dsl::auto_type(no_type_alias)]
fn follows_query() -> _ {
    federation_follows::table
        .inner_join(convergences::table)
        .select((
            convergences::slug,
            federation_follows::group_url,
            federation_follows::state,
            federation_follows::created_at,
            federation_follows::accepted_at,
        ))
}

/// The remote convergences this node follows, by local name, after `after`: `limit` of them.
pub async fn list_follows(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<FollowView>, FederationError> {
    Ok(follows_query()
        .filter(convergences::slug.gt(after.unwrap_or_default().to_owned()))
        .order(convergences::slug)
        .limit(limit)
        .load(conn)
        .await?)
}

/// Delivery state of one receiving inbox.
#[derive(Debug, Clone, Serialize, ToSchema, QueryableByName)]
pub struct PeerQueue {
    /// The inbox.
    #[diesel(sql_type = Text)]
    pub inbox: String,
    /// Activities queued for it and not yet delivered.
    #[diesel(sql_type = BigInt)]
    pub backlog: i64,
    /// Every activity up to this queue position has been delivered.
    #[diesel(sql_type = BigInt)]
    pub delivered_through: i64,
    /// Consecutive failed attempts.
    #[diesel(sql_type = Integer)]
    pub failures: i32,
    /// Of those, the attempts the peer answered with an error status (refusals); at
    /// `federation.park_after_refusals` the activity is parked.
    #[diesel(sql_type = Integer)]
    pub refusals: i32,
    /// Activities this peer refused until they were parked (`GET /admin/federation/parked`).
    #[diesel(sql_type = BigInt)]
    pub parked: i64,
    /// The last failure, cleared by a success.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// Next attempt (or lease end while a worker is at it).
    #[diesel(sql_type = Timestamptz)]
    pub next_attempt_at: DateTime<Utc>,
    /// The last successful delivery.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Remote actors behind this inbox that follow local convergences.
    #[diesel(sql_type = BigInt)]
    pub followers: i64,
}

/// Per-inbox backlog and errors, largest backlog first.
pub async fn queue_state(conn: &mut AsyncPgConnection) -> Result<Vec<PeerQueue>, FederationError> {
    Ok(diesel::sql_query(
        "SELECT d.inbox, d.delivered_through, d.failures, d.refusals, d.last_error, \
                d.next_attempt_at, d.last_success_at, \
                (SELECT count(*) FROM federation_parked p WHERE p.inbox = d.inbox) AS parked, \
                (SELECT count(*) FROM federation_followers f WHERE f.inbox = d.inbox) AS followers, \
                (SELECT count(*) FROM federation_activities a \
                 WHERE a.id > d.delivered_through AND (a.inbox = d.inbox OR EXISTS ( \
                     SELECT 1 FROM federation_followers f \
                     WHERE f.convergence_id = a.convergence_id AND f.inbox = d.inbox \
                       AND f.since_activity < a.id))) AS backlog \
         FROM federation_deliveries d ORDER BY backlog DESC, d.inbox",
    )
    .load(conn)
    .await?)
}

/// A blocked instance.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct BlockedInstance {
    /// `host` (with its subdomains, any port) or `host:port`.
    pub host: String,
    /// Why.
    pub reason: String,
    /// Since when.
    pub created_at: DateTime<Utc>,
}

/// The block list by host, after `after`: `limit` entries.
pub async fn list_blocks(
    conn: &mut AsyncPgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<BlockedInstance>, FederationError> {
    Ok(blocked_instances::table
        .select((
            blocked_instances::host,
            blocked_instances::reason,
            blocked_instances::created_at,
        ))
        .filter(blocked_instances::host.gt(after.unwrap_or_default().to_owned()))
        .order(blocked_instances::host)
        .limit(limit)
        .load(conn)
        .await?)
}

/// Blocks an instance (`host`, `host:port` or a URL); returns the normalised entry.
pub async fn block(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    raw: &str,
    reason: &str,
) -> Result<BlockedInstance, FederationError> {
    let host = kg_federation::origin::block_entry(raw).ok_or_else(|| {
        FederationError::Invalid(format!("'{raw}' is not a host, host:port or base URL"))
    })?;
    conn.transaction(async |conn| {
        let blocked = diesel::insert_into(blocked_instances::table)
            .values((
                blocked_instances::host.eq(&host),
                blocked_instances::reason.eq(reason),
            ))
            .on_conflict(blocked_instances::host)
            .do_update()
            .set(blocked_instances::reason.eq(reason))
            .returning((
                blocked_instances::host,
                blocked_instances::reason,
                blocked_instances::created_at,
            ))
            .get_result(conn)
            .await?;
        let event = AuditEvent::new(AuditAction::BlockAdded, &host)
            .with_detail(serde_json::json!({ "reason": reason }));
        audit::record(conn, caller, event).await?;
        Ok(blocked)
    })
    .await
}

/// Lifts a block; false when there was none.
pub async fn unblock(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    host: &str,
) -> Result<bool, FederationError> {
    let host = kg_federation::origin::block_entry(host).unwrap_or_else(|| host.to_owned());
    conn.transaction(async |conn| {
        let lifted =
            diesel::delete(blocked_instances::table.filter(blocked_instances::host.eq(&host)))
                .execute(conn)
                .await?
                > 0;
        if lifted {
            audit::record(
                conn,
                caller,
                AuditEvent::new(AuditAction::BlockRemoved, &host),
            )
            .await?;
        }
        Ok(lifted)
    })
    .await
}
