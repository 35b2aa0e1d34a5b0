//! The disk spool: objects that object storage cannot take right now, one
//! file each, named by an increasing sequence number so the upload order
//! survives a restart of the process.
//!
//! File layout: `MAGIC`, the object key, `\n`, the object bytes. Files are
//! written under a temporary name and renamed, so a crash leaves either a
//! whole spool file or a `.tmp` that recovery deletes.
//!
//! Objects held for another component (see `HeldObject`) are spooled the
//! same way in the subdirectory `held/`, which recovery does not read: they
//! must not be uploaded before their owner releases them, and a restart
//! discards them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::AsyncReadExt;

const MAGIC: &[u8] = b"relay-spool-1\n";
const EXTENSION: &str = "spool";
const TEMPORARY_EXTENSION: &str = "tmp";
/// Keys are at most 512 bytes (`storage::validate_key`).
const MAX_KEY_LEN: usize = 512;

/// A spooled object: where it is and how much disk it takes.
#[derive(Debug, Clone)]
pub(super) struct SpoolFile {
    pub path: PathBuf,
    pub size: u64,
}

#[derive(Debug)]
pub(super) struct Spool {
    dir: PathBuf,
    next_sequence: AtomicU64,
}

/// The subdirectory of held objects.
pub(super) const HELD_DIR: &str = "held";

/// Bytes `data` takes in the spool under `key`: what the spool bound counts.
pub(super) fn file_size(key: &str, data: &Bytes) -> u64 {
    (MAGIC.len() + key.len() + 1 + data.len()) as u64
}

impl Spool {
    /// Creates the directory now, so a bad path fails at startup.
    pub fn create(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, next_sequence: AtomicU64::new(0) })
    }

    /// The spool of held objects under `dir`. What a previous run held was
    /// never released: its directory is removed (returned: how many files
    /// it had), and created again on the first write.
    pub fn create_held(dir: &Path) -> std::io::Result<(Self, usize)> {
        let held = dir.join(HELD_DIR);
        let removed = match std::fs::read_dir(&held) {
            Ok(entries) => entries.count(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        if removed > 0 || held.exists() {
            std::fs::remove_dir_all(&held)?;
        }
        Ok((Self { dir: held, next_sequence: AtomicU64::new(0) }, removed))
    }

    /// Objects a previous run left behind, oldest first. Unreadable files
    /// and half-written temporaries are deleted.
    pub async fn recover(&mut self) -> std::io::Result<Vec<(String, SpoolFile)>> {
        let mut found = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            let extension = path.extension().and_then(|extension| extension.to_str());
            if extension == Some(TEMPORARY_EXTENSION) {
                let _ = tokio::fs::remove_file(&path).await;
                continue;
            }
            let sequence = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse::<u64>().ok());
            if let (Some(EXTENSION), Some(sequence)) = (extension, sequence) {
                found.push((sequence, path));
            }
        }
        found.sort_unstable();
        *self.next_sequence.get_mut() = found.last().map_or(0, |(sequence, _)| sequence + 1);
        let mut recovered = Vec::with_capacity(found.len());
        for (_, path) in found {
            match read_key(&path).await {
                Ok((key, size)) => recovered.push((key, SpoolFile { path, size })),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unreadable spool file");
                    let _ = tokio::fs::remove_file(&path).await;
                }
            }
        }
        Ok(recovered)
    }

    /// The path of the next spool file, in upload order.
    fn next_path(&self) -> PathBuf {
        let name = format!("{:020}", self.next_sequence.fetch_add(1, Ordering::Relaxed));
        self.dir.join(name).with_extension(EXTENSION)
    }

    pub async fn write(&self, key: &str, data: &Bytes) -> std::io::Result<SpoolFile> {
        if key.len() > MAX_KEY_LEN || key.contains('\n') {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "key cannot be spooled"));
        }
        let path = self.next_path();
        let temporary = path.with_extension(TEMPORARY_EXTENSION);
        let mut contents = Vec::with_capacity(MAGIC.len() + key.len() + 1 + data.len());
        contents.extend_from_slice(MAGIC);
        contents.extend_from_slice(key.as_bytes());
        contents.push(b'\n');
        contents.extend_from_slice(data);
        let size = contents.len() as u64;
        let written = async {
            match tokio::fs::write(&temporary, &contents).await {
                // The held spool's directory is made on first use.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    tokio::fs::create_dir_all(&self.dir).await?;
                    tokio::fs::write(&temporary, &contents).await?;
                }
                result => result?,
            }
            tokio::fs::rename(&temporary, &path).await
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(error);
        }
        Ok(SpoolFile { path, size })
    }

    /// Moves a file written by another spool (the held one, on the same
    /// file system) to the end of this one, so that a restart uploads it.
    pub async fn adopt(&self, file: &SpoolFile) -> std::io::Result<SpoolFile> {
        let path = self.next_path();
        tokio::fs::rename(&file.path, &path).await?;
        Ok(SpoolFile { path, size: file.size })
    }
}

/// The object's bytes, without the header.
pub(super) async fn read(path: &Path) -> std::io::Result<Bytes> {
    let contents = Bytes::from(tokio::fs::read(path).await?);
    let header = header_len(&contents)?;
    Ok(contents.slice(header..))
}

pub(super) async fn remove(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        tracing::warn!(path = %path.display(), %error, "cannot remove uploaded spool file");
    }
}

async fn read_key(path: &Path) -> std::io::Result<(String, u64)> {
    let file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let mut head = Vec::new();
    file.take((MAGIC.len() + MAX_KEY_LEN + 1) as u64).read_to_end(&mut head).await?;
    let header = header_len(&head)?;
    let key = std::str::from_utf8(&head[MAGIC.len()..header - 1]).map_err(|_| corrupt("key is not UTF-8"))?;
    Ok((key.to_owned(), size))
}

/// Length of magic + key + newline.
fn header_len(contents: &[u8]) -> std::io::Result<usize> {
    let rest = contents.strip_prefix(MAGIC).ok_or_else(|| corrupt("bad magic"))?;
    let key_len = rest.iter().take(MAX_KEY_LEN + 1).position(|&byte| byte == b'\n').ok_or_else(|| corrupt("no key"))?;
    if key_len == 0 {
        return Err(corrupt("empty key"));
    }
    Ok(MAGIC.len() + key_len + 1)
}

fn corrupt(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("corrupt spool file: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spooled_objects_survive_a_restart_in_order() {
        let dir = std::env::temp_dir().join(format!("relay-spool-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Spool::create(dir.clone()).unwrap();
        let first = spool.write("live/a/seg1.m4s", &Bytes::from_static(b"one")).await.unwrap();
        spool.write("live/a/seg2.m4s", &Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(read(&first.path).await.unwrap(), Bytes::from_static(b"one"));
        std::fs::write(dir.join("00000000000000000007.tmp"), b"half").unwrap();
        std::fs::write(dir.join("00000000000000000005.spool"), b"garbage").unwrap();

        let mut reopened = Spool::create(dir.clone()).unwrap();
        let recovered = reopened.recover().await.unwrap();
        let keys: Vec<&str> = recovered.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["live/a/seg1.m4s", "live/a/seg2.m4s"]);
        assert_eq!(reopened.next_sequence.load(Ordering::Relaxed), 6);
        let remaining = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(remaining, 2, "temporary and corrupt files are removed");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn held_files_are_not_recovered_and_are_adopted_in_order() {
        let dir = std::env::temp_dir().join(format!("relay-spool-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut spool = Spool::create(dir.clone()).unwrap();
        let (held, removed) = Spool::create_held(&dir).unwrap();
        assert_eq!(removed, 0);
        let data = Bytes::from_static(b"held");
        let file = held.write("live/a/seg1.m4s", &data).await.unwrap();
        assert_eq!(file.size, file_size("live/a/seg1.m4s", &data));
        assert!(spool.recover().await.unwrap().is_empty(), "held objects are not uploaded on recovery");
        let (_, removed) = Spool::create_held(&dir).unwrap();
        assert_eq!(removed, 1, "a restart discards held objects");
        assert!(!dir.join(HELD_DIR).exists(), "and its directory until the next write");

        let (held, _) = Spool::create_held(&dir).unwrap();
        let file = held.write("live/a/seg2.m4s", &data).await.unwrap();
        let adopted = spool.adopt(&file).await.unwrap();
        assert!(!file.path.exists());
        assert_eq!(read(&adopted.path).await.unwrap(), data);
        let recovered = Spool::create(dir.clone()).unwrap().recover().await.unwrap();
        assert_eq!(recovered.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), ["live/a/seg2.m4s"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
