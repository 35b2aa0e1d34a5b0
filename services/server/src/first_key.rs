//! The key `relay all` prints at every start. The database keeps only
//! hashes of stream keys, so the first stream's key, shown when it was
//! made, is kept beside the database in `data_dir/first-stream.key`
//! (0600) for the owner of an embedded server. Nothing is kept when the
//! database is shared (`database.url`): there the key is shown once.

use std::io::Write;
use std::path::{Path, PathBuf};

use catalog::{Database, StreamRecord};

use crate::config::{non_empty, Config};

const FILE_NAME: &str = "first-stream.key";

/// The first stream's key if this process may show it: just made, or kept
/// from when it was made and still the stream's key (not rotated since).
pub async fn key_to_show(config: &Config, database: &Database, stream: &StreamRecord) -> Option<String> {
    let path = kept_key_path(config);
    if let Some(key) = &stream.issued_key {
        if let Some(Err((path, error))) = path.map(|path| keep(&path, key).map_err(|error| (path, error))) {
            tracing::warn!(path = %path.display(), %error, "cannot keep the first stream's key; it is shown only now");
        }
        return Some(key.clone());
    }
    let key = std::fs::read_to_string(path?).ok()?.trim().to_owned();
    match database.stream_by_key(&key).await {
        Ok(Some(current)) if current.id == stream.id => Some(key),
        _ => None,
    }
}

fn kept_key_path(config: &Config) -> Option<PathBuf> {
    non_empty(&config.database.url).is_none().then(|| config.server.data_dir.join(FILE_NAME))
}

/// Readable by its owner only; replaces an older file (a stream made again).
fn keep(path: &Path, key: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{key}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_kept_key_is_shown_until_it_is_rotated() {
        let directory = testkit::TempDir::new("first-key");
        let mut config = Config::default();
        config.server.data_dir = directory.path().to_owned();
        let database = Database::open_sqlite(&directory.path().join("relay.db")).await.unwrap();
        let made = database.ensure_default_stream("main").await.unwrap();
        let key = made.issued_key.clone().unwrap();
        assert_eq!(key_to_show(&config, &database, &made).await.as_deref(), Some(key.as_str()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(directory.path().join(FILE_NAME)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let again = database.ensure_default_stream("main").await.unwrap();
        assert_eq!(again.issued_key, None, "the database does not hold the key");
        assert_eq!(key_to_show(&config, &database, &again).await.as_deref(), Some(key.as_str()));

        database.rotate_stream_key(&again.id).await.unwrap();
        assert_eq!(key_to_show(&config, &database, &again).await, None, "a rotated key is not shown stale");

        config.database.url = "postgres://elsewhere/relay".into();
        let other = database.add_stream("other", None).await.unwrap();
        let shown = key_to_show(&config, &database, &other).await;
        assert_eq!(shown, other.issued_key, "a key just made is shown");
        let listed = database.stream(&other.id).await.unwrap();
        assert_eq!(key_to_show(&config, &database, &listed).await, None, "but not kept for a shared database");
    }
}
