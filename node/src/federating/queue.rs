//! Writing the persisted delivery queue: activities are prepared as rows of
//! `federation_activities` (for one inbox or for a convergence's followers) and inserted in the
//! writer's transaction; [`super::delivery`] sends them.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_federation::activities::{
    Announce, AnnounceType, ContentActivity, ContentObject, ContentType,
};
use kg_federation::context::object_context;
use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::db::DbConvergence;
use crate::db::schema::{federation_activities, federation_deliveries};

use super::error::FederationError;
use super::objects::public;
use crate::urls::LocalUrls;

/// Who an activity is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// One inbox.
    Inbox(&'a Url),
    /// Every inbox following this convergence when the activity is queued.
    Followers(Uuid),
}

/// The id of the newest queued activity (0 when none).
pub async fn latest_activity(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    federation_activities::table
        .select(diesel::dsl::max(federation_activities::id))
        .first::<Option<i64>>(conn)
        .await
        .map(Option::unwrap_or_default)
}

/// Queues `activity` (sent with our `@context`) from the local actor at `actor_path`, inside
/// the caller's transaction.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    urls: &LocalUrls,
    actor_path: &str,
    target: Target<'_>,
    id: &Url,
    activity: &impl Serialize,
) -> Result<(), FederationError> {
    enqueue_all(conn, vec![prepare(urls, actor_path, target, id, activity)?]).await
}

/// An activity as the queue stores it, ready to be inserted with others.
#[derive(Debug, Insertable)]
#[diesel(table_name = federation_activities)]
pub struct NewActivity {
    activity_url: String,
    actor_path: String,
    convergence_id: Option<Uuid>,
    inbox: Option<String>,
    payload: serde_json::Value,
}

/// Rows per multi-row insert of activities, well below PostgreSQL's bind-parameter limit.
const INSERT_CHUNK: usize = 1_000;

/// `activity` from the local actor at `actor_path` for `target`, serialised with our
/// `@context`.
pub fn prepare(
    urls: &LocalUrls,
    actor_path: &str,
    target: Target<'_>,
    id: &Url,
    activity: &impl Serialize,
) -> Result<NewActivity, FederationError> {
    let mut payload = serde_json::to_value(activity)
        .map_err(|error| FederationError::Invalid(format!("activity: {error}")))?;
    if let Some(object) = payload.as_object_mut() {
        object.insert("@context".to_owned(), object_context(urls.base()));
    }
    let (convergence_id, inbox) = match target {
        Target::Inbox(inbox) => (None, Some(inbox.as_str().to_owned())),
        Target::Followers(convergence) => (Some(convergence), None),
    };
    Ok(NewActivity {
        activity_url: id.as_str().to_owned(),
        actor_path: actor_path.to_owned(),
        convergence_id,
        inbox,
        payload,
    })
}

/// Queues `activities` in order, a few multi-row inserts whatever their number, inside the
/// caller's transaction.
pub async fn enqueue_all(
    conn: &mut AsyncPgConnection,
    activities: Vec<NewActivity>,
) -> Result<(), FederationError> {
    let inboxes: HashSet<String> = activities
        .iter()
        .filter_map(|activity| activity.inbox.clone())
        .collect();
    for chunk in activities.chunks(INSERT_CHUNK) {
        diesel::insert_into(federation_activities::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    for inbox in inboxes {
        track_inbox(conn, &inbox).await?;
    }
    Ok(())
}

/// Makes sure the queue serves `inbox`.
pub async fn track_inbox(conn: &mut AsyncPgConnection, inbox: &str) -> QueryResult<()> {
    diesel::insert_into(federation_deliveries::table)
        .values(federation_deliveries::inbox.eq(inbox))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// The convergence's `Announce` of a content activity for `target`, ready to be queued.
pub(crate) fn announcement(
    urls: &LocalUrls,
    convergence: &DbConvergence,
    kind: ContentType,
    object: ContentObject,
    target: Target<'_>,
) -> Result<NewActivity, FederationError> {
    let path = LocalUrls::group_path(&convergence.slug);
    let group = urls.url(&path);
    let followers = urls.url(&format!("{path}/followers"));
    let public = public();
    let announce = Announce {
        kind: AnnounceType::Announce,
        id: urls.new_activity(),
        actor: group.clone(),
        object: ContentActivity {
            kind,
            id: urls.new_activity(),
            actor: group.clone(),
            object,
            audience: group,
            to: vec![public.clone()],
            cc: vec![followers.clone()],
        },
        to: vec![public],
        cc: vec![followers],
    };
    prepare(urls, &path, target, &announce.id, &announce)
}
