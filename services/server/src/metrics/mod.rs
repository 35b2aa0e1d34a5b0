//! /metrics in the Prometheus text format, written by hand: a few gauges
//! and counters do not need a metrics framework.

use std::fmt::Write;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cluster::FencedWriter;
use listener::ListenerStats;
use live::{Registry, StorageWriter};
use origin::{OnPlayWebhooks, Upstream};

use crate::stacks::ingest::IngestStack;

/// What a pod can report; each role fills what it has.
#[derive(Clone, Default)]
pub struct MetricSources {
    pub writer: Option<StorageWriter>,
    pub fenced: Option<Arc<FencedWriter>>,
    pub live: Option<Arc<Registry>>,
    pub upstream: Option<Arc<Upstream>>,
    /// The origin's on_play decisions.
    pub on_play: Option<Arc<OnPlayWebhooks>>,
    /// Every listener of the process by name (http, rtmp, rtsp, internal).
    pub listeners: Vec<(&'static str, Arc<ListenerStats>)>,
}

impl MetricSources {
    pub fn of_ingest(ingest: &IngestStack) -> Self {
        Self {
            writer: Some(ingest.writer.clone()),
            fenced: Some(ingest.fenced.clone()),
            live: Some(ingest.live.clone()),
            upstream: None,
            on_play: None,
            listeners: ingest.listeners.clone(),
        }
    }

    pub fn with_on_play(mut self, on_play: Arc<OnPlayWebhooks>) -> Self {
        self.on_play = Some(on_play);
        self
    }

    pub fn with_listener(mut self, name: &'static str, stats: Arc<ListenerStats>) -> Self {
        self.listeners.push((name, stats));
        self
    }
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
    if let Some(fenced) = &sources.fenced {
        let stats = fenced.stats();
        metric(&mut out, "relay_registry_pending_events", "gauge", "Writes waiting for the database", stats.pending);
        metric(
            &mut out,
            "relay_registry_pending_disk_bytes",
            "gauge",
            "Payload bytes waiting for the database in the spool",
            stats.pending_disk_bytes,
        );
        metric(&mut out, "relay_registry_retries_total", "counter", "Database writes retried", stats.retries);
        metric(
            &mut out,
            "relay_registry_dropped_total",
            "counter",
            "Writes lost with memory and spool full",
            stats.dropped,
        );
    }
    render_listeners(&mut out, &sources.listeners);
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
    if let Some(on_play) = &sources.on_play {
        metric(
            &mut out,
            "relay_on_play_cache_evictions_total",
            "counter",
            "on_play decisions evicted to keep the cache within its capacity",
            on_play.evictions(),
        );
    }
    out
}

/// One series per listener for each counter, labelled by listener name.
fn render_listeners(out: &mut String, listeners: &[(&'static str, Arc<ListenerStats>)]) {
    if listeners.is_empty() {
        return;
    }
    let snapshots: Vec<_> = listeners.iter().map(|(name, stats)| (*name, stats.snapshot())).collect();
    type Read = fn(&listener::StatsSnapshot) -> u64;
    let series: [(&str, &str, &str, Read); 11] = [
        ("relay_listener_accepted_total", "counter", "Connections accepted", |stats| stats.accepted),
        ("relay_listener_open_connections", "gauge", "Connections open", |stats| stats.open),
        ("relay_listener_refused_full_total", "counter", "Connections refused at the global cap", |stats| {
            stats.refused_full
        }),
        ("relay_listener_refused_address_total", "counter", "Connections refused at the per-address cap", |stats| {
            stats.refused_address
        }),
        ("relay_listener_evicted_total", "counter", "Waiting connections closed to make room at a cap", |stats| {
            stats.evicted
        }),
        ("relay_listener_not_useful_total", "counter", "Connections closed for not becoming useful in time", |stats| {
            stats.not_useful_in_time
        }),
        ("relay_listener_idle_total", "counter", "Connections closed idle", |stats| stats.idle),
        ("relay_listener_write_stalled_total", "counter", "Connections closed with writes stalled", |stats| {
            stats.write_stalled
        }),
        ("relay_listener_cut_at_drain_total", "counter", "Connections cut at the drain deadline", |stats| {
            stats.cut_at_drain
        }),
        (
            "relay_listener_proxy_header_failed_total",
            "counter",
            "Trusted peers closed for a bad PROXY header",
            |stats| stats.proxy_header_failed,
        ),
        ("relay_listener_accept_errors_total", "counter", "Failed accepts", |stats| stats.accept_errors),
    ];
    for (name, kind, help, read) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (listener, stats) in &snapshots {
            let _ = writeln!(out, "{name}{{listener=\"{listener}\"}} {}", read(stats));
        }
    }
}
