//! Every series name the recorder serves, with its help text; the ones the
//! library crates record are spelled here once more, and the tests scrape a
//! running server to check both agree (services/server/tests/metrics.rs).
//!
//! Series with a small, known set of label values start at zero, so a
//! dashboard or alert sees them (and `rate()` works) before the first event.

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

use Kind::{Counter, Gauge, Histogram};

const DESCRIBED: &[(Kind, &str, &str)] = &[
    (Gauge, "relay_build_info", "Always 1; the version label names the build"),
    (Gauge, "relay_storage_available", "1 while uploads succeed"),
    (Gauge, "relay_storage_queued_objects", "Objects waiting in memory"),
    (Gauge, "relay_storage_queued_bytes", "Bytes waiting in memory"),
    (Gauge, "relay_storage_spooled_objects", "Objects waiting in the disk spool"),
    (Gauge, "relay_storage_spooled_bytes", "Bytes waiting in the disk spool"),
    (Counter, "relay_storage_uploaded_total", "Objects uploaded"),
    (Counter, "relay_storage_failed_attempts_total", "Failed uploads"),
    (Counter, "relay_storage_dropped_total", "Objects lost with memory and spool full"),
    (Histogram, "relay_storage_upload_duration_seconds", "Time of one upload attempt, by outcome"),
    (Gauge, "relay_live_streams", "Streams whose live edge this pod holds"),
    (Gauge, "relay_live_publishing", "1 while some stream has a publisher"),
    (
        Histogram,
        "relay_live_part_publish_delay_seconds",
        "From the newest frame a part holds being received to the part being available to viewers",
    ),
    (Gauge, "relay_registry_pending_events", "Writes waiting for the database"),
    (Gauge, "relay_registry_pending_disk_bytes", "Payload bytes waiting for the database in the spool"),
    (Counter, "relay_registry_retries_total", "Database writes retried"),
    (Counter, "relay_registry_dropped_total", "Writes lost with memory and spool full"),
    (Counter, "relay_listener_accepted_total", "Connections accepted"),
    (Gauge, "relay_listener_open_connections", "Connections open"),
    (Counter, "relay_listener_refused_full_total", "Connections refused at the global cap"),
    (Counter, "relay_listener_refused_address_total", "Connections refused at the per-address cap"),
    (Counter, "relay_listener_evicted_total", "Waiting connections closed to make room at a cap"),
    (Counter, "relay_listener_not_useful_total", "Connections closed for not becoming useful in time"),
    (Counter, "relay_listener_idle_total", "Connections closed idle"),
    (Counter, "relay_listener_write_stalled_total", "Connections closed with writes stalled"),
    (Counter, "relay_listener_cut_at_drain_total", "Connections cut at the drain deadline"),
    (Counter, "relay_listener_proxy_header_failed_total", "Trusted peers closed for a bad PROXY header"),
    (Counter, "relay_listener_accept_errors_total", "Failed accepts"),
    (Counter, "relay_ingest_received_bytes_total", "Bytes received from publishers, by protocol"),
    (Counter, "relay_http_requests_total", "HTTP requests answered on the public listener, by route class and status"),
    (
        Histogram,
        "relay_http_request_duration_seconds",
        "Time to the response head, by route class and status class (a parked blocking reload shows its hold)",
    ),
    (Gauge, "relay_origin_parked_requests", "Requests parked on the live edge until a part or playlist exists"),
    (Histogram, "relay_origin_parked_duration_seconds", "How long a parked request waited, by outcome"),
    (Counter, "relay_origin_upstream_fetches_total", "Fetches from ingest pods"),
    (Gauge, "relay_origin_cache_bytes", "Media bytes in the origin cache"),
    (Counter, "relay_on_play_cache_evictions_total", "on_play decisions evicted to keep the cache within its capacity"),
    (Counter, "relay_webhook_deliveries_total", "Webhook deliveries, by event and outcome, after retries"),
    (Histogram, "relay_webhook_delivery_duration_seconds", "Time of one webhook delivery with its retries, by event"),
    (Counter, "relay_login_attempts_total", "Logins to the management API, by result"),
    (Gauge, "relay_camera_pulls", "Camera pulls this pod runs, by state"),
    (Gauge, "relay_database_pool_connections", "Database connections open"),
    (Gauge, "relay_database_pool_idle_connections", "Database connections open and idle"),
    (Gauge, "relay_database_pool_max_connections", "Database connections the pool may open"),
    (Gauge, "relay_tls_certificate_expiry_timestamp_seconds", "When the served TLS certificate expires"),
    (Counter, "relay_tls_certificates_installed_total", "TLS certificates put in service"),
    (Counter, "relay_tls_reload_failures_total", "TLS certificate replacements that could not be used"),
    (Counter, "relay_tls_handshake_failures_total", "TLS handshakes that failed"),
    (Counter, "relay_tls_plaintext_refused_total", "Plain HTTP requests refused on a TLS port"),
    (Counter, "relay_acme_certificates_issued_total", "Certificates issued by the ACME server"),
    (Counter, "relay_acme_failures_total", "ACME orders that failed"),
    (Gauge, "relay_acme_consecutive_failures", "ACME orders failed since the last certificate was issued"),
];

const WEBHOOK_EVENTS: [&str; 3] = ["on_publish", "on_unpublish", "on_play"];
const WEBHOOK_OUTCOMES: [&str; 3] = ["accepted", "refused", "failed"];
const LOGIN_RESULTS: [&str; 5] = ["success", "failure", "throttled", "busy", "error"];
const CAMERA_STATES: [&str; 6] = ["idle", "connecting", "online", "offline", "waiting_for_config", "stopped"];
const PARKED_REQUESTS: [&str; 2] = ["playlist", "part"];
const PARKED_OUTCOMES: [&str; 3] = ["ready", "expired", "gone"];

pub fn describe() {
    for &(kind, name, help) in DESCRIBED {
        let unit = if name.ends_with("_seconds") { Some(Unit::Seconds) } else { None };
        match (kind, unit) {
            (Counter, _) => describe_counter!(name, help),
            (Gauge, _) => describe_gauge!(name, help),
            (Histogram, Some(unit)) => describe_histogram!(name, unit, help),
            (Histogram, None) => describe_histogram!(name, help),
        }
    }
    for event in WEBHOOK_EVENTS {
        let _registered = histogram!("relay_webhook_delivery_duration_seconds", "event" => event);
        for outcome in WEBHOOK_OUTCOMES {
            counter!("relay_webhook_deliveries_total", "event" => event, "outcome" => outcome).increment(0);
        }
    }
    for result in LOGIN_RESULTS {
        counter!("relay_login_attempts_total", "result" => result).increment(0);
    }
    for request in PARKED_REQUESTS {
        gauge!("relay_origin_parked_requests", "request" => request).increment(0.0);
        for outcome in PARKED_OUTCOMES {
            let _registered =
                histogram!("relay_origin_parked_duration_seconds", "request" => request, "outcome" => outcome);
        }
    }
    for outcome in ["success", "failure"] {
        let _registered = histogram!("relay_storage_upload_duration_seconds", "outcome" => outcome);
    }
    let _registered = histogram!("relay_live_part_publish_delay_seconds");
    for protocol in ["rtmp", "rtsp"] {
        counter!("relay_ingest_received_bytes_total", "protocol" => protocol).increment(0);
    }
}

/// States of `relay_camera_pulls`, all of them reported (zero when none).
pub fn camera_states() -> [&'static str; 6] {
    CAMERA_STATES
}
