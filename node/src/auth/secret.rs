//! Bearer secrets (tokens, sessions, invite codes): generated from the OS CSPRNG, shown once,
//! stored only as SHA-256 digests. A digest lookup is safe against timing attacks: the secret
//! has 256 random bits, so learning a digest's prefix from timings reveals nothing usable.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available: {0}")]
pub struct RandomnessError(String);

/// A fresh secret: `prefix` (so that a leaked secret is easy to recognise) and 32 random bytes,
/// base64url-encoded.
pub fn generate_secret(prefix: &str) -> Result<String, RandomnessError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| RandomnessError(e.to_string()))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The digest under which a secret is stored and looked up.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_hash_to_32_bytes() {
        let a = generate_secret("kgn_").unwrap_or_default();
        let b = generate_secret("kgn_").unwrap_or_default();
        assert!(a.starts_with("kgn_"));
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 32);
    }
}
