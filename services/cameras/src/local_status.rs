//! How a stream held by this process is doing: its live edge and, for a
//! camera this pod pulls, the pull's state, reason and warnings. The api
//! asks it directly in `all`, and through the ingest pod's internal
//! endpoint in a cluster.

use std::sync::Arc;

use catalog::{StatusFuture, StreamStatusSource};

use crate::manager::CameraBoard;

/// Stream status from this process: the live edge and, for a camera this
/// pod pulls, the pull's state, reason and warnings.
#[derive(Clone)]
pub struct LocalStatus {
    pub live: Arc<live::Registry>,
    pub cameras: CameraBoard,
}

impl LocalStatus {
    pub fn json(&self, stream_name: &str) -> Option<serde_json::Value> {
        let target = self.live.config().segmenter.segment_target_ms;
        let live = self.live.get(stream_name).map(|stream| live::status_json(&stream.status(target)));
        let camera = self.cameras.status(stream_name).and_then(|status| serde_json::to_value(status).ok());
        match (live, camera) {
            (None, None) => None,
            (live, camera) => {
                let mut status = live.unwrap_or_else(|| serde_json::json!({"state": "offline"}));
                if let (Some(camera), Some(fields)) = (camera, status.as_object_mut()) {
                    fields.insert("camera".into(), camera);
                }
                Some(status)
            }
        }
    }
}

impl StreamStatusSource for LocalStatus {
    fn status<'a>(&'a self, stream_name: &'a str) -> StatusFuture<'a> {
        Box::pin(async move { Ok(self.json(stream_name)) })
    }
}
