//! Password hashing: argon2id PHC strings, computed off the async workers.
//!
//! Hashing is deliberately slow (tens of milliseconds, set by `accounts.argon2_*`), so it runs
//! on tokio's blocking pool: an HTTP worker thread stays free for other requests meanwhile.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AccountSettings;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The configured argon2 parameters are out of range.
    #[error("invalid argon2 parameters (accounts.argon2_*): {0}")]
    Parameters(String),
    /// Hashing failed (the parameters, or the stored hash is not a PHC string).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The blocking task was cancelled (the runtime is shutting down).
    #[error("password hashing was cancelled")]
    Cancelled,
}

/// Hashes and verifies passwords with the node's argon2id parameters.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
}

impl PasswordHashing {
    /// The hasher for `settings`; fails when its parameters are out of range.
    pub fn new(settings: &AccountSettings) -> Result<Self, PasswordError> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| PasswordError::Parameters(e.to_string()))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password`, with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let argon2 = self.argon2();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Hashing(e.to_string()))
        })
        .await
        .map_err(|_| PasswordError::Cancelled)?
    }

    /// True when `password` matches the PHC string `stored`. Without a stored hash (an
    /// unknown username) a hash is still computed, so that the answer takes as long either way
    /// and does not reveal which usernames exist.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let argon2 = self.argon2();
        tokio::task::spawn_blocking(move || match stored {
            Some(stored) => {
                let parsed = PasswordHash::new(&stored)
                    .map_err(|e| PasswordError::Hashing(e.to_string()))?;
                // The comparison inside is constant-time.
                Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            }
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = argon2.hash_password(password.as_bytes(), &salt);
                Ok(false)
            }
        })
        .await
        .map_err(|_| PasswordError::Cancelled)?
    }
}
