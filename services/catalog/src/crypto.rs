//! Random ids and secrets, hashes of high-entropy secrets, HMAC signatures.

use hmac::{Hmac, Mac};
use md5::Md5;
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

/// The username an RTSP publisher gives with its stream key as password
/// (`rtsp://publisher:KEY@host/live/NAME`): Digest hashes it with the key,
/// so it is fixed for the stored hash to be checkable.
pub const RTSP_DIGEST_USERNAME: &str = "publisher";
/// The realm of the RTSP Digest challenge, hashed with the key likewise.
pub const RTSP_DIGEST_REALM: &str = "relay";
/// How a stored stream key hash starts; rows without it still hold a key in
/// clear (SQL `LIKE` sees it too: no `%` or `_` in it).
pub(crate) const STREAM_KEY_HASH_PREFIX: &str = "sha256:";

/// What the database keeps of a stream key: publishers are looked up by it.
/// Generated keys carry 192 random bits, so a fast hash suffices; chosen
/// keys must be at least 16 characters (see docs/security.md).
pub fn stream_key_hash(key: &str) -> String {
    format!("{STREAM_KEY_HASH_PREFIX}{}", sha256_hex(key))
}

/// RTSP Digest's HA1 of a stream key, MD5(username ":" realm ":" key) as
/// hex, for [`RTSP_DIGEST_USERNAME`] and [`RTSP_DIGEST_REALM`].
pub fn rtsp_digest_ha1(key: &str) -> String {
    let mut md5 = Md5::new();
    for (index, part) in [RTSP_DIGEST_USERNAME, RTSP_DIGEST_REALM, key].iter().enumerate() {
        if index > 0 {
            md5.update(b":");
        }
        md5.update(part.as_bytes());
    }
    hex::encode(md5.finalize())
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

    #[test]
    fn stream_keys_are_stored_as_hashes_digest_can_check() {
        let key = "0123456789abcdef";
        let stored = stream_key_hash(key);
        assert_eq!(stored, "sha256:9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f");
        // MD5("publisher:relay:0123456789abcdef"), as any Digest client computes it.
        assert_eq!(rtsp_digest_ha1(key), "25a968dfc92b90d0cc256ce70a31d6b9");
    }
}
