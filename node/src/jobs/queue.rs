//! The queue's statements: enqueue, claim, renew, finish, fail, and the administrator's retry
//! and discard. Every state change is one statement checked against the lease, so two workers
//! never both finish a job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::db::schema::jobs;

/// What a job does, stored as its `kind`: each kind has one [`JobHandler`] (the queue is
/// generic; a kind is a name).
///
/// [`JobHandler`]: super::JobHandler
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobKind(&'static str);

impl JobKind {
    /// Turn a contribution into artifacts and relationships.
    pub const EXTRACTION: JobKind = JobKind("extraction");

    /// A kind named `name`.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker holding its lease.
    Running,
    /// Done; its effects are committed.
    Succeeded,
    /// Out of attempts (or discarded work kept for the record); `last_error` says why.
    Failed,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    /// The state stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

/// A row of `jobs`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct DbJob {
    /// The `id` column.
    pub id: Uuid,
    /// The `kind` column.
    pub kind: String,
    /// The `payload` column.
    pub payload: serde_json::Value,
    /// The `state` column.
    pub state: String,
    /// The `attempts` column: attempts started, this one included.
    pub attempts: i32,
    /// The `max_attempts` column.
    pub max_attempts: i32,
    /// The `run_at` column.
    pub run_at: DateTime<Utc>,
    /// The `lease_owner` column.
    pub lease_owner: Option<String>,
    /// The `lease_expires_at` column.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The `last_error` column.
    pub last_error: Option<String>,
    /// The `created_at` column.
    pub created_at: DateTime<Utc>,
    /// The `updated_at` column.
    pub updated_at: DateTime<Utc>,
    /// The `finished_at` column.
    pub finished_at: Option<DateTime<Utc>>,
}

impl DbJob {
    /// Its payload as `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.payload.clone())
    }
}

/// Queues a job, due now, in the caller's transaction (so it exists exactly when what asked
/// for it does).
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    kind: JobKind,
    payload: &impl Serialize,
    max_attempts: u32,
) -> QueryResult<Uuid> {
    let id = Uuid::now_v7();
    let payload = serde_json::to_value(payload)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    diesel::insert_into(jobs::table)
        .values((
            jobs::id.eq(id),
            jobs::kind.eq(kind.as_str()),
            jobs::payload.eq(payload),
            jobs::max_attempts.eq(i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX)),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Claims, for `owner` and leased for `lease`, a job of `kinds` whose worker's lease expired,
/// else the oldest due one; `None` when there is none. Two statements, so that each walks its
/// own partial index (`jobs_leased`, `jobs_due`) instead of the whole table.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    owner: &str,
    kinds: &[&str],
    lease: Duration,
) -> QueryResult<Option<DbJob>> {
    const ABANDONED: &str = "state = 'running' AND lease_expires_at < now() \
                             ORDER BY lease_expires_at";
    const DUE: &str = "state = 'queued' AND run_at <= now() ORDER BY run_at, id";
    for candidates in [ABANDONED, DUE] {
        let claimed = diesel::sql_query(format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
               lease_expires_at = now() + make_interval(secs => $2::double precision / 1000), \
               updated_at = now() \
             WHERE id = (SELECT id FROM jobs WHERE kind = ANY($3) AND {candidates} \
                         FOR UPDATE SKIP LOCKED LIMIT 1) \
             RETURNING *"
        ))
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(millis(lease))
        .bind::<Array<Text>, _>(kinds)
        .get_result(conn)
        .await
        .optional()?;
        if claimed.is_some() {
            return Ok(claimed);
        }
    }
    Ok(None)
}

/// Extends the lease; false when `owner` no longer holds it (it expired and another worker
/// claimed the job).
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    owner: &str,
    lease: Duration,
) -> QueryResult<bool> {
    let renewed = diesel::sql_query(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000) \
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Text, _>(owner)
    .bind::<BigInt, _>(millis(lease))
    .execute(conn)
    .await?;
    Ok(renewed == 1)
}

/// Marks the job succeeded. Call it in the transaction that commits the job's effects: when
/// `owner` no longer holds the lease it fails with [`LeaseLost`], and the caller rolls back.
pub async fn succeed(conn: &mut AsyncPgConnection, id: Uuid, owner: &str) -> Result<(), LeaseLost> {
    let done = diesel::update(jobs::table.find(id))
        .filter(jobs::lease_owner.eq(owner))
        .filter(jobs::state.eq(JobState::Running.as_str()))
        .set((
            jobs::state.eq(JobState::Succeeded.as_str()),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
            jobs::finished_at.eq(diesel::dsl::now),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map_err(LeaseLost::Database)?;
    if done == 1 {
        Ok(())
    } else {
        Err(LeaseLost::Taken)
    }
}

/// The lease was lost before the job finished: its effects must not commit.
#[derive(Debug, thiserror::Error)]
pub enum LeaseLost {
    /// Another worker holds the job now.
    #[error("the job's lease expired and another worker took it over")]
    Taken,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Queued again, due at this time.
    Retrying(DateTime<Utc>),
    /// Out of attempts: failed for good.
    Exhausted,
}

/// Records a failed attempt: queued again after `delay`, or failed for good when it was the
/// last attempt. `None` when `owner` no longer holds the lease.
pub async fn fail(
    conn: &mut AsyncPgConnection,
    job: &DbJob,
    owner: &str,
    error: &str,
    delay: Duration,
) -> QueryResult<Option<Failure>> {
    let exhausted = job.attempts >= job.max_attempts;
    let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    let (state, finished) = if exhausted {
        (JobState::Failed, Some(Utc::now()))
    } else {
        (JobState::Queued, None)
    };
    let updated = diesel::update(jobs::table.find(job.id))
        .filter(jobs::lease_owner.eq(owner))
        .filter(jobs::state.eq(JobState::Running.as_str()))
        .set((
            jobs::state.eq(state.as_str()),
            jobs::run_at.eq(run_at),
            jobs::last_error.eq(error),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
            jobs::finished_at.eq(finished),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok((updated == 1).then_some(if exhausted {
        Failure::Exhausted
    } else {
        Failure::Retrying(run_at)
    }))
}

/// Hands a running job back to the queue, due at once, because its worker is stopping (a
/// graceful stop, not a failure: the interrupted attempt is not counted). Another process, or
/// this one after its restart, claims it without waiting for the lease to run out. False when
/// `owner` no longer holds the lease (the job finished or was taken over meanwhile).
pub async fn release(conn: &mut AsyncPgConnection, id: Uuid, owner: &str) -> QueryResult<bool> {
    let released = diesel::update(jobs::table.find(id))
        .filter(jobs::lease_owner.eq(owner))
        .filter(jobs::state.eq(JobState::Running.as_str()))
        .set((
            jobs::state.eq(JobState::Queued.as_str()),
            jobs::attempts.eq(jobs::attempts - 1),
            jobs::run_at.eq(diesel::dsl::now),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(released == 1)
}

/// Queues a failed job again with fresh attempts; false when it is not failed.
pub async fn retry(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let updated = diesel::update(jobs::table.find(id))
        .filter(jobs::state.eq(JobState::Failed.as_str()))
        .set((
            jobs::state.eq(JobState::Queued.as_str()),
            jobs::attempts.eq(0),
            jobs::run_at.eq(diesel::dsl::now),
            jobs::finished_at.eq(None::<DateTime<Utc>>),
            jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Deletes a job that is not running; false when there is no such job.
pub async fn discard(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let deleted = diesel::delete(jobs::table.find(id))
        .filter(jobs::state.ne(JobState::Running.as_str()))
        .execute(conn)
        .await?;
    Ok(deleted == 1)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
