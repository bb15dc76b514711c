//! Service tokens: for scripts and services, node-wide or for one convergence, with a role and
//! an optional expiry. Made and revoked on the command line.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{api_tokens, convergences};
use crate::domain::Slug;

use super::role::TokenRole;
use super::secret::{RandomnessError, generate_secret, hash_secret};

/// Prefix of every token secret, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "kgn_";

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The convergence named for the token does not exist.
    #[error("convergence '{0}' not found")]
    UnknownConvergence(Slug),
    /// The operating system's random source failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// No live token has this id.
    #[error("no live token with id {0}")]
    UnknownToken(Uuid),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The convergence it is limited to; node-wide when `None`.
    pub convergence: Option<Slug>,
    /// What it may do there.
    pub role: TokenRole,
    /// A note to recognise it by.
    pub label: String,
    /// When it stops being accepted; never when `None`.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenRequest {
    /// A node-wide admin token that never expires.
    pub fn node_admin(label: &str) -> Self {
        Self {
            convergence: None,
            role: TokenRole::Admin,
            label: label.to_owned(),
            expires_at: None,
        }
    }

    /// A token for convergence `slug` with `role` that never expires.
    pub fn convergence(slug: Slug, role: TokenRole, label: &str) -> Self {
        Self {
            convergence: Some(slug),
            role,
            label: label.to_owned(),
            expires_at: None,
        }
    }
}

/// Creates a token and returns its id and secret. The secret is not stored and cannot be
/// recovered.
pub async fn create_token(
    conn: &mut AsyncPgConnection,
    request: &TokenRequest,
) -> Result<(Uuid, String), TokenError> {
    let convergence_id = match &request.convergence {
        None => None,
        Some(slug) => Some(
            convergences::table
                .filter(convergences::slug.eq(slug.as_str()))
                .select(convergences::id)
                .first::<Uuid>(conn)
                .await
                .optional()?
                .ok_or_else(|| TokenError::UnknownConvergence(slug.clone()))?,
        ),
    };
    let secret = generate_secret(TOKEN_PREFIX)?;
    let id = Uuid::now_v7();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(id),
            api_tokens::token_hash.eq(hash_secret(&secret)),
            api_tokens::convergence_id.eq(convergence_id),
            api_tokens::label.eq(&request.label),
            api_tokens::role.eq(request.role.as_str()),
            api_tokens::expires_at.eq(request.expires_at),
        ))
        .execute(conn)
        .await?;
    Ok((id, secret))
}

/// A stored token, without its secret (which is never stored).
#[derive(Debug, Clone, Queryable)]
pub struct TokenInfo {
    /// Its id.
    pub id: Uuid,
    /// The convergence it is limited to; node-wide when `None`.
    pub convergence: Option<String>,
    /// Its label.
    pub label: String,
    /// Its role (`read`, `write` or `admin`).
    pub role: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Lists all tokens, oldest first.
pub async fn list_tokens(conn: &mut AsyncPgConnection) -> Result<Vec<TokenInfo>, TokenError> {
    Ok(api_tokens::table
        .left_join(convergences::table)
        .select((
            api_tokens::id,
            convergences::slug.nullable(),
            api_tokens::label,
            api_tokens::role,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::revoked_at,
        ))
        .order(api_tokens::created_at.asc())
        .load(conn)
        .await?)
}

/// Revokes a token: requests bearing it fail with 401 from now on.
pub async fn revoke_token(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), TokenError> {
    let revoked = diesel::update(api_tokens::table.find(id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(Utc::now()))
        .execute(conn)
        .await?;
    if revoked == 0 {
        return Err(TokenError::UnknownToken(id));
    }
    super::cache::credentials_changed(conn).await?;
    Ok(())
}
