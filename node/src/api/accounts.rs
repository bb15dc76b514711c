//! `/api/v1/accounts`, `/api/v1/sessions` and `/api/v1/me`: registration, login, logout and
//! who the caller is.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{CredentialCache, PasswordHashing, Principal, TokenRole, Writer, end_session};
use crate::config::AccountSettings;
use crate::db::DbPool;
use crate::domain::{Password, Username};
use crate::error::{Error, ErrorBody, Result};
use crate::limits::{ClientIp, RateLimits};
use crate::service::accounts::{self as service, NewAccount, ParticipantRow};

use super::json::ApiJson;

/// What the account endpoints need: the settings and the password hasher.
pub struct Accounts {
    /// `[accounts]`.
    pub settings: AccountSettings,
    /// Hashes with the configured argon2id parameters.
    pub hashing: PasswordHashing,
}

/// Body of `POST /api/v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 2 to 32 characters of a-z, 0-9 and `_`.
    pub username: Username,
    /// At least `accounts.min_password_chars` characters.
    pub password: Password,
    /// The name shown to others; the username when omitted.
    pub display_name: Option<String>,
    /// An invite code from a convergence admin (required when `accounts.registration` is
    /// `invite`); it makes the new account a member with the invite's role.
    pub invite: Option<String>,
}

/// A participant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantResponse {
    /// Their id.
    pub id: Uuid,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Whether they administer the node.
    pub node_admin: bool,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
}

impl From<ParticipantRow> for ParticipantResponse {
    fn from(row: ParticipantRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            node_admin: row.node_admin,
            created_at: row.created_at,
        }
    }
}

/// A role in a convergence.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipResponse {
    /// The convergence's slug.
    pub convergence: String,
    /// The role there.
    pub role: String,
}

/// Answer of `POST /api/v1/accounts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredResponse {
    /// The new account.
    pub participant: ParticipantResponse,
    /// The membership its invite gave, if any.
    pub membership: Option<MembershipResponse>,
}

/// Creates an account, as `accounts.registration` allows.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = RegisteredResponse),
        (status = 403, description = "Registration closed, or needs an invite", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field or unusable invite", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn register(
    pool: web::Data<DbPool>,
    accounts: web::Data<Accounts>,
    limits: web::Data<RateLimits>,
    ip: ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<HttpResponse> {
    limits.check_login(ip, body.username.as_str())?;
    let account = NewAccount {
        username: body.username,
        password: body.password,
        display_name: body.display_name,
        invite: body.invite,
    };
    let mut conn = pool.get().await?;
    let (row, membership) =
        service::register(&mut conn, &accounts.settings, &accounts.hashing, account).await?;
    Ok(HttpResponse::Created().json(RegisteredResponse {
        participant: row.into(),
        membership: membership.map(|(convergence, role)| MembershipResponse {
            convergence,
            role: role.as_str().to_owned(),
        }),
    }))
}

/// Body of `POST /api/v1/sessions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username.
    pub username: String,
    /// The password.
    pub password: Password,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer <token>`; shown once.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub participant: ParticipantResponse,
}

/// Signs in: checks the username and password and starts a session.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Signed in", body = SessionResponse),
        (status = 401, description = "Unknown username or wrong password", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody)))]
pub async fn login(
    pool: web::Data<DbPool>,
    accounts: web::Data<Accounts>,
    limits: web::Data<RateLimits>,
    ip: ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse> {
    limits.check_login(ip, &body.username)?;
    let mut conn = pool.get().await?;
    let (row, session) = service::login(
        &mut conn,
        &accounts.settings,
        &accounts.hashing,
        &body.username,
        &body.password,
    )
    .await?;
    Ok(HttpResponse::Created().json(SessionResponse {
        token: session.secret,
        expires_at: session.expires_at,
        participant: row.into(),
    }))
}

/// Signs out: the session's token stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out"),
        (status = 401, body = ErrorBody),
        (status = 422, description = "The credentials are a service token", body = ErrorBody)))]
pub async fn logout(
    pool: web::Data<DbPool>,
    cache: web::Data<CredentialCache>,
    Writer(caller): Writer,
) -> Result<HttpResponse> {
    let Principal::Participant { session, .. } = caller.principal() else {
        return Err(Error::Unprocessable(
            "these credentials are a service token, not a session: revoke it instead".into(),
        ));
    };
    let mut conn = pool.get().await?;
    end_session(&mut conn, *session).await?;
    // Other processes hear of it from PostgreSQL; this one forgets at once.
    cache.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeResponse {
    /// A signed-in participant.
    Participant {
        /// The account.
        participant: ParticipantResponse,
        /// Their roles, by convergence slug.
        memberships: Vec<MembershipResponse>,
    },
    /// A service token.
    Token {
        /// The token's id.
        id: Uuid,
        /// Its role.
        role: TokenRole,
        /// The convergence it is limited to, if one (its id).
        convergence_id: Option<Uuid>,
    },
}

/// The caller: the signed-in participant and their roles, or the service token.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(pool: web::Data<DbPool>, Writer(caller): Writer) -> Result<web::Json<MeResponse>> {
    match caller.principal() {
        Principal::Participant { id, .. } => {
            let mut conn = pool.get().await?;
            let (row, roles) = service::profile(&mut conn, *id).await?;
            Ok(web::Json(MeResponse::Participant {
                participant: row.into(),
                memberships: roles
                    .into_iter()
                    .map(|(convergence, role)| MembershipResponse { convergence, role })
                    .collect(),
            }))
        }
        Principal::Token { id, scope, role } => Ok(web::Json(MeResponse::Token {
            id: *id,
            role: *role,
            convergence_id: *scope,
        })),
        Principal::Anonymous | Principal::System => Err(Error::Unauthenticated),
    }
}
