//! `/api/v1/convergences/{slug}/artifacts` and `/api/v1/artifacts/{id}`.

use std::collections::BTreeMap;

use actix_web::http::header::{ETAG, IF_MATCH, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Writer};
use crate::db::DbPool;
use crate::domain::{ArtifactKind, Author, Body, DimensionName, Dimensions, Title};
use crate::error::{Error, ErrorBody, Result};
use crate::service::ArtifactWithDimensions;
use crate::service::artifacts::{self as service, ArtifactFilter, ArtifactPatch, NewArtifact};

use super::consistency::ReadDb;
use super::json::ApiJson;
use super::pagination::{Page, decode_cursor, page_limit, paginate};
use super::state::NodeInfo;

/// Body of `POST /api/v1/convergences/{slug}/artifacts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArtifactRequest {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title (1 to 500 characters).
    pub title: Title,
    /// Its Markdown body.
    #[serde(default)]
    pub body: Body,
    /// Who wrote it.
    #[serde(default)]
    pub author: Option<Author>,
    /// Dimension tags with weights in [0, 1].
    #[serde(default)]
    pub dimensions: Dimensions,
}

impl From<CreateArtifactRequest> for NewArtifact {
    fn from(request: CreateArtifactRequest) -> Self {
        NewArtifact {
            kind: request.kind,
            title: request.title,
            body: request.body,
            author: request.author,
            dimensions: request.dimensions,
        }
    }
}

/// Body of `PATCH /api/v1/artifacts/{id}`: fields given are changed; `dimensions` replaces the
/// whole set. The version read must be sent here or as `If-Match`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArtifactRequest {
    /// The version the client read (alternative to `If-Match`).
    #[schema(minimum = 1)]
    pub version: Option<i32>,
    /// New kind.
    pub kind: Option<ArtifactKind>,
    /// New title.
    pub title: Option<Title>,
    /// New body.
    pub body: Option<Body>,
    /// New author.
    pub author: Option<Author>,
    /// New dimension set.
    pub dimensions: Option<Dimensions>,
}

/// An artifact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactResponse {
    /// Its id.
    pub id: Uuid,
    /// Slug of its convergence.
    pub convergence: String,
    /// What it is.
    pub kind: String,
    /// Its title.
    pub title: String,
    /// Its Markdown body.
    pub body: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// Dimension tags with weights.
    pub dimensions: BTreeMap<String, f64>,
    /// Starts at 1, +1 on every change.
    pub version: i32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The contribution it was extracted from; null when made by hand.
    pub contribution: Option<Uuid>,
}

impl From<ArtifactWithDimensions> for ArtifactResponse {
    fn from(value: ArtifactWithDimensions) -> Self {
        let row = value.artifact;
        Self {
            id: row.id,
            convergence: value.convergence,
            kind: row.kind,
            title: row.title,
            body: row.body,
            author: row.author,
            dimensions: value.dimensions.into_iter().collect(),
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            contribution: row.contribution_id,
        }
    }
}

/// Query of `GET /api/v1/convergences/{slug}/artifacts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListArtifactsQuery {
    /// Only this kind.
    pub kind: Option<ArtifactKind>,
    /// Only artifacts tagged with this dimension.
    #[param(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub dimension: Option<DimensionName>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Query of `DELETE /api/v1/artifacts/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteArtifactQuery {
    /// Delete only if this is still the current version (alternative to `If-Match`).
    #[param(minimum = 1)]
    pub version: Option<i32>,
}

fn etag(version: i32) -> (actix_web::http::header::HeaderName, String) {
    (ETAG, format!("\"{version}\""))
}

/// The version named by an `If-Match` header (`"3"`, `W/"3"` or `3`), if any.
fn if_match_version(req: &HttpRequest) -> Result<Option<i32>> {
    let Some(value) = req.headers().get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<i32>().map(Some).map_err(|_| {
        Error::InvalidParameter(format!(
            "If-Match must carry an artifact version such as \"3\", not {text}"
        ))
    })
}

/// Combines `If-Match` and a `version` given in the body or query; they must agree.
fn expected_version(req: &HttpRequest, given: Option<i32>) -> Result<Option<i32>> {
    match (if_match_version(req)?, given) {
        (Some(header), Some(field)) if header != field => Err(Error::InvalidParameter(format!(
            "If-Match names version {header} but the request names version {field}"
        ))),
        (_, Some(field)) if field < 1 => Err(Error::Unprocessable(format!(
            "version {field} is not a version: versions start at 1"
        ))),
        (Some(header), _) if header < 1 => Err(Error::InvalidParameter(format!(
            "If-Match names version {header}: versions start at 1"
        ))),
        (header, field) => Ok(header.or(field)),
    }
}

/// Creates an artifact with its dimension tags.
#[utoipa::path(post, path = "/api/v1/convergences/{slug}/artifacts", tag = "artifacts",
    params(("slug" = String, Path, description = "Convergence slug")),
    request_body = CreateArtifactRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; Location names it", body = ArtifactResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_artifact(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    Writer(caller): Writer,
    slug: web::Path<String>,
    ApiJson(body): ApiJson<CreateArtifactRequest>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    let created = service::create(&mut conn, &caller, &slug, body.into()).await?;
    let location = node.url(&format!("/api/v1/artifacts/{}", created.artifact.id));
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location))
        .insert_header(etag(created.artifact.version))
        .json(ArtifactResponse::from(created)))
}

/// Lists the live artifacts of a convergence, oldest first.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/artifacts", tag = "artifacts",
    params(("slug" = String, Path, description = "Convergence slug"), ListArtifactsQuery),
    responses((status = 200, body = Page<ArtifactResponse>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_artifacts(
    db: ReadDb,
    caller: Caller,
    slug: web::Path<String>,
    query: web::Query<ListArtifactsQuery>,
) -> Result<web::Json<Page<ArtifactResponse>>> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let filter = ArtifactFilter {
        kind: query.kind,
        dimension: query.dimension,
    };
    let mut conn = db.conn().await?;
    let rows = service::list(&mut conn, &caller, &slug, &filter, after, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| row.artifact.id,
        ArtifactResponse::from,
    )))
}

/// Reads an artifact; its version is also sent as the `ETag`.
#[utoipa::path(get, path = "/api/v1/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id")),
    responses((status = 200, body = ArtifactResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 410, description = "Deleted", body = ErrorBody)))]
pub async fn get_artifact(db: ReadDb, caller: Caller, id: web::Path<Uuid>) -> Result<HttpResponse> {
    let mut conn = db.conn().await?;
    let found = service::get(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(found.artifact.version))
        .json(ArtifactResponse::from(found)))
}

/// Changes an artifact if the version the client read is still current.
#[utoipa::path(patch, path = "/api/v1/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id"),
        ("If-Match" = Option<String>, Header, description = "The version read, e.g. \"3\"")),
    request_body = UpdateArtifactRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ArtifactResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 412, description = "Stale version; nothing changed", body = ErrorBody),
        (status = 428, description = "No version given", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_artifact(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    req: HttpRequest,
    id: web::Path<Uuid>,
    ApiJson(body): ApiJson<UpdateArtifactRequest>,
) -> Result<HttpResponse> {
    let expected = expected_version(&req, body.version)?.ok_or(Error::VersionRequired)?;
    let patch = ArtifactPatch {
        kind: body.kind,
        title: body.title,
        body: body.body,
        author: body.author,
        dimensions: body.dimensions,
    };
    let mut conn = pool.get().await?;
    let updated = service::update(&mut conn, &caller, *id, expected, patch).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(updated.artifact.version))
        .json(ArtifactResponse::from(updated)))
}

/// Soft-deletes an artifact and removes its relationships.
#[utoipa::path(delete, path = "/api/v1/artifacts/{id}", tag = "artifacts",
    params(("id" = Uuid, Path, description = "Artifact id"), DeleteArtifactQuery,
        ("If-Match" = Option<String>, Header, description = "Delete only this version")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 412, body = ErrorBody)))]
pub async fn delete_artifact(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    req: HttpRequest,
    id: web::Path<Uuid>,
    query: web::Query<DeleteArtifactQuery>,
) -> Result<HttpResponse> {
    let expected = expected_version(&req, query.version)?;
    let mut conn = pool.get().await?;
    service::delete(&mut conn, &caller, *id, expected).await?;
    Ok(HttpResponse::NoContent().finish())
}
