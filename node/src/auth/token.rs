//! Token secrets: generated from the OS CSPRNG, shown once, stored as SHA-256 digests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::schema::{api_tokens, convergences};
use crate::domain::Slug;

/// Prefix of every token secret, so that leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "kgn_";

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The convergence named for the token does not exist.
    #[error("convergence '{0}' not found")]
    UnknownConvergence(Slug),
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Randomness(String),
    /// No live token has this id.
    #[error("no live token with id {0}")]
    UnknownToken(Uuid),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// A fresh token secret: the prefix and 32 random bytes, base64url-encoded.
pub fn generate_secret() -> Result<String, TokenError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| TokenError::Randomness(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The digest under which a secret is stored and looked up.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Creates a token, node-wide or for one convergence, and returns its id and secret. The secret
/// is not stored and cannot be recovered.
pub async fn create_token(
    conn: &mut AsyncPgConnection,
    convergence: Option<&Slug>,
    label: &str,
) -> Result<(Uuid, String), TokenError> {
    let convergence_id = match convergence {
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
    let secret = generate_secret()?;
    let id = Uuid::now_v7();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(id),
            api_tokens::token_hash.eq(hash_secret(&secret)),
            api_tokens::convergence_id.eq(convergence_id),
            api_tokens::label.eq(label),
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
    /// When it was created.
    pub created_at: DateTime<Utc>,
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
            api_tokens::created_at,
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_hash_to_32_bytes() {
        let a = generate_secret().unwrap_or_default();
        let b = generate_secret().unwrap_or_default();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 32);
    }
}
