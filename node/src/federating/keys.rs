//! Key pairs of this node's actors, made on first use and kept in PostgreSQL.

use activitypub_federation::http_signatures::generate_actor_keypair;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::actor_keys;

use super::error::FederationError;

/// An actor's PEM-encoded key pair.
#[derive(Debug, Clone, Queryable)]
pub struct KeyPair {
    /// SPKI public key, served in the actor document.
    pub public_pem: String,
    /// PKCS#8 private key; never served.
    pub private_pem: String,
}

/// The key pair of the local actor at `actor_path`, generated (off the async threads) when the
/// actor has none yet. Concurrent first uses agree on one pair.
pub async fn key_pair(
    conn: &mut AsyncPgConnection,
    actor_path: &str,
) -> Result<KeyPair, FederationError> {
    if let Some(pair) = stored(conn, actor_path).await? {
        return Ok(pair);
    }
    let generated = tokio::task::spawn_blocking(generate_actor_keypair)
        .await
        .map_err(|error| FederationError::Invalid(format!("key generation failed: {error}")))??;
    diesel::insert_into(actor_keys::table)
        .values((
            actor_keys::actor_path.eq(actor_path),
            actor_keys::public_key_pem.eq(&generated.public_key),
            actor_keys::private_key_pem.eq(&generated.private_key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    stored(conn, actor_path)
        .await?
        .ok_or_else(|| FederationError::Invalid(format!("no key pair for {actor_path}")))
}

async fn stored(
    conn: &mut AsyncPgConnection,
    actor_path: &str,
) -> Result<Option<KeyPair>, FederationError> {
    Ok(actor_keys::table
        .find(actor_path)
        .select((actor_keys::public_key_pem, actor_keys::private_key_pem))
        .first(conn)
        .await
        .optional()?)
}
