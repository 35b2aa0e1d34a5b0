//! /metrics in the Prometheus text format, through the `metrics` facade and
//! its Prometheus exporter (docs/design/metrics.md). Library crates record
//! events (uploads, webhooks, parked requests...); the values other parts
//! already keep (listener, writer and pool counters) are copied in at each
//! scrape. Per-stream series, when `admin.per_stream_metrics` asks for
//! them, are written by hand: their label values come and go with streams,
//! and the exporter cannot forget a series.

mod names;
mod process;

use std::fmt::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cameras::CameraBoard;
use cluster::FencedWriter;
use listener::ListenerStats;
use live::{Registry, StorageWriter};
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use origin::{OnPlayWebhooks, Upstream};

use crate::stacks::ingest::IngestStack;

/// Seconds: from a millisecond (a part handed over at once) to the longest
/// blocking hold (three target durations) and slow uploads.
const SECONDS_BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0];

/// The process-wide recorder, installed on first use; every later caller
/// gets the same handle.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics shows only snapshots");
        }
        names::describe();
        gauge!("relay_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// Histograms keep raw samples until a scrape or this folds them into
/// buckets; without a scraper their memory would grow.
fn spawn_upkeep() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        tokio::spawn(async {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                handle().run_upkeep();
            }
        });
    });
}

/// Series per stream (`admin.per_stream_metrics`): off, or on for at most
/// `max_streams` streams (the first by name), so a pod with many streams
/// cannot blow up the scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerStream {
    pub enabled: bool,
    pub max_streams: usize,
}

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
    pub cameras: Option<CameraBoard>,
    pub database: Option<catalog::Database>,
    pub per_stream: PerStream,
    /// The HTTPS and RTMPS certificate.
    pub tls: Option<crate::tls::Tls>,
}

impl MetricSources {
    pub fn of_ingest(ingest: &IngestStack) -> Self {
        Self {
            writer: Some(ingest.writer.clone()),
            fenced: Some(ingest.fenced.clone()),
            live: Some(ingest.live.clone()),
            listeners: ingest.listeners.clone(),
            cameras: Some(ingest.cameras.clone()),
            ..Self::default()
        }
    }

    pub fn with_on_play(mut self, on_play: Arc<OnPlayWebhooks>) -> Self {
        self.on_play = Some(on_play);
        self
    }

    pub fn with_listeners(mut self, listeners: Vec<(&'static str, Arc<ListenerStats>)>) -> Self {
        self.listeners.extend(listeners);
        self
    }

    pub fn with_listener(mut self, name: &'static str, stats: Arc<ListenerStats>) -> Self {
        self.listeners.push((name, stats));
        self
    }
}

pub fn router(sources: MetricSources) -> Router {
    handle();
    spawn_upkeep();
    Router::new().route(
        "/metrics",
        get(move || {
            let text = render(&sources);
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response() }
        }),
    )
}

pub fn render(sources: &MetricSources) -> String {
    let handle = handle();
    refresh(sources);
    let mut out = handle.render();
    render_process(&mut out);
    if sources.per_stream.enabled {
        if let Some(live) = &sources.live {
            render_per_stream(&mut out, live, sources.per_stream.max_streams);
        }
    }
    out
}

/// Copies the values other parts keep into the recorder.
fn refresh(sources: &MetricSources) {
    if let Some(writer) = &sources.writer {
        let stats = writer.stats();
        gauge!("relay_storage_available").set(f64::from(u8::from(stats.storage_available)));
        gauge!("relay_storage_queued_objects").set(stats.queued as f64);
        gauge!("relay_storage_queued_bytes").set(stats.queued_bytes as f64);
        gauge!("relay_storage_spooled_objects").set(stats.spooled as f64);
        gauge!("relay_storage_spooled_bytes").set(stats.spooled_bytes as f64);
        counter!("relay_storage_uploaded_total").absolute(stats.uploaded);
        counter!("relay_storage_failed_attempts_total").absolute(stats.failed_attempts);
        counter!("relay_storage_dropped_total").absolute(stats.dropped);
    }
    if let Some(live) = &sources.live {
        gauge!("relay_live_streams").set(live.stream_names().len() as f64);
        gauge!("relay_live_publishing").set(f64::from(u8::from(live.has_publishers())));
    }
    if let Some(fenced) = &sources.fenced {
        let stats = fenced.stats();
        gauge!("relay_registry_pending_events").set(stats.pending as f64);
        gauge!("relay_registry_pending_disk_bytes").set(stats.pending_disk_bytes as f64);
        counter!("relay_registry_retries_total").absolute(stats.retries);
        counter!("relay_registry_dropped_total").absolute(stats.dropped);
    }
    for (listener, stats) in &sources.listeners {
        refresh_listener(listener, &stats.snapshot());
    }
    if let Some(upstream) = &sources.upstream {
        counter!("relay_origin_upstream_fetches_total").absolute(upstream.fetch_count());
        gauge!("relay_origin_cache_bytes").set(upstream.cached_bytes() as f64);
    }
    if let Some(on_play) = &sources.on_play {
        counter!("relay_on_play_cache_evictions_total").absolute(on_play.evictions());
    }
    if let Some(board) = &sources.cameras {
        let states = board.states();
        for state in names::camera_states() {
            let pulls = states.iter().filter(|counted| counted.as_str() == state).count();
            gauge!("relay_camera_pulls", "state" => state).set(pulls as f64);
        }
    }
    if let Some(tls) = &sources.tls {
        refresh_tls(&tls.report());
    }
    if let Some(database) = &sources.database {
        let pool = database.db().pool();
        gauge!("relay_database_pool_connections").set(f64::from(pool.size()));
        gauge!("relay_database_pool_idle_connections").set(pool.num_idle() as f64);
        gauge!("relay_database_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    }
}

fn refresh_tls(report: &crate::tls::TlsReport) {
    if let Some(expires) = report.certificate_expires {
        gauge!("relay_tls_certificate_expiry_timestamp_seconds").set(expires as f64);
    }
    counter!("relay_tls_certificates_installed_total").absolute(report.certificates_installed);
    counter!("relay_tls_reload_failures_total").absolute(report.reload_failures);
    counter!("relay_tls_handshake_failures_total").absolute(report.handshake_failures);
    counter!("relay_tls_plaintext_refused_total").absolute(report.plaintext_refused);
    if let Some(acme) = &report.acme {
        counter!("relay_acme_certificates_issued_total").absolute(acme.issued);
        counter!("relay_acme_failures_total").absolute(acme.failures);
        gauge!("relay_acme_consecutive_failures").set(acme.consecutive_failures as f64);
    }
}

/// Written by hand: the recorder's counters are whole numbers, and CPU
/// time is a fractional counter.
fn render_process(out: &mut String) {
    let sample = process::sample();
    let series = [
        ("process_cpu_seconds_total", "counter", "User and system CPU time spent", sample.cpu_seconds),
        ("process_resident_memory_bytes", "gauge", "Resident memory size", sample.resident_bytes.map(|v| v as f64)),
        ("process_open_fds", "gauge", "Open file descriptors", sample.open_fds.map(|v| v as f64)),
        ("process_max_fds", "gauge", "Limit on open file descriptors", sample.max_fds.map(|v| v as f64)),
        ("process_start_time_seconds", "gauge", "Start time since the Unix epoch", sample.start_time_seconds),
    ];
    for (name, kind, help, value) in series {
        if let Some(value) = value {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
    }
}

fn refresh_listener(listener: &'static str, stats: &listener::StatsSnapshot) {
    let labels = [("listener", listener)];
    gauge!("relay_listener_open_connections", &labels).set(stats.open as f64);
    let counters = [
        ("relay_listener_accepted_total", stats.accepted),
        ("relay_listener_refused_full_total", stats.refused_full),
        ("relay_listener_refused_address_total", stats.refused_address),
        ("relay_listener_evicted_total", stats.evicted),
        ("relay_listener_not_useful_total", stats.not_useful_in_time),
        ("relay_listener_idle_total", stats.idle),
        ("relay_listener_write_stalled_total", stats.write_stalled),
        ("relay_listener_cut_at_drain_total", stats.cut_at_drain),
        ("relay_listener_proxy_header_failed_total", stats.proxy_header_failed),
        ("relay_listener_accept_errors_total", stats.accept_errors),
    ];
    for (name, value) in counters {
        counter!(name, &labels).absolute(value);
    }
}

/// The first `max_streams` streams by name, and how many were left out.
fn render_per_stream(out: &mut String, live: &Registry, max_streams: usize) {
    let mut names = live.stream_names();
    names.sort_unstable();
    let omitted = names.len().saturating_sub(max_streams);
    names.truncate(max_streams);
    let streams: Vec<_> = names.into_iter().filter_map(|name| Some((live.get(&name)?, name))).collect();
    type Read = fn(&live::LiveStream) -> usize;
    let series: [(&str, &str, Read); 2] = [
        ("relay_stream_publishing", "1 while the stream has a publisher on this pod", |stream| {
            usize::from(stream.has_publisher())
        }),
        ("relay_stream_parked_requests", "Blocking requests waiting on the stream's next part", |stream| {
            stream.waiting_requests()
        }),
    ];
    for (name, help, read) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (stream, stream_name) in &streams {
            let _ = writeln!(out, "{name}{{stream=\"{}\"}} {}", escape_label(stream_name), read(stream));
        }
    }
    let name = "relay_stream_series_omitted_streams";
    let _ = writeln!(
        out,
        "# HELP {name} Streams left out of the per-stream series (admin.per_stream_max_streams)\n# TYPE {name} gauge\n{name} {omitted}"
    );
}

/// Label values are quoted; a backslash, quote or newline is escaped.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[tokio::test]
    async fn build_info_process_and_listener_series_are_rendered() {
        let stats = Arc::new(ListenerStats::default());
        let sources = MetricSources::default().with_listener("rtmp", stats);
        let text = render(&sources);
        let version = env!("CARGO_PKG_VERSION");
        assert!(text.contains(&format!("relay_build_info{{version=\"{version}\"}} 1")), "{text}");
        assert!(text.contains("relay_listener_accepted_total{listener=\"rtmp\"} 0"), "{text}");
        assert!(text.contains("# TYPE relay_listener_open_connections gauge"), "{text}");
        #[cfg(target_os = "linux")]
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"] {
            assert!(text.lines().any(|line| line.starts_with(&format!("{name} "))), "{name} missing:\n{text}");
        }
    }
}
