//! Random ids and secrets, hashes of high-entropy secrets, HMAC signatures.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::CatalogError;

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String, CatalogError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|_| CatalogError::Random)?;
    Ok(hex::encode(buffer))
}

/// SHA-256 as hex. Only for random tokens (sessions, API keys): they are
/// too long to guess, so a slow password hash would add nothing.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// HMAC-SHA256 of `message` under `key`, as hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        let key = [0x0bu8; 20];
        assert_eq!(
            hmac_sha256_hex(&key, b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn random_values_differ_and_compare() {
        let first = random_hex(16).unwrap();
        assert_eq!(first.len(), 32);
        assert_ne!(first, random_hex(16).unwrap());
        assert!(constant_time_eq(first.as_bytes(), first.as_bytes()));
        assert!(!constant_time_eq(first.as_bytes(), &first.as_bytes()[1..]));
    }
}
