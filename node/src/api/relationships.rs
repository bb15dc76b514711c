//! `/api/v1/relationships` and `/api/v1/artifacts/{id}/relationships`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Writer};
use crate::db::{DbPool, DbRelationship};
use crate::domain::{Direction, EdgeWeight, RelationshipKind};
use crate::error::{ErrorBody, Result};
use crate::service::relationships::{self as service, NewRelationship};

use super::consistency::ReadDb;
use super::json::ApiJson;
use super::pagination::{Page, decode_cursor, page_limit, paginate};
use super::state::NodeInfo;

/// Body of `POST /api/v1/relationships`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRelationshipRequest {
    /// Id of the source artifact.
    pub source: Uuid,
    /// Id of the target artifact.
    pub target: Uuid,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in (0, 1]; 1 when omitted.
    #[serde(default)]
    pub weight: EdgeWeight,
}

/// A relationship.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationshipResponse {
    /// Its id.
    pub id: Uuid,
    /// Id of the source artifact.
    pub source: Uuid,
    /// Id of the target artifact.
    pub target: Uuid,
    /// How the source relates to the target.
    pub kind: String,
    /// Strength in (0, 1].
    pub weight: f64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The contribution it was extracted from; null when made by hand.
    pub contribution: Option<Uuid>,
}

impl From<DbRelationship> for RelationshipResponse {
    fn from(row: DbRelationship) -> Self {
        Self {
            id: row.id,
            source: row.source_id,
            target: row.target_id,
            kind: row.kind,
            weight: row.weight,
            created_at: row.created_at,
            contribution: row.contribution_id,
        }
    }
}

/// Query of `GET /api/v1/artifacts/{id}/relationships`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListRelationshipsQuery {
    /// `out` (default), `in` or `both`.
    pub direction: Option<Direction>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates a relationship between two existing artifacts.
#[utoipa::path(post, path = "/api/v1/relationships", tag = "relationships",
    request_body = CreateRelationshipRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RelationshipResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Duplicate", body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_relationship(
    pool: web::Data<DbPool>,
    node: web::Data<NodeInfo>,
    Writer(caller): Writer,
    ApiJson(body): ApiJson<CreateRelationshipRequest>,
) -> Result<HttpResponse> {
    let new = NewRelationship {
        source: body.source,
        target: body.target,
        kind: body.kind,
        weight: body.weight,
    };
    let mut conn = pool.get().await?;
    let row = service::create(&mut conn, &caller, new).await?;
    let location = node.url(&format!("/api/v1/relationships/{}", row.id));
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location))
        .json(RelationshipResponse::from(row)))
}

/// Deletes a relationship.
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", tag = "relationships",
    params(("id" = Uuid, Path, description = "Relationship id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_relationship(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    id: web::Path<Uuid>,
) -> Result<HttpResponse> {
    let mut conn = pool.get().await?;
    service::delete(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists an artifact's relationships whose other end the caller may read.
#[utoipa::path(get, path = "/api/v1/artifacts/{id}/relationships", tag = "relationships",
    params(("id" = Uuid, Path, description = "Artifact id"), ListRelationshipsQuery),
    responses((status = 200, body = Page<RelationshipResponse>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_artifact_relationships(
    db: ReadDb,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<ListRelationshipsQuery>,
) -> Result<web::Json<Page<RelationshipResponse>>> {
    let limit = page_limit(query.limit)?;
    let after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let direction = query.direction.unwrap_or(Direction::Out);
    let mut conn = db.conn().await?;
    let rows =
        service::list_for_artifact(&mut conn, &caller, *id, direction, after, limit + 1).await?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| row.id,
        RelationshipResponse::from,
    )))
}

/// Reads one relationship.
#[utoipa::path(get, path = "/api/v1/relationships/{id}", tag = "relationships",
    params(("id" = Uuid, Path, description = "Relationship id")),
    responses((status = 200, body = RelationshipResponse), (status = 404, body = ErrorBody)))]
pub async fn get_relationship(
    db: ReadDb,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<web::Json<RelationshipResponse>> {
    let mut conn = db.conn().await?;
    Ok(web::Json(
        service::get(&mut conn, &caller, *id).await?.into(),
    ))
}
