//! Secrets the server must read back in clear (playback signing keys,
//! webhook secrets, camera passwords) are sealed with XChaCha20-Poly1305
//! under a key kept outside the database, so a copy of the database, a
//! backup or a leaked dump reveals none of them.
//!
//! A sealed value is `sealed:v1:` and the base64 of nonce and ciphertext.
//! The row it belongs to is the associated data, so a sealed value copied
//! into another row does not open. Values without the prefix are rows
//! written before sealing existed (or without a key) and read as they are;
//! [`crate::Database::seal_plain_secrets`] rewrites them.
//!
//! Rotation: a sealer may also hold the previous key. It opens values
//! sealed under either and seals under the current one only;
//! `seal_plain_secrets` rewrites values still sealed under the previous key.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::CatalogError;

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;
/// A key is 32 random bytes, written as 64 hex digits.
pub const SEALING_KEY_HEX_LEN: usize = 64;

/// Seals and opens secrets; without a key it stores them as they are.
#[derive(Clone, Default)]
pub struct SecretSealer {
    cipher: Option<XChaCha20Poly1305>,
    /// The key being rotated out: opens, never seals.
    previous: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSealer")
            .field("seals", &self.seals())
            .field("previous_key", &self.previous.is_some())
            .finish()
    }
}

/// Which key opened a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenedWith {
    /// Stored in clear.
    Nothing,
    Current,
    Previous,
}

impl SecretSealer {
    /// Stores secrets in clear: for tests, and for a cluster whose operator
    /// has not given a key (the server warns at start).
    pub fn plain() -> Self {
        SecretSealer { cipher: None, previous: None }
    }

    /// A sealer from 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex_key(text: &str) -> Result<Self, CatalogError> {
        Ok(SecretSealer { cipher: Some(cipher_from_hex(text)?), previous: None })
    }

    /// Also opens values sealed under `text`, the key being rotated out.
    pub fn with_previous_hex_key(mut self, text: &str) -> Result<Self, CatalogError> {
        if self.cipher.is_none() {
            return Err(CatalogError::SealingKey("a previous sealing key needs a current one"));
        }
        self.previous = Some(cipher_from_hex(text)?);
        Ok(self)
    }

    /// A new random key as 64 hex digits.
    pub fn generate_hex_key() -> Result<String, CatalogError> {
        crate::crypto::random_hex(32)
    }

    pub fn seals(&self) -> bool {
        self.cipher.is_some()
    }

    /// The value to store for `secret` in the row named by `row`.
    pub fn seal(&self, secret: &str, row: &str) -> Result<String, CatalogError> {
        let Some(cipher) = &self.cipher else { return Ok(secret.to_owned()) };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CatalogError::Random)?;
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret.as_bytes(), aad: row.as_bytes() })
            .map_err(|_| CatalogError::SealingKey("cannot seal a secret"))?;
        let mut both = Vec::with_capacity(NONCE_LEN + sealed.len());
        both.extend_from_slice(&nonce);
        both.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(both)))
    }

    /// [`SecretSealer::seal`] of a secret that may be absent.
    pub fn seal_optional(&self, secret: Option<&str>, row: &str) -> Result<Option<String>, CatalogError> {
        secret.map(|secret| self.seal(secret, row)).transpose()
    }

    /// The secret a stored value holds.
    pub fn open(&self, stored: &str, row: &str) -> Result<String, CatalogError> {
        self.open_telling(stored, row).map(|(secret, _)| secret)
    }

    /// [`SecretSealer::open`], and which key opened it: values still sealed
    /// under the previous key are sealed again under the current one.
    pub fn open_telling(&self, stored: &str, row: &str) -> Result<(String, OpenedWith), CatalogError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else { return Ok((stored.to_owned(), OpenedWith::Nothing)) };
        let Some(cipher) = &self.cipher else {
            return Err(CatalogError::SealingKey("the database holds sealed secrets but no sealing key is configured"));
        };
        let both =
            STANDARD_NO_PAD.decode(encoded).map_err(|_| CatalogError::SealingKey("a sealed secret is damaged"))?;
        if both.len() < NONCE_LEN {
            return Err(CatalogError::SealingKey("a sealed secret is damaged"));
        }
        let (nonce, sealed) = both.split_at(NONCE_LEN);
        let open = |cipher: &XChaCha20Poly1305| {
            cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: row.as_bytes() }).ok()
        };
        let (clear, opened_with) = match open(cipher) {
            Some(clear) => (clear, OpenedWith::Current),
            None => match self.previous.as_ref().and_then(open) {
                Some(clear) => (clear, OpenedWith::Previous),
                None => {
                    return Err(CatalogError::SealingKey(
                        "a sealed secret does not open with the configured sealing key",
                    ))
                }
            },
        };
        let secret = String::from_utf8(clear).map_err(|_| CatalogError::SealingKey("a sealed secret is damaged"))?;
        Ok((secret, opened_with))
    }

    /// Whether a stored value is sealed (as opposed to a row written in clear).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

fn cipher_from_hex(text: &str) -> Result<XChaCha20Poly1305, CatalogError> {
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() != SEALING_KEY_HEX_LEN || hex::decode_to_slice(text, &mut key).is_err() {
        return Err(CatalogError::SealingKey("a sealing key is 64 hex digits (32 random bytes)"));
    }
    Ok(XChaCha20Poly1305::new(&key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> SecretSealer {
        SecretSealer::from_hex_key(&SecretSealer::generate_hex_key().unwrap()).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_in_its_row_and_with_its_key() {
        let sealer = sealer();
        let stored = sealer.seal("camera-password", "camera_sources.password:s1").unwrap();
        assert!(SecretSealer::is_sealed(&stored));
        assert!(!stored.contains("camera-password"));
        assert_eq!(sealer.open(&stored, "camera_sources.password:s1").unwrap(), "camera-password");
        assert!(matches!(sealer.open(&stored, "camera_sources.password:s2"), Err(CatalogError::SealingKey(_))));
        assert!(matches!(self::sealer().open(&stored, "camera_sources.password:s1"), Err(CatalogError::SealingKey(_))));
        assert!(matches!(SecretSealer::plain().open(&stored, "x"), Err(CatalogError::SealingKey(_))));
    }

    #[test]
    fn each_seal_differs_and_plain_rows_read_as_they_are() {
        let sealer = sealer();
        assert_ne!(sealer.seal("same", "row").unwrap(), sealer.seal("same", "row").unwrap());
        assert_eq!(sealer.open("written-in-clear", "row").unwrap(), "written-in-clear");
        assert_eq!(SecretSealer::plain().seal("kept", "row").unwrap(), "kept");
    }

    #[test]
    fn damaged_values_and_bad_keys_are_refused() {
        let sealer = sealer();
        for damaged in ["sealed:v1:", "sealed:v1:!!!", "sealed:v1:AAAA"] {
            assert!(matches!(sealer.open(damaged, "row"), Err(CatalogError::SealingKey(_))), "{damaged}");
        }
        let stored = sealer.seal("secret", "row").unwrap();
        let flip = PREFIX.len() + 40;
        let replacement = if &stored[flip..=flip] == "A" { "B" } else { "A" };
        let tampered = format!("{}{replacement}{}", &stored[..flip], &stored[flip + 1..]);
        assert!(matches!(sealer.open(&tampered, "row"), Err(CatalogError::SealingKey(_))));
        for key in ["", "00", &"g".repeat(64), &"0".repeat(63)] {
            assert!(SecretSealer::from_hex_key(key).is_err(), "{key}");
        }
        assert!(SecretSealer::from_hex_key(&format!("{}\n", "ab".repeat(32))).is_ok());
    }

    #[test]
    fn a_rotated_key_still_opens_until_its_values_are_sealed_again() {
        let (old, new) = (SecretSealer::generate_hex_key().unwrap(), SecretSealer::generate_hex_key().unwrap());
        let before = SecretSealer::from_hex_key(&old).unwrap();
        let stored = before.seal("signing-secret", "row").unwrap();
        let rotating = SecretSealer::from_hex_key(&new).unwrap().with_previous_hex_key(&old).unwrap();
        assert_eq!(rotating.open_telling(&stored, "row").unwrap(), ("signing-secret".into(), OpenedWith::Previous));
        let resealed = rotating.seal("signing-secret", "row").unwrap();
        assert_eq!(rotating.open_telling(&resealed, "row").unwrap(), ("signing-secret".into(), OpenedWith::Current));
        assert!(before.open(&resealed, "row").is_err(), "new values are sealed under the new key only");
        let after = SecretSealer::from_hex_key(&new).unwrap();
        assert!(matches!(after.open(&stored, "row"), Err(CatalogError::SealingKey(_))), "once the old key is gone");
        assert!(SecretSealer::plain().with_previous_hex_key(&old).is_err());
    }
}
