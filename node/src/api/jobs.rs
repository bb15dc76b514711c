//! `/api/v1/admin/jobs`: the job queue, for node administrators.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Writer;
use crate::db::DbPool;
use crate::error::{Error, ErrorBody, Result};
use crate::jobs::{DbJob, JobState};
use crate::service::jobs as service;

use super::pagination::{decode_cursor, page_limit, paginate};

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    /// Its id.
    pub id: Uuid,
    /// What it does (`extraction`).
    pub kind: String,
    /// What it works on (an extraction: `{"contribution": id}`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts before it fails for good.
    pub max_attempts: i32,
    /// When it is due (queued) or was last due.
    pub run_at: DateTime<Utc>,
    /// The worker holding it while it runs.
    pub lease_owner: Option<String>,
    /// When that worker's lease ends unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it succeeded or failed for good.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<DbJob> for JobResponse {
    fn from(row: DbJob) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            payload: row.payload,
            state: row.state,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: row.run_at,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            last_error: row.last_error,
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
    }
}

/// A page of jobs, with the number of jobs in each state.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobsPage {
    /// Jobs per state, over the whole queue.
    pub counts: BTreeMap<String, i64>,
    /// This page, newest first.
    pub items: Vec<JobResponse>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/admin/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListJobsQuery {
    /// Only jobs in this state: `queued`, `running`, `succeeded` or `failed`.
    pub state: Option<String>,
    /// Only jobs of this kind (e.g. `extraction`).
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists the job queue, newest first, with counts per state.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", params(ListJobsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = JobsPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_jobs(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    query: web::Query<ListJobsQuery>,
) -> Result<web::Json<JobsPage>> {
    caller.require_node_admin("the job queue")?;
    let query = query.into_inner();
    let state = query
        .state
        .as_deref()
        .map(|name| {
            JobState::parse(name).ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "unknown state '{name}': use queued, running, succeeded or failed"
                ))
            })
        })
        .transpose()?;
    let limit = page_limit(query.limit)?;
    let before: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = pool.get().await?;
    let kind = query.kind.as_deref();
    let rows = service::list(&mut conn, state, kind, before, limit + 1).await?;
    let page = paginate(rows, limit, |row| row.id, JobResponse::from);
    let counts = service::counts(&mut conn)
        .await?
        .into_iter()
        .map(|(state, count)| (state.as_str().to_owned(), count))
        .collect();
    Ok(web::Json(JobsPage {
        counts,
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Queues a failed job again with fresh attempts.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "admin",
    params(("id" = Uuid, Path, description = "Job id")), security(("bearer" = [])),
    responses((status = 202, description = "Queued again"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn retry_job(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    caller.require_node_admin("the job queue")?;
    let mut conn = pool.get().await?;
    service::retry(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Discards a job that is not running.
#[utoipa::path(delete, path = "/api/v1/admin/jobs/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "Job id")), security(("bearer" = [])),
    responses((status = 204, description = "Discarded"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn discard_job(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    caller.require_node_admin("the job queue")?;
    let mut conn = pool.get().await?;
    service::discard(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
