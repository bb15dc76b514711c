//! Row types, one per table, exactly as stored. Conversions into domain and wire types live with
//! the services that use them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{
    artifact_dimensions, artifact_relationships, artifacts, contributions, convergences,
};

/// A row of `convergences`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = convergences, check_for_backend(diesel::pg::Pg))]
pub struct DbConvergence {
    /// The `id` column.
    pub id: Uuid,
    /// The `slug` column.
    pub slug: String,
    /// The `name` column.
    pub name: String,
    /// The `description` column.
    pub description: String,
    /// The `visibility` column.
    pub visibility: String,
    /// The `created_at` column.
    pub created_at: DateTime<Utc>,
    /// The `updated_at` column.
    pub updated_at: DateTime<Utc>,
    /// The `origin_url` column: the `Group` this convergence mirrors; `None` when local.
    pub origin_url: Option<String>,
}

/// A row of `artifacts`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = artifacts, check_for_backend(diesel::pg::Pg))]
pub struct DbArtifact {
    /// The `id` column.
    pub id: Uuid,
    /// The `convergence_id` column.
    pub convergence_id: Uuid,
    /// The `kind` column.
    pub kind: String,
    /// The `title` column.
    pub title: String,
    /// The `body` column.
    pub body: String,
    /// The `author` column.
    pub author: Option<String>,
    /// The `version` column.
    pub version: i32,
    /// The `created_at` column.
    pub created_at: DateTime<Utc>,
    /// The `updated_at` column.
    pub updated_at: DateTime<Utc>,
    /// The `deleted_at` column.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The `origin_url` column: the artifact's URL on its origin node; `None` when local.
    pub origin_url: Option<String>,
    /// The `contribution_id` column: the contribution it was extracted from, if any.
    pub contribution_id: Option<Uuid>,
    /// The `created_by` column: the participant who made it, if one did.
    pub created_by: Option<Uuid>,
}

/// A row of `artifact_dimensions`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = artifact_dimensions, check_for_backend(diesel::pg::Pg))]
pub struct DbDimension {
    /// The `artifact_id` column.
    pub artifact_id: Uuid,
    /// The `dimension` column.
    pub dimension: String,
    /// The `weight` column.
    pub weight: f64,
}

/// A row of `artifact_relationships`.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = artifact_relationships, check_for_backend(diesel::pg::Pg))]
pub struct DbRelationship {
    /// The `id` column.
    pub id: Uuid,
    /// The `source_id` column.
    pub source_id: Uuid,
    /// The `target_id` column.
    pub target_id: Uuid,
    /// The `kind` column.
    pub kind: String,
    /// The `weight` column.
    pub weight: f64,
    /// The `created_at` column.
    pub created_at: DateTime<Utc>,
    /// The `contribution_id` column: the contribution it was extracted from, if any.
    pub contribution_id: Option<Uuid>,
    /// The `created_by` column: the participant who made it, if one did.
    pub created_by: Option<Uuid>,
}

/// A row of `contributions`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contributions, check_for_backend(diesel::pg::Pg))]
pub struct DbContribution {
    /// The `id` column.
    pub id: Uuid,
    /// The `convergence_id` column.
    pub convergence_id: Uuid,
    /// The `author` column.
    pub author: Option<String>,
    /// The `text` column.
    pub text: String,
    /// The `status` column.
    pub status: String,
    /// The `attempts` column.
    pub attempts: i32,
    /// The `error` column: the last failure, for people.
    pub error: Option<String>,
    /// The `job_id` column: its extraction job.
    pub job_id: Option<Uuid>,
    /// The `reused` column: existing artifacts it was linked to instead of duplicating them.
    pub reused: Vec<Option<Uuid>>,
    /// The `created_at` column.
    pub created_at: DateTime<Utc>,
    /// The `updated_at` column.
    pub updated_at: DateTime<Utc>,
    /// The `completed_at` column.
    pub completed_at: Option<DateTime<Utc>>,
    /// The `created_by` column: the participant who posted it, if one did.
    pub created_by: Option<Uuid>,
}
