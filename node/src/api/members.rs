//! `/api/v1/convergences/{slug}/members` and `/invites`: a convergence's admins manage who
//! belongs to it.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{CredentialCache, Role, Writer};
use crate::db::DbPool;
use crate::domain::Username;
use crate::error::{Error, ErrorBody, Result};
use crate::service::members::{self as service, InviteRow, MAX_INVITE_HOURS, MemberRow, NewInvite};

use super::json::ApiJson;

/// Most accounts one invite may make.
const MAX_INVITE_USES: u32 = 10_000;

/// Body of `POST /api/v1/convergences/{slug}/invites`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteRequest {
    /// The role it gives; `contributor` when omitted.
    pub role: Option<Role>,
    /// How many accounts may use it, 1 to 10,000; 1 (single use) when omitted.
    pub max_uses: Option<u32>,
    /// Hours until it expires, 1 to 8,784 (a year); 168 (a week) when omitted.
    pub expires_in_hours: Option<u32>,
}

/// An invite to a convergence.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteResponse {
    /// Its id.
    pub id: Uuid,
    /// The code to register with; only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The role it gives.
    pub role: String,
    /// How many accounts may use it.
    pub max_uses: i32,
    /// How many have.
    pub uses: i32,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl InviteResponse {
    fn new(row: InviteRow, code: Option<String>) -> Self {
        Self {
            id: row.id,
            code,
            role: row.role,
            max_uses: row.max_uses,
            uses: row.uses,
            expires_at: row.expires_at,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

fn in_range(value: Option<u32>, default: u32, max: u32, field: &str) -> Result<u32> {
    match value.unwrap_or(default) {
        value if (1..=max).contains(&value) => Ok(value),
        value => Err(Error::InvalidBody {
            field: field.to_owned(),
            message: format!("{value} is out of range: use 1 to {max}"),
        }),
    }
}

/// Makes an invite code (convergence admins).
#[utoipa::path(post, path = "/api/v1/convergences/{slug}/invites", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug")),
    request_body = CreateInviteRequest, security(("bearer" = [])),
    responses((status = 201, description = "Created; the code is shown once", body = InviteResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_invite(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    slug: web::Path<String>,
    ApiJson(body): ApiJson<CreateInviteRequest>,
) -> Result<HttpResponse> {
    let new = NewInvite {
        role: body.role.unwrap_or(Role::Contributor),
        max_uses: in_range(body.max_uses, 1, MAX_INVITE_USES, "max_uses")?,
        expires_in_hours: in_range(
            body.expires_in_hours,
            168,
            MAX_INVITE_HOURS,
            "expires_in_hours",
        )?,
    };
    let mut conn = pool.get().await?;
    let (row, code) = service::create_invite(&mut conn, &caller, &slug, new).await?;
    Ok(HttpResponse::Created().json(InviteResponse::new(row, Some(code))))
}

/// Lists a convergence's invites, newest first (convergence admins).
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/invites", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<InviteResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_invites(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    slug: web::Path<String>,
) -> Result<web::Json<Vec<InviteResponse>>> {
    let mut conn = pool.get().await?;
    let rows = service::list_invites(&mut conn, &caller, &slug).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|row| InviteResponse::new(row, None))
            .collect(),
    ))
}

/// Revokes an invite (convergence admins).
#[utoipa::path(delete, path = "/api/v1/convergences/{slug}/invites/{id}", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug"),
        ("id" = Uuid, Path, description = "Invite id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_invite(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse> {
    let (slug, id) = path.into_inner();
    let mut conn = pool.get().await?;
    service::revoke_invite(&mut conn, &caller, &slug, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A member of a convergence.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResponse {
    /// Their username.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Their role.
    pub role: String,
    /// Since when they are a member.
    pub since: DateTime<Utc>,
}

impl From<MemberRow> for MemberResponse {
    fn from(row: MemberRow) -> Self {
        Self {
            username: row.username,
            display_name: row.display_name,
            role: row.role,
            since: row.since,
        }
    }
}

/// Lists a convergence's members by username (convergence admins).
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/members", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<MemberResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list_members(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    slug: web::Path<String>,
) -> Result<web::Json<Vec<MemberResponse>>> {
    let mut conn = pool.get().await?;
    let rows = service::list_members(&mut conn, &caller, &slug).await?;
    Ok(web::Json(
        rows.into_iter().map(MemberResponse::from).collect(),
    ))
}

/// Body of `PUT /api/v1/convergences/{slug}/members/{username}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// The role.
    pub role: Role,
}

fn username(text: String) -> Result<Username> {
    Username::try_from(text).map_err(|e| Error::InvalidParameter(e.0))
}

/// Gives a participant a role in the convergence, adding them if they were not a member
/// (convergence admins).
#[utoipa::path(put, path = "/api/v1/convergences/{slug}/members/{username}", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug"),
        ("username" = String, Path, description = "The participant")),
    request_body = SetRoleRequest, security(("bearer" = [])),
    responses((status = 204, description = "Set"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_role(
    pool: web::Data<DbPool>,
    cache: web::Data<CredentialCache>,
    Writer(caller): Writer,
    path: web::Path<(String, String)>,
    ApiJson(body): ApiJson<SetRoleRequest>,
) -> Result<HttpResponse> {
    let (slug, name) = path.into_inner();
    let name = username(name)?;
    let mut conn = pool.get().await?;
    service::set_role(&mut conn, &caller, &slug, &name, body.role).await?;
    cache.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a participant from the convergence (convergence admins).
#[utoipa::path(delete, path = "/api/v1/convergences/{slug}/members/{username}", tag = "members",
    params(("slug" = String, Path, description = "Convergence slug"),
        ("username" = String, Path, description = "The participant")),
    security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    pool: web::Data<DbPool>,
    cache: web::Data<CredentialCache>,
    Writer(caller): Writer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (slug, name) = path.into_inner();
    let name = username(name)?;
    let mut conn = pool.get().await?;
    service::remove(&mut conn, &caller, &slug, &name).await?;
    cache.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}
