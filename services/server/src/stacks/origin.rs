//! The origin stack: viewers' playlists, parts and segments. In `all` it
//! serves the ingest stack's live edge in the same process; on an origin
//! pod it fetches live parts from the ingest pod that owns each stream.

use std::sync::Arc;
use std::time::Duration;

use live::Registry;
use origin::{Origin, Upstream};

use super::ingest::IngestStack;
use super::Foundation;
use crate::error::ServerError;

/// How often an origin picks up streams, policies and keys changed by
/// another process sharing the database (`relay streams add`, api pods).
const ACCESS_REFRESH: Duration = Duration::from_secs(5);

/// The origin of `all`: this process's live edge, with the viewer hooks
/// (on_play, on-demand camera demand).
pub fn local(foundation: &Foundation, ingest: &IngestStack, on_play: Arc<origin::OnPlayWebhooks>) -> Arc<Origin> {
    // Its own API changes the access control at once; the CLI and other
    // processes on the same database are picked up here.
    foundation.catalog.spawn_access_refresh(ACCESS_REFRESH);
    Arc::new(Origin {
        registry: ingest.live.clone(),
        storage: ingest.store.clone(),
        default_hold: foundation.hold(),
        access: foundation.access.clone(),
        upstream: None,
        index: Some(ingest.index(foundation)),
        play_hook: Some(on_play.clone()),
        demand: Some(Arc::new(origin::DemandRecorder::new(foundation.database.clone(), foundation.clock.clone()))),
    })
}

/// The origin of an origin pod: no live edge of its own; each stream's
/// parts come from its owner, found in the registry.
pub async fn pod(
    foundation: &Foundation,
    on_play: Arc<origin::OnPlayWebhooks>,
) -> Result<(Arc<Origin>, Arc<Upstream>), ServerError> {
    // Policies and keys change through the api pods; pick them up.
    foundation.catalog.spawn_access_refresh(ACCESS_REFRESH);
    let registry = foundation.registry();
    let hold = foundation.hold();
    let upstream = Arc::new(Upstream::new(
        Arc::new(origin::RegistryDirectory::new(registry.clone())),
        foundation.config.cluster.origin_cache_bytes,
        hold + Duration::from_secs(2),
        foundation.internal_secret(),
    ));
    let origin = Arc::new(Origin {
        registry: Registry::new(foundation.live_config(), None),
        storage: foundation.open_store().await?,
        default_hold: hold,
        access: foundation.access.clone(),
        upstream: Some(upstream.clone()),
        index: Some(Arc::new(origin::RegistryIndex::new(registry, foundation.dvr_window()))),
        play_hook: Some(on_play.clone()),
        demand: Some(Arc::new(origin::DemandRecorder::new(foundation.database.clone(), foundation.clock.clone()))),
    });
    Ok((origin, upstream))
}
