use std::path::PathBuf;

use bytes::Bytes;

use crate::{validate_key, ObjectStore, StorageError, StoreFuture};

static NEXT_TEMPORARY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Objects as files under one directory. Writes go to a temporary name and
/// are renamed into place, so a reader never sees half an object.
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

impl ObjectStore for LocalDirStore {
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            // A name per write, so two writers of one key never share a temporary file.
            let unique = NEXT_TEMPORARY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let temporary = path.with_extension(format!("{}-{unique}.partial", std::process::id()));
            tokio::fs::write(&temporary, &data).await?;
            tokio::fs::rename(&temporary, &path).await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            match tokio::fs::read(self.path(key)?).await {
                Ok(data) => Ok(Some(Bytes::from(data))),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_and_deletes() {
        let root = std::env::temp_dir().join(format!("storage-test-{}", std::process::id()));
        let store = LocalDirStore::new(&root);
        store.put("live/a/seg1.m4s", Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(store.get("live/a/seg1.m4s").await.unwrap(), Some(Bytes::from_static(b"abc")));
        store.delete("live/a/seg1.m4s").await.unwrap();
        assert_eq!(store.get("live/a/seg1.m4s").await.unwrap(), None);
        store.delete("live/a/seg1.m4s").await.unwrap();
        assert!(store.put("../escape", Bytes::new()).await.is_err());
        let _ = std::fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn concurrent_writes_of_one_key_both_succeed() {
        let root = std::env::temp_dir().join(format!("storage-race-{}", std::process::id()));
        let store = std::sync::Arc::new(LocalDirStore::new(&root));
        let writes: Vec<_> = (0..8u8)
            .map(|byte| {
                let store = store.clone();
                tokio::spawn(async move { store.put("live/a/init0.mp4", Bytes::from(vec![byte; 4096])).await })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        let stored = store.get("live/a/init0.mp4").await.unwrap().unwrap();
        assert!(stored.iter().all(|byte| *byte == stored[0]), "one whole write wins");
        let _ = std::fs::remove_dir_all(root);
    }
}
