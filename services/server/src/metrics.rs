//! /metrics in the Prometheus text format, written by hand: a few gauges
//! and counters do not need a metrics framework.

use std::fmt::Write;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use live::{Registry, StorageWriter};
use origin::Upstream;

/// What a pod can report; each role fills what it has.
#[derive(Clone, Default)]
pub struct MetricSources {
    pub writer: Option<StorageWriter>,
    pub live: Option<Arc<Registry>>,
    pub upstream: Option<Arc<Upstream>>,
}

pub fn router(sources: MetricSources) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = render(&sources);
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response() }
        }),
    )
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

pub fn render(sources: &MetricSources) -> String {
    let mut out = String::new();
    if let Some(writer) = &sources.writer {
        let stats = writer.stats();
        metric(
            &mut out,
            "relay_storage_available",
            "gauge",
            "1 while uploads succeed",
            u8::from(stats.storage_available),
        );
        metric(&mut out, "relay_storage_queued_objects", "gauge", "Objects waiting in memory", stats.queued);
        metric(&mut out, "relay_storage_queued_bytes", "gauge", "Bytes waiting in memory", stats.queued_bytes);
        metric(&mut out, "relay_storage_spooled_objects", "gauge", "Objects waiting in the disk spool", stats.spooled);
        metric(
            &mut out,
            "relay_storage_spooled_bytes",
            "gauge",
            "Bytes waiting in the disk spool",
            stats.spooled_bytes,
        );
        metric(&mut out, "relay_storage_uploaded_total", "counter", "Objects uploaded", stats.uploaded);
        metric(&mut out, "relay_storage_failed_attempts_total", "counter", "Failed uploads", stats.failed_attempts);
        metric(
            &mut out,
            "relay_storage_dropped_total",
            "counter",
            "Objects lost with memory and spool full",
            stats.dropped,
        );
    }
    if let Some(live) = &sources.live {
        metric(
            &mut out,
            "relay_live_streams",
            "gauge",
            "Streams whose live edge this pod holds",
            live.stream_names().len(),
        );
        metric(
            &mut out,
            "relay_live_publishing",
            "gauge",
            "1 while some stream has a publisher",
            u8::from(live.has_publishers()),
        );
    }
    if let Some(upstream) = &sources.upstream {
        metric(
            &mut out,
            "relay_origin_upstream_fetches_total",
            "counter",
            "Fetches from ingest pods",
            upstream.fetch_count(),
        );
        metric(
            &mut out,
            "relay_origin_cache_bytes",
            "gauge",
            "Media bytes in the origin cache",
            upstream.cached_bytes(),
        );
    }
    out
}
