//! `/api/v1/convergences` and `/api/v1/convergences/{slug}`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Writer};
use crate::db::{DbConvergence, DbPool};
use crate::domain::{Description, Name, Slug, Visibility};
use crate::error::{ErrorBody, Result};
use crate::service::convergences::{self as service, ConvergencePatch, NewConvergence};

use super::consistency::ReadDb;
use super::json::ApiJson;
use super::pagination::{Page, decode_cursor, page_limit, paginate};
use super::state::NodeInfo;

/// Body of `POST /api/v1/convergences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConvergenceRequest {
    /// Unique URL-safe slug.
    pub slug: Slug,
    /// Display name.
    pub name: Name,
    /// Free-text description.
    #[serde(default)]
    pub description: Description,
    /// Who may read it; `public` when omitted.
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

/// Body of `PATCH /api/v1/convergences/{slug}`: fields given are changed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConvergenceRequest {
    /// New display name.
    pub name: Option<Name>,
    /// New description.
    pub description: Option<Description>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// A convergence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConvergenceResponse {
    /// Its id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// `public` or `private`.
    pub visibility: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// For a convergence followed on another node: its `Group` actor there. Such a mirror is
    /// read-only here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl From<DbConvergence> for ConvergenceResponse {
    fn from(row: DbConvergence) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            description: row.description,
            visibility: row.visibility,
            created_at: row.created_at,
            updated_at: row.updated_at,
            origin: row.origin_url,
        }
    }
}

/// Query of `GET /api/v1/convergences`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListConvergencesQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates a convergence (node-wide token).
#[utoipa::path(post, path = "/api/v1/convergences", tag = "convergences",
    request_body = CreateConvergenceRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ConvergenceResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Slug taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_convergence(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    Writer(caller): Writer,
    ApiJson(body): ApiJson<CreateConvergenceRequest>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    let new = NewConvergence {
        slug: body.slug,
        name: body.name,
        description: body.description,
        visibility: body.visibility.unwrap_or(Visibility::Public),
    };
    let row = service::create(&mut conn, &caller, new).await?;
    let location = node.url(&format!("/api/v1/convergences/{}", row.slug));
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(ConvergenceResponse::from(row)))
}

/// Lists the convergences the caller may read, by slug.
#[utoipa::path(get, path = "/api/v1/convergences", tag = "convergences",
    params(ListConvergencesQuery),
    responses((status = 200, body = Page<ConvergenceResponse>), (status = 400, body = ErrorBody)))]
pub async fn list_convergences(
    db: ReadDb,
    caller: Caller,
    query: web::Query<ListConvergencesQuery>,
) -> Result<web::Json<Page<ConvergenceResponse>>> {
    let limit = page_limit(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = db.conn().await?;
    let rows = service::list(&mut conn, &caller, after.as_deref(), limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| row.slug.clone(),
        ConvergenceResponse::from,
    )))
}

/// Reads one convergence.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}", tag = "convergences",
    params(("slug" = String, Path, description = "Convergence slug")),
    responses((status = 200, body = ConvergenceResponse), (status = 404, body = ErrorBody)))]
pub async fn get_convergence(
    db: ReadDb,
    caller: Caller,
    slug: web::Path<String>,
) -> Result<web::Json<ConvergenceResponse>> {
    let mut conn = db.conn().await?;
    let row = service::find_readable(&mut conn, &caller, &slug).await?;
    Ok(web::Json(row.into()))
}

/// Changes a convergence's name, description or visibility.
#[utoipa::path(patch, path = "/api/v1/convergences/{slug}", tag = "convergences",
    params(("slug" = String, Path, description = "Convergence slug")),
    request_body = UpdateConvergenceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ConvergenceResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_convergence(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    slug: web::Path<String>,
    ApiJson(body): ApiJson<UpdateConvergenceRequest>,
) -> Result<web::Json<ConvergenceResponse>> {
    let mut conn = pool.get().await?;
    let patch = ConvergencePatch {
        name: body.name,
        description: body.description,
        visibility: body.visibility,
    };
    let row = service::update(&mut conn, &caller, &slug, patch).await?;
    Ok(web::Json(row.into()))
}
