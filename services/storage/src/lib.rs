//! Object storage for complete segments, init segments and recordings.
//! The live edge never waits on it: writers hand objects to a background
//! task and origins read from it only what memory no longer holds.

mod local;
mod memory;
mod s3;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

pub use local::LocalDirStore;
pub use memory::{MemoryStore, StoreOp};
pub use s3::{S3Config, S3Store, MIN_PART_SIZE};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Holds at most the key's first [`SHOWN_KEY_CHARS`] characters and its
    /// length: keys can come from request paths, and logs need no 60 KB name.
    #[error("invalid object key {0}")]
    InvalidKey(String),
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// A remote store refused or failed a request (message includes the
    /// operation, the key and the server's error code where known).
    #[error("storage request failed: {0}")]
    Backend(String),
}

impl StorageError {
    /// True when retrying the same request cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::InvalidKey(_) | Self::Config(_))
    }
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// A flat key/value object store. Keys are `/`-separated relative paths of
/// plain characters, e.g. `live/main/seg12.m4s`.
pub trait ObjectStore: Send + Sync + 'static {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> StoreFuture<'a, ()>;
    /// `Ok(None)` when the object does not exist.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>>;
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// How much of an invalid key its error shows.
pub const SHOWN_KEY_CHARS: usize = 64;

/// Rejects keys that could escape a directory or confuse an S3 prefix.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let valid = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        });
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(shown_key(key)))
    }
}

/// The start of `key`, quoted, and its length when it goes on.
fn shown_key(key: &str) -> String {
    let start: String = key.chars().take(SHOWN_KEY_CHARS).collect();
    if start.len() == key.len() {
        format!("{start:?}")
    } else {
        format!("{start:?}... ({} bytes)", key.len())
    }
}

#[cfg(test)]
mod tests {
    use super::{validate_key, StorageError, SHOWN_KEY_CHARS};

    #[test]
    fn keys_cannot_escape() {
        assert!(validate_key("live/main/seg1.m4s").is_ok());
        for bad in ["", "../x", "a//b", "/abs", "a/./b", "a/b c", "a\\b", "a/b/"] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn an_invalid_key_shows_only_its_start() {
        let long = format!("live/{}/seg1.m4s", "a".repeat(60_000));
        let error = validate_key(&long).unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey(_)) && error.is_permanent());
        let message = error.to_string();
        assert!(message.len() < SHOWN_KEY_CHARS + 64, "{message}");
        assert!(message.ends_with("... (60014 bytes)"), "{message}");
        assert_eq!(validate_key("a b").unwrap_err().to_string(), "invalid object key \"a b\"");
    }
}
