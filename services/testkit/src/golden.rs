//! Golden files: what a test produced, compared with what was approved and
//! kept in the calling crate's `tests/golden/` (pass that directory, e.g.
//! `concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")`).
//!
//! After an intended change, run the test with `UPDATE_GOLDEN=1` to write
//! what it produces now as the new golden file, and review the diff.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The variable that, when set, writes the golden files instead of only
/// reading them.
pub const UPDATE: &str = "UPDATE_GOLDEN";

/// The SHA-256 of `data` (lowercase hex) must equal the one in
/// `DIR/NAME.sha256`.
pub fn check_sha256(dir: impl AsRef<Path>, name: &str, data: &[u8]) {
    let digest = sha256_hex(data);
    let path = dir.as_ref().join(format!("{name}.sha256"));
    let expected = read_or_update(&path, &format!("{digest}\n"));
    assert_eq!(digest, expected.trim(), "{name}: the bytes changed; if that is intended, rerun with {UPDATE}=1");
}

/// `actual` must equal the text in `DIR/NAME`.
pub fn check_text(dir: impl AsRef<Path>, name: &str, actual: &str) {
    let path = dir.as_ref().join(name);
    let expected = read_or_update(&path, actual);
    assert_eq!(actual, expected, "{name} differs from its golden text; if that is intended, rerun with {UPDATE}=1");
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The golden file's content, after writing `current` to it when
/// [`UPDATE`] is set.
fn read_or_update(path: &Path, current: &str) -> String {
    if std::env::var_os(UPDATE).is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        }
        std::fs::write(path, current).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("missing golden file {}: {error}; run with {UPDATE}=1", path.display()))
}
