//! Argon2id password hashes (PHC strings), computed off the async threads.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::CatalogError;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// The argon2 crate's recommended parameters (19 MiB, 2 passes).
    #[default]
    Recommended,
    /// 1 MiB, 1 pass: for tests only, where hundreds of hashes are made.
    TestOnly,
}

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// Checked against when the user does not exist, so both paths take as long.
    dummy_hash: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("params", &self.params).finish_non_exhaustive()
    }
}

impl Passwords {
    pub fn new(cost: PasswordCost) -> Self {
        let params = match cost {
            PasswordCost::Recommended => Params::default(),
            PasswordCost::TestOnly => Params::new(1024, 1, 1, None).unwrap_or_default(),
        };
        Passwords { params, dummy_hash: Arc::new(OnceLock::new()) }
    }

    pub async fn hash(&self, password: &str) -> Result<String, CatalogError> {
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_with(params, &password))
            .await
            .map_err(|error| CatalogError::Internal(error.to_string()))?
    }

    /// True when `password` matches `hash`; with no hash (unknown user) it
    /// does the same work and returns false.
    pub async fn verify(&self, hash: Option<String>, password: &str) -> Result<bool, CatalogError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy().await?,
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|error| CatalogError::Internal(error.to_string()))?;
        Ok(known && matches)
    }

    async fn dummy(&self) -> Result<String, CatalogError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash("not a password of anyone").await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }
}

fn hash_with(params: Params, password: &str) -> Result<String, CatalogError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| CatalogError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| CatalogError::Random)?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| CatalogError::Internal("password hashing failed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let passwords = Passwords::new(PasswordCost::TestOnly);
        let first = passwords.hash("correct horse battery").await.unwrap();
        let second = passwords.hash("correct horse battery").await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second);
        assert!(passwords.verify(Some(first.clone()), "correct horse battery").await.unwrap());
        assert!(!passwords.verify(Some(first), "correct horse battery!").await.unwrap());
        assert!(!passwords.verify(None, "not a password of anyone").await.unwrap());
        assert!(!passwords.verify(Some("garbage".into()), "x").await.unwrap());
    }
}
