//! Signing keys: a key id (`kid`) plus an HMAC secret.
//!
//! The secret is text, and its UTF-8 bytes are the HMAC key. Text survives
//! every hop to the CDN edge unchanged (key-value store, environment,
//! JSON), so the edge and the origin can never disagree about decoding.

use std::fmt;

use base64::Engine;
use zeroize::Zeroizing;

/// Fewer than 32 bytes of secret is refused: HS256 wants a key as long as its output.
pub const MIN_SECRET_LEN: usize = 32;
const MAX_SECRET_LEN: usize = 256;
const MAX_KID_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key id is 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    BadKeyId,
    #[error("a secret is 32 to 256 printable ASCII characters")]
    BadSecret,
    #[error("the system random source failed")]
    NoRandomness,
}

#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: Zeroizing<String>,
}

impl SigningKey {
    pub fn new(kid: impl Into<String>, secret: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        let secret = Zeroizing::new(secret.into());
        if !is_valid_kid(&kid) {
            return Err(KeyError::BadKeyId);
        }
        let printable = secret.bytes().all(|byte| byte.is_ascii_graphic());
        if !printable || secret.len() < MIN_SECRET_LEN || secret.len() > MAX_SECRET_LEN {
            return Err(KeyError::BadSecret);
        }
        Ok(SigningKey { kid, secret })
    }

    /// A fresh key: 256 random bits written as 43 characters of base64url.
    pub fn generate(kid: impl Into<String>) -> Result<Self, KeyError> {
        let mut random = Zeroizing::new([0u8; 32]);
        getrandom::fill(random.as_mut()).map_err(|_| KeyError::NoRandomness)?;
        SigningKey::new(kid, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random.as_ref()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret as the edge needs it (e.g. the value of a key-value store entry).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("secret", &"[redacted]").finish()
    }
}

pub(crate) fn is_valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_kid_and_secret() {
        let secret = "s".repeat(MIN_SECRET_LEN);
        assert!(SigningKey::new("k1", secret.clone()).is_ok());
        assert_eq!(SigningKey::new("", secret.clone()).unwrap_err(), KeyError::BadKeyId);
        assert_eq!(SigningKey::new("a/b", secret.clone()).unwrap_err(), KeyError::BadKeyId);
        assert_eq!(SigningKey::new("k".repeat(65), secret.clone()).unwrap_err(), KeyError::BadKeyId);
        assert_eq!(SigningKey::new("k1", "short").unwrap_err(), KeyError::BadSecret);
        let spaced = format!("{} x", "s".repeat(MIN_SECRET_LEN));
        assert_eq!(SigningKey::new("k1", spaced).unwrap_err(), KeyError::BadSecret);
    }

    #[test]
    fn generated_keys_differ_and_never_print_their_secret() {
        let first = SigningKey::generate("k1").unwrap();
        let second = SigningKey::generate("k1").unwrap();
        assert_eq!(first.secret().len(), 43);
        assert_ne!(first.secret(), second.secret());
        assert!(!format!("{first:?}").contains(first.secret()));
    }
}
