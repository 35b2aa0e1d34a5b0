use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::{validate_key, ObjectStore, StoreFuture};

/// One operation as the store saw it, for tests that assert ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    Put(String),
    Delete(String),
}

/// An in-memory store that records every put and delete.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, Bytes>>,
    log: Mutex<Vec<StoreOp>>,
}

impl MemoryStore {
    pub fn log(&self) -> Vec<StoreOp> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// The keys under `prefix` the store was asked to put, in order (a key
    /// put twice appears twice).
    pub fn puts_under(&self, prefix: &str) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|op| match op {
                StoreOp::Put(key) if key.starts_with(prefix) => Some(key),
                _ => None,
            })
            .collect()
    }
}

impl ObjectStore for MemoryStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            if let (Ok(mut objects), Ok(mut log)) = (self.objects.lock(), self.log.lock()) {
                objects.insert(key.to_owned(), data);
                log.push(StoreOp::Put(key.to_owned()));
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            validate_key(key)?;
            Ok(self.objects.lock().ok().and_then(|objects| objects.get(key).cloned()))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            if let (Ok(mut objects), Ok(mut log)) = (self.objects.lock(), self.log.lock()) {
                objects.remove(key);
                log.push(StoreOp::Delete(key.to_owned()));
            }
            Ok(())
        })
    }
}
