//! Contributions: raw text received into a convergence, and the status of its extraction.
//! Every status change is a [`ChangeEvent::ContributionChanged`] in the transaction that makes
//! it, so the event streams show a contribution moving through its extraction.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::contributions;
use crate::db::{
    ChangeEvent, ContributionRecord, DbContribution, DbConvergence, Outbox, load_contributions,
};
use crate::domain::{Author, ContributionStatus, ContributionText};
use crate::error::{Error, Result};
use crate::jobs::{self, JobKind};

use super::convergences as convergence_service;

/// A contribution to receive.
#[derive(Debug, Clone)]
pub struct NewContribution {
    /// Its text.
    pub text: ContributionText,
    /// Who contributed it, free-form; `None` when not given or blank.
    pub author: Option<Author>,
}

/// The payload of an extraction job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ExtractionPayload {
    /// The contribution to extract.
    pub contribution: Uuid,
}

/// Stores a contribution and queues its extraction job, in one transaction.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    new: NewContribution,
    max_attempts: u32,
) -> Result<ContributionRecord> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    caller.require_write(&convergence)?;
    let id = Uuid::now_v7();
    let author = new
        .author
        .map(Author::into_inner)
        .filter(|author| !author.trim().is_empty());
    let row = conn
        .transaction(async |conn| {
            let job = enqueue_extraction(conn, id, max_attempts).await?;
            let row: DbContribution = diesel::insert_into(contributions::table)
                .values((
                    contributions::id.eq(id),
                    contributions::convergence_id.eq(convergence.id),
                    contributions::author.eq(author),
                    contributions::text.eq(new.text.as_str()),
                    contributions::job_id.eq(job),
                    contributions::created_by.eq(caller.participant_id()),
                ))
                .returning(DbContribution::as_returning())
                .get_result(conn)
                .await?;
            let mut outbox = Outbox::default();
            outbox.push(change(&row, true));
            outbox.flush(conn).await?;
            Ok::<_, Error>(row)
        })
        .await?;
    Ok(ContributionRecord {
        row,
        artifacts: Vec::new(),
        relationships: Vec::new(),
    })
}

/// Queues the extraction job of contribution `id`, in the caller's transaction.
async fn enqueue_extraction(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    max_attempts: u32,
) -> diesel::QueryResult<Uuid> {
    let payload = ExtractionPayload { contribution: id };
    jobs::enqueue(conn, JobKind::EXTRACTION, &payload, max_attempts).await
}

pub(crate) fn change(row: &DbContribution, created: bool) -> ChangeEvent {
    ChangeEvent::ContributionChanged {
        id: row.id,
        convergence: row.convergence_id,
        created,
        status: ContributionStatus::parse(&row.status).unwrap_or(ContributionStatus::Pending),
    }
}

/// Reads a contribution the caller may read, with its products and its convergence.
pub async fn get(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<(ContributionRecord, DbConvergence)> {
    let mut records = load_contributions(conn, &[id]).await?;
    let record = records
        .remove(&id)
        .ok_or_else(|| Error::not_found("contribution", id))?;
    let convergence = convergence_service::find_by_id(conn, record.row.convergence_id).await?;
    if !caller.can_read(convergence.id, &convergence.visibility) {
        return Err(Error::not_found("contribution", id));
    }
    Ok((record, convergence))
}

/// Lists a convergence's contributions, newest first, before the id `before`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    status: Option<ContributionStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<(Vec<ContributionRecord>, DbConvergence)> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    let mut query = contributions::table
        .filter(contributions::convergence_id.eq(convergence.id))
        .select(contributions::id)
        .order(contributions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(contributions::status.eq(status.as_str()));
    }
    if let Some(before) = before {
        query = query.filter(contributions::id.lt(before));
    }
    let ids: Vec<Uuid> = query.load(conn).await?;
    let mut records = load_contributions(conn, &ids).await?;
    let ordered = ids.iter().filter_map(|id| records.remove(id)).collect();
    Ok((ordered, convergence))
}

/// Queues a failed contribution's extraction again (a new job of `max_attempts` if its job was
/// discarded); 409 unless it is `failed`.
pub async fn retry(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    max_attempts: u32,
) -> Result<()> {
    let (record, convergence) = get(conn, caller, id).await?;
    caller.require_write(&convergence)?;
    conn.transaction(async |conn| {
        let row: Option<DbContribution> = diesel::update(contributions::table.find(id))
            .filter(contributions::status.eq(ContributionStatus::Failed.as_str()))
            .set((
                contributions::status.eq(ContributionStatus::Pending.as_str()),
                contributions::attempts.eq(0),
                contributions::updated_at.eq(diesel::dsl::now),
            ))
            .returning(DbContribution::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(row) = row else {
            return Err(Error::Conflict(format!(
                "contribution {id} is {}: only a failed one can be retried",
                record.row.status
            )));
        };
        let queued = match row.job_id {
            Some(job) => jobs::retry(conn, job).await?,
            None => false,
        };
        if !queued {
            // Its job was discarded: queue a new one.
            let job = enqueue_extraction(conn, id, max_attempts).await?;
            diesel::update(contributions::table.find(id))
                .set(contributions::job_id.eq(job))
                .execute(conn)
                .await?;
        }
        let mut outbox = Outbox::default();
        outbox.push(change(&row, false));
        outbox.flush(conn).await?;
        Ok(())
    })
    .await
}

/// Moves a contribution to `status` (recording `attempts` and `error`), with its change event,
/// in the caller's transaction. Returns the row as it now is.
pub(crate) async fn set_status(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: ContributionStatus,
    attempts: i32,
    error: Option<&str>,
) -> diesel::QueryResult<DbContribution> {
    let completed = (status == ContributionStatus::Complete).then(chrono::Utc::now);
    let row: DbContribution = diesel::update(contributions::table.find(id))
        .set((
            contributions::status.eq(status.as_str()),
            contributions::attempts.eq(attempts),
            contributions::error.eq(error),
            contributions::completed_at.eq(completed),
            contributions::updated_at.eq(diesel::dsl::now),
        ))
        .returning(DbContribution::as_returning())
        .get_result(conn)
        .await?;
    let mut outbox = Outbox::default();
    outbox.push(change(&row, false));
    outbox.flush(conn).await?;
    Ok(row)
}
