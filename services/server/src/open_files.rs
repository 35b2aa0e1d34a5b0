//! File descriptors for the listeners' caps: every connection holds one,
//! so the caps of the listeners a role opens must fit the process's limit
//! on open files, or accepts fail for everyone once it is reached. At each
//! bind the soft limit is raised to what the caps need (never past the
//! hard limit), and a limit that stays too low is said at start.

use std::sync::atomic::{AtomicU64, Ordering};

/// Files the process holds besides connections: the database, objects,
/// the spool, outbound calls.
const BESIDES_CONNECTIONS: u64 = 512;

static NEEDED: AtomicU64 = AtomicU64::new(BESIDES_CONNECTIONS);

/// Makes room for `connections` more connections of `listener`.
pub fn reserve(listener: &'static str, connections: usize) {
    let connections = u64::try_from(connections).unwrap_or(u64::MAX);
    let needed = NEEDED.fetch_add(connections, Ordering::Relaxed).saturating_add(connections);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => tracing::debug!(listener, needed, limit, "open-file limit"),
        Ok(limit) => tracing::warn!(
            listener,
            needed,
            limit,
            "the open-file limit is below what the connection caps need: lower the listeners' \
             max_connections or raise the hard limit (ulimit -n, LimitNOFILE)"
        ),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-file limit"),
    }
}
