//! Where the key sealing the database's secrets comes from.

use std::io::Write;
use std::path::{Path, PathBuf};

use catalog::SecretSealer;

use crate::config::{non_empty, Config};
use crate::error::ServerError;

/// The configured key file; with the embedded SQLite and no file named,
/// `data_dir/sealing.key`, made with a new key on first start. Without
/// either, secrets stay in clear and the server says so once.
pub fn sealer(config: &Config) -> Result<SecretSealer, ServerError> {
    let current = current_sealer(config)?;
    let previous = &config.database.previous_sealing_key_file;
    if previous.as_os_str().is_empty() {
        return Ok(current);
    }
    let failed = |reason: String| ServerError::SealingKey { path: previous.clone(), reason };
    let text = std::fs::read_to_string(previous).map_err(|error| failed(error.to_string()))?;
    current.with_previous_hex_key(&text).map_err(|error| failed(error.to_string()))
}

fn current_sealer(config: &Config) -> Result<SecretSealer, ServerError> {
    let named = &config.database.sealing_key_file;
    if !named.as_os_str().is_empty() {
        return read_key(named);
    }
    if non_empty(&config.database.url).is_some() {
        tracing::warn!(
            "database.sealing_key_file is not set: signing keys, webhook secrets and camera passwords are stored in clear"
        );
        return Ok(SecretSealer::plain());
    }
    let path = config.server.data_dir.join("sealing.key");
    if !path.exists() {
        create_key(&path)?;
    }
    read_key(&path)
}

fn read_key(path: &Path) -> Result<SecretSealer, ServerError> {
    let failed = |reason: String| ServerError::SealingKey { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
    SecretSealer::from_hex_key(&text).map_err(|error| failed(error.to_string()))
}

/// Written only by its owner and readable by nobody else; never replaced.
fn create_key(path: &PathBuf) -> Result<(), ServerError> {
    let failed = |reason: String| ServerError::SealingKey { path: path.clone(), reason };
    let key = SecretSealer::generate_hex_key().map_err(|error| failed(error.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| failed(error.to_string()))?;
    writeln!(file, "{key}").and_then(|()| file.sync_all()).map_err(|error| failed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut config = Config::default();
        config.server.data_dir = dir.to_owned();
        config
    }

    #[test]
    fn the_embedded_database_gets_a_private_key_file_made_once() {
        let dir = testkit::TempDir::new("sealing-key");
        let config = config_in(dir.path());
        assert!(sealer(&config).unwrap().seals());
        let path = dir.path().join("sealing.key");
        let first = std::fs::read_to_string(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(sealer(&config).unwrap().seals());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "an existing key is never replaced");
    }

    #[test]
    fn a_named_file_must_hold_a_key_and_errors_name_it() {
        let dir = testkit::TempDir::new("sealing-key");
        let mut config = config_in(dir.path());
        config.database.url = "postgres://relay@db/relay".into();
        assert!(!sealer(&config).unwrap().seals(), "a database URL without a key file stays in clear");
        let path = dir.path().join("from-secret");
        config.database.sealing_key_file = path.clone();
        let missing = sealer(&config).unwrap_err().to_string();
        assert!(missing.contains("from-secret"), "{missing}");
        std::fs::write(&path, "not a key").unwrap();
        assert!(sealer(&config).unwrap_err().to_string().contains("64 hex digits"));
        std::fs::write(&path, format!("{}\n", "5a".repeat(32))).unwrap();
        assert!(sealer(&config).unwrap().seals());
    }

    #[test]
    fn a_previous_key_file_is_read_beside_the_current_one() {
        let dir = testkit::TempDir::new("sealing-key");
        let mut config = config_in(dir.path());
        config.database.url = "postgres://relay@db/relay".into();
        let previous = dir.path().join("previous.key");
        config.database.previous_sealing_key_file = previous.clone();
        std::fs::write(&previous, "ab".repeat(32)).unwrap();
        let alone = sealer(&config).unwrap_err().to_string();
        assert!(alone.contains("previous.key") && alone.contains("needs a current one"), "{alone}");
        let current = dir.path().join("current.key");
        std::fs::write(&current, "cd".repeat(32)).unwrap();
        config.database.sealing_key_file = current;
        assert!(format!("{:?}", sealer(&config).unwrap()).contains("previous_key: true"));
        std::fs::write(&previous, "short").unwrap();
        assert!(sealer(&config).unwrap_err().to_string().contains("previous.key"));
    }
}
