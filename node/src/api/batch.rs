//! `POST /api/v1/convergences/{slug}/batch`: atomic bulk writes.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Writer;
use crate::db::DbPool;
use crate::domain::{ArtifactKind, Author, Body, Dimensions, EdgeWeight, RelationshipKind, Title};
use crate::error::{ErrorBody, Result};
use crate::service::artifacts::NewArtifact;
use crate::service::batch::{self as service, BatchArtifact, BatchRelationship};

use super::json::ApiJson;

/// Body of the batch endpoint: up to 1,000 artifacts and 5,000 relationships.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Artifacts to create, each with a client-side key.
    #[serde(default)]
    pub artifacts: Vec<BatchArtifactRequest>,
    /// Relationships among them and to existing artifacts.
    #[serde(default)]
    pub relationships: Vec<BatchRelationshipRequest>,
}

/// An artifact of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArtifactRequest {
    /// Client-side key, unique within the batch; relationships refer to it.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub key: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title.
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

/// A relationship of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRelationshipRequest {
    /// A key of this batch or the id of an existing artifact.
    pub source: String,
    /// A key of this batch or the id of an existing artifact.
    pub target: String,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in (0, 1]; 1 when omitted.
    #[serde(default)]
    pub weight: EdgeWeight,
}

/// What a batch created.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// The id given to each artifact, in request order.
    pub artifacts: Vec<BatchArtifactCreated>,
    /// The id of each relationship, in request order.
    pub relationships: Vec<BatchRelationshipCreated>,
}

/// An artifact created by a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchArtifactCreated {
    /// The client's key.
    pub key: String,
    /// The new artifact's id.
    pub id: Uuid,
}

/// A relationship created by a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRelationshipCreated {
    /// The new relationship's id.
    pub id: Uuid,
}

/// Writes artifacts and relationships atomically: one bad item rejects the whole batch with an
/// error naming it (`item`), and nothing is stored.
#[utoipa::path(post, path = "/api/v1/convergences/{slug}/batch", tag = "artifacts",
    params(("slug" = String, Path, description = "Convergence slug")),
    request_body = BatchRequest,
    security(("bearer" = [])),
    responses((status = 201, body = BatchResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply_batch(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    slug: web::Path<String>,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<HttpResponse> {
    let artifacts = body
        .artifacts
        .into_iter()
        .map(|item| BatchArtifact {
            key: item.key,
            artifact: NewArtifact {
                kind: item.kind,
                title: item.title,
                body: item.body,
                author: item.author,
                dimensions: item.dimensions,
            },
        })
        .collect();
    let relationships = body
        .relationships
        .into_iter()
        .map(|item| BatchRelationship {
            source: item.source,
            target: item.target,
            kind: item.kind,
            weight: item.weight,
        })
        .collect();
    let mut conn = pool.get().await?;
    let outcome = service::apply(&mut conn, &caller, &slug, artifacts, relationships).await?;
    Ok(HttpResponse::Created().json(BatchResponse {
        artifacts: outcome
            .artifacts
            .into_iter()
            .map(|(key, id)| BatchArtifactCreated { key, id })
            .collect(),
        relationships: outcome
            .relationships
            .into_iter()
            .map(|id| BatchRelationshipCreated { id })
            .collect(),
    }))
}
