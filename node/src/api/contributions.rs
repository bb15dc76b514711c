//! `/api/v1/convergences/{slug}/contributions` and `/api/v1/contributions/{id}`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Writer};
use crate::config::JobSettings;
use crate::db::{ContributionRecord, DbPool};
use crate::domain::{Author, ContributionStatus, ContributionText};
use crate::error::{ErrorBody, Result};
use crate::service::contributions::{self as service, NewContribution};

use super::consistency::ReadDb;
use super::json::ApiJson;
use super::pagination::{Page, decode_cursor, page_limit, paginate};
use super::state::NodeInfo;

/// Body of `POST /api/v1/convergences/{slug}/contributions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContributionRequest {
    /// What was said or written: 1 to 50,000 characters after trimming.
    pub text: ContributionText,
    /// Who contributed it, free-form.
    pub author: Option<Author>,
}

/// A contribution and what its extraction made of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContributionResponse {
    /// Its id.
    pub id: Uuid,
    /// Slug of its convergence.
    pub convergence: String,
    /// Who contributed it.
    pub author: Option<String>,
    /// Its text.
    pub text: String,
    /// `pending`, `processing`, `complete` or `failed`.
    pub status: ContributionStatus,
    /// Extraction attempts so far.
    pub attempts: i32,
    /// The last failure, for people.
    pub error: Option<String>,
    /// Artifacts extracted from it.
    pub artifacts: Vec<Uuid>,
    /// Relationships extracted from it.
    pub relationships: Vec<Uuid>,
    /// Existing artifacts it was linked to instead of creating duplicates.
    pub reused: Vec<Uuid>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
    /// When its extraction completed.
    pub completed_at: Option<DateTime<Utc>>,
}

impl ContributionResponse {
    /// The view of `record`, a contribution of convergence `slug`.
    pub fn new(record: ContributionRecord, slug: &str) -> Self {
        let row = record.row;
        Self {
            id: row.id,
            convergence: slug.to_owned(),
            author: row.author,
            text: row.text,
            status: ContributionStatus::parse(&row.status).unwrap_or(ContributionStatus::Pending),
            attempts: row.attempts,
            error: row.error,
            artifacts: record.artifacts,
            relationships: record.relationships,
            reused: row.reused.into_iter().flatten().collect(),
            created_at: row.created_at,
            completed_at: row.completed_at,
        }
    }
}

/// Query of `GET /api/v1/convergences/{slug}/contributions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListContributionsQuery {
    /// Only contributions in this status.
    pub status: Option<ContributionStatus>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Receives a contribution; its extraction runs as a job (follow it at the `Location`, or on
/// the event stream).
#[utoipa::path(post, path = "/api/v1/convergences/{slug}/contributions", tag = "contributions",
    params(("slug" = String, Path, description = "Convergence slug")),
    request_body = CreateContributionRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted; Location names it", body = ContributionResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_contribution(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    jobs: web::Data<JobSettings>,
    Writer(caller): Writer,
    slug: web::Path<String>,
    ApiJson(body): ApiJson<CreateContributionRequest>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    let new = NewContribution {
        text: body.text,
        author: body.author,
    };
    let record = service::create(&mut conn, &caller, &slug, new, jobs.max_attempts).await?;
    let location = node.url(&format!("/api/v1/contributions/{}", record.row.id));
    Ok(HttpResponse::Accepted()
        .insert_header((LOCATION, location))
        .json(ContributionResponse::new(record, &slug)))
}

/// Reads a contribution with its extraction's status and products.
#[utoipa::path(get, path = "/api/v1/contributions/{id}", tag = "contributions",
    params(("id" = Uuid, Path, description = "Contribution id")),
    responses((status = 200, body = ContributionResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_contribution(
    db: ReadDb,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<web::Json<ContributionResponse>> {
    let mut conn = db.conn().await?;
    let (record, convergence) = service::get(&mut conn, &caller, *id).await?;
    Ok(web::Json(ContributionResponse::new(
        record,
        &convergence.slug,
    )))
}

/// Lists a convergence's contributions, newest first.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/contributions", tag = "contributions",
    params(("slug" = String, Path, description = "Convergence slug"), ListContributionsQuery),
    responses((status = 200, body = Page<ContributionResponse>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_contributions(
    db: ReadDb,
    caller: Caller,
    slug: web::Path<String>,
    query: web::Query<ListContributionsQuery>,
) -> Result<web::Json<Page<ContributionResponse>>> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let before: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = db.conn().await?;
    let (records, convergence) =
        service::list(&mut conn, &caller, &slug, query.status, before, limit + 1).await?;
    Ok(web::Json(paginate(
        records,
        limit,
        |record| record.row.id,
        |record| ContributionResponse::new(record, &convergence.slug),
    )))
}

/// Queues a failed contribution's extraction again.
#[utoipa::path(post, path = "/api/v1/contributions/{id}/retry", tag = "contributions",
    params(("id" = Uuid, Path, description = "Contribution id")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued again", body = ContributionResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry_contribution(
    pool: web::Data<DbPool>,
    jobs: web::Data<JobSettings>,
    Writer(caller): Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    service::retry(&mut conn, &caller, *id, jobs.max_attempts).await?;
    let (record, convergence) = service::get(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::Accepted().json(ContributionResponse::new(record, &convergence.slug)))
}
