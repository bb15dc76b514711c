//! Activities a peer refused for good or kept refusing, set aside so that its queue moves on:
//! parked by the delivery queue with the peer's answer, listed, retried or discarded by the
//! administrator.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::Caller;
use crate::db::schema::{federation_activities, federation_deliveries, federation_parked};

use super::error::FederationError;

/// Why an activity is parked.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// Attempts made (refusals in a row, or 1 for an answer that would not change).
    pub attempts: i32,
    /// The status the peer last answered, when it answered.
    pub status: Option<i32>,
    /// The last failure, with the start of the peer's answer.
    pub error: &'a str,
}

/// Parks `activity` for `inbox`, and moves the inbox's mark past it, in one transaction: the
/// next drain starts with the activity after it.
pub async fn park(
    conn: &mut AsyncPgConnection,
    inbox: &str,
    activity: i64,
    failure: &Failure<'_>,
) -> Result<(), FederationError> {
    let Failure {
        attempts,
        status,
        error,
    } = *failure;
    conn.transaction(async |conn| {
        diesel::insert_into(federation_parked::table)
            .values((
                federation_parked::inbox.eq(inbox),
                federation_parked::activity_id.eq(activity),
                federation_parked::attempts.eq(attempts),
                federation_parked::status.eq(status),
                federation_parked::last_error.eq(error),
            ))
            .on_conflict((federation_parked::inbox, federation_parked::activity_id))
            .do_update()
            .set((
                federation_parked::attempts.eq(attempts),
                federation_parked::status.eq(status),
                federation_parked::last_error.eq(error),
                federation_parked::parked_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
        diesel::update(federation_deliveries::table.find(inbox))
            .set((
                federation_deliveries::delivered_through.eq(activity),
                federation_deliveries::failures.eq(0),
                federation_deliveries::refusals.eq(0),
                federation_deliveries::last_error
                    .eq(Some(format!("parked activity {activity}: {error}"))),
                federation_deliveries::next_attempt_at.eq(Utc::now()),
                federation_deliveries::updated_at.eq(Utc::now()),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

/// A parked activity, as the administrator sees it.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct ParkedActivity {
    /// Id of this parked entry (retry or discard it by this id).
    pub id: i64,
    /// The inbox that refused it.
    pub inbox: String,
    /// The activity's id.
    pub activity: String,
    /// Its ActivityStreams type (`Announce`, `Follow`, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Attempts before it was parked: refusals in a row, or 1 for an answer that would not
    /// change (400, 404, 410, 422, ...).
    pub attempts: i32,
    /// The HTTP status the peer last answered (`null` when it could not be sent at all, e.g.
    /// its actor was deleted).
    pub status: Option<i32>,
    /// The peer's last answer.
    pub last_error: String,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// Parked activities after the entry `after`, oldest first, `limit + 1` of them (the extra one
/// tells the caller there is a next page); only those of `inbox` when given.
pub async fn list_parked(
    conn: &mut AsyncPgConnection,
    inbox: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<ParkedActivity>, FederationError> {
    let mut query = federation_parked::table
        .inner_join(federation_activities::table)
        .select((
            federation_parked::id,
            federation_parked::inbox,
            federation_activities::activity_url,
            federation_activities::payload
                .retrieve_as_text("type")
                .nullable(),
            federation_parked::attempts,
            federation_parked::status,
            federation_parked::last_error,
            federation_parked::parked_at,
        ))
        .filter(federation_parked::id.gt(after.unwrap_or(0)))
        .order(federation_parked::id)
        .limit(limit + 1)
        .into_boxed();
    if let Some(inbox) = inbox {
        query = query.filter(federation_parked::inbox.eq(inbox.to_owned()));
    }
    Ok(query.load(conn).await?)
}

/// Queues the parked entry `id` again, for its inbox only and behind what is queued now, and
/// forgets the entry. False when there is no such entry.
pub async fn retry_parked(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> Result<bool, FederationError> {
    conn.transaction(async |conn| {
        let Some((inbox, activity)) = federation_parked::table
            .find(id)
            .select((federation_parked::inbox, federation_parked::activity_id))
            .first::<(String, i64)>(conn)
            .await
            .optional()?
        else {
            return Ok(false);
        };
        let (activity_url, actor_path, payload): (String, String, serde_json::Value) =
            federation_activities::table
                .find(activity)
                .select((
                    federation_activities::activity_url,
                    federation_activities::actor_path,
                    federation_activities::payload,
                ))
                .first(conn)
                .await?;
        diesel::insert_into(federation_activities::table)
            .values((
                federation_activities::activity_url.eq(activity_url),
                federation_activities::actor_path.eq(actor_path),
                federation_activities::inbox.eq(Some(inbox)),
                federation_activities::payload.eq(payload),
                federation_activities::retry_of.eq(Some(activity)),
            ))
            .execute(conn)
            .await?;
        diesel::delete(federation_parked::table.find(id))
            .execute(conn)
            .await?;
        audit::record(
            conn,
            caller,
            AuditEvent::new(AuditAction::ParkedRetried, id),
        )
        .await?;
        Ok(true)
    })
    .await
}

/// Forgets the parked entry `id` without sending it again. False when there is none.
pub async fn discard_parked(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> Result<bool, FederationError> {
    conn.transaction(async |conn| {
        let discarded = diesel::delete(federation_parked::table.find(id))
            .execute(conn)
            .await?
            > 0;
        if discarded {
            audit::record(
                conn,
                caller,
                AuditEvent::new(AuditAction::ParkedDiscarded, id),
            )
            .await?;
        }
        Ok(discarded)
    })
    .await
}
