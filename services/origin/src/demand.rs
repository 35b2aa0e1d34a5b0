//! Viewer demand for sources that run only while watched (on-demand camera
//! pulls): every request under `/live/{stream}/` tells the hook, and a
//! playlist request for such a stream that is not live yet waits for it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::Origin;

/// Told about every request for a stream's live files; the server records
/// it where the pods that pull cameras look.
pub trait DemandHook: Send + Sync + 'static {
    /// A viewer asked for `stream`. Resolves to true when the stream is
    /// started by demand, so a request for a stream not live yet should
    /// wait for it rather than fail. Must be cheap: it runs on every
    /// request, so slow work belongs in a spawned task.
    fn viewer_requested<'a>(&'a self, stream: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}

/// How often a request that waits for an on-demand stream looks again.
pub(crate) const LOOK_AGAIN_EVERY: Duration = Duration::from_millis(100);

pub(crate) async fn starts_on_demand(origin: &Origin, stream: &str) -> bool {
    match &origin.demand {
        Some(hook) => hook.viewer_requested(stream).await,
        None => false,
    }
}

/// Waits (up to the origin's default hold) for `stream` to appear in this
/// process's live edge: an on-demand pull just started here.
pub(crate) async fn wait_for_local_stream(origin: &Origin, stream: &str) -> Option<std::sync::Arc<live::LiveStream>> {
    let deadline = Instant::now() + origin.default_hold;
    loop {
        if let Some(found) = origin.registry.get(stream) {
            return Some(found);
        }
        if Instant::now() + LOOK_AGAIN_EVERY >= deadline {
            return None;
        }
        tokio::time::sleep(LOOK_AGAIN_EVERY).await;
    }
}
