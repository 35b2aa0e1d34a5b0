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
    #[error("invalid object key {0:?}")]
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
        Err(StorageError::InvalidKey(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn keys_cannot_escape() {
        assert!(validate_key("live/main/seg1.m4s").is_ok());
        for bad in ["", "../x", "a//b", "/abs", "a/./b", "a/b c", "a\\b", "a/b/"] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
