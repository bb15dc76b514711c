//! Participant sessions: a bearer secret per login, stored hashed, with an expiry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::now;
use crate::db::schema::sessions;

use super::secret::{RandomnessError, generate_secret, hash_secret};

/// Prefix of every session secret; it tells sessions from service tokens (`kgn_`).
pub const SESSION_PREFIX: &str = "kgs_";

/// A session just started: its secret is shown once.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session's id.
    pub id: Uuid,
    /// The bearer secret.
    pub secret: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Why a session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No secret could be generated.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// Starts a session of `participant` that lasts `lifetime`.
pub async fn start_session(
    conn: &mut AsyncPgConnection,
    participant: Uuid,
    lifetime: chrono::Duration,
) -> Result<NewSession, SessionError> {
    let secret = generate_secret(SESSION_PREFIX)?;
    let id = Uuid::now_v7();
    let expires_at = now() + lifetime;
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::token_hash.eq(hash_secret(&secret)),
            sessions::participant_id.eq(participant),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(NewSession {
        id,
        secret,
        expires_at,
    })
}

/// Ends a session: requests bearing its secret fail with 401 from now on.
pub async fn end_session(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .filter(sessions::ended_at.is_null())
        .set(sessions::ended_at.eq(now()))
        .execute(conn)
        .await?;
    super::cache::credentials_changed(conn).await
}
