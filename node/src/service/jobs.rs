//! The administrator's view of the job queue: list, count, retry, discard. Retrying or
//! discarding a job moves the contribution it works for along with it, in one transaction.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::{contributions, jobs as job_rows};
use crate::domain::ContributionStatus;
use crate::error::{Error, Result};
use crate::jobs::{self, DbJob, JobState};

use super::contributions::set_status;
use crate::audit::{self, AuditAction, AuditEvent};

/// Lists jobs, newest first, before the id `before`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    state: Option<JobState>,
    kind: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DbJob>> {
    let mut query = job_rows::table
        .select(DbJob::as_select())
        .order(job_rows::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(job_rows::state.eq(state.as_str()));
    }
    if let Some(kind) = kind {
        query = query.filter(job_rows::kind.eq(kind));
    }
    if let Some(before) = before {
        query = query.filter(job_rows::id.lt(before));
    }
    Ok(query.load(conn).await?)
}

/// How many jobs are in each state (every state listed, zeros included).
pub async fn counts(conn: &mut AsyncPgConnection) -> Result<Vec<(JobState, i64)>> {
    let rows: Vec<(String, i64)> = job_rows::table
        .group_by(job_rows::state)
        .select((job_rows::state, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(JobState::ALL
        .into_iter()
        .map(|state| {
            let count = rows
                .iter()
                .find(|(name, _)| name == state.as_str())
                .map_or(0, |(_, count)| *count);
            (state, count)
        })
        .collect())
}

/// Queues a failed job again with fresh attempts (its contribution back to `pending`); 404
/// for no such job, 409 unless it is failed.
pub async fn retry(conn: &mut AsyncPgConnection, caller: &Caller, id: Uuid) -> Result<()> {
    conn.transaction(async |conn| {
        if !jobs::retry(conn, id).await? {
            return Err(not_in_state(conn, id, "only a failed job can be retried").await);
        }
        move_subject(conn, id, ContributionStatus::Pending, None).await?;
        audit::record(conn, caller, AuditEvent::new(AuditAction::JobRetried, id)).await?;
        Ok(())
    })
    .await
}

/// Deletes a job that is not running (its unfinished contribution becomes `failed`); 404 for
/// no such job, 409 while it runs.
pub async fn discard(conn: &mut AsyncPgConnection, caller: &Caller, id: Uuid) -> Result<()> {
    conn.transaction(async |conn| {
        move_subject(
            conn,
            id,
            ContributionStatus::Failed,
            Some("its job was discarded by an administrator"),
        )
        .await?;
        if !jobs::discard(conn, id).await? {
            return Err(not_in_state(conn, id, "a running job cannot be discarded").await);
        }
        audit::record(conn, caller, AuditEvent::new(AuditAction::JobDiscarded, id)).await?;
        Ok(())
    })
    .await
}

/// 404 when job `id` does not exist, else 409 with `why`.
async fn not_in_state(conn: &mut AsyncPgConnection, id: Uuid, why: &str) -> Error {
    let exists = job_rows::table
        .find(id)
        .select(job_rows::id)
        .first::<Uuid>(conn)
        .await
        .optional();
    match exists {
        Ok(Some(_)) => Error::Conflict(format!("job {id}: {why}")),
        Ok(None) => Error::not_found("job", id),
        Err(error) => error.into(),
    }
}

/// Moves the unfinished contribution that job `id` works for, if any, to `status`.
async fn move_subject(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    status: ContributionStatus,
    error: Option<&str>,
) -> Result<()> {
    let subject: Option<(Uuid, i32)> = contributions::table
        .filter(contributions::job_id.eq(id))
        .filter(contributions::status.ne(ContributionStatus::Complete.as_str()))
        .select((contributions::id, contributions::attempts))
        .first(conn)
        .await
        .optional()?;
    if let Some((contribution, attempts)) = subject {
        let attempts = if status == ContributionStatus::Pending {
            0
        } else {
            attempts
        };
        set_status(conn, contribution, status, attempts, error).await?;
    }
    Ok(())
}
