//! /metrics of a running `relay all` while a publisher sends: the series an
//! operator runs on have values, every series the chart's dashboard and
//! alert rules query is one the server serves, and the scrape passes
//! `promtool check metrics`.

#[allow(unused_imports)]
mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{hls, http, tools, Server};

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn the_dashboard_and_alerts_query_only_series_a_publishing_server_serves() {
    let _turn = common::exclusive();
    let server = Server::start_with_env(&[("RELAY_ADMIN_PER_STREAM_METRICS", "true".into())]);
    let _publisher = tools::spawn_publisher(&server.publish_url(), 30);
    let playlist = hls::wait_for_segments(&server.playlist_url, 1, Duration::from_secs(45));
    // The hinted part is not cut yet: its request parks until it is.
    let hinted = preload_hint(&playlist.body).unwrap_or_else(|| panic!("no preload hint:\n{}", playlist.body));
    let part = http::get(&hls::resolve(&playlist.url, hinted), TIMEOUT).unwrap();
    assert_eq!(part.status, 200);

    let text = http::get(&server.admin_url("/metrics"), TIMEOUT).unwrap().text();
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert!(value("relay_live_part_publish_delay_seconds_count") >= 5.0, "parts were published and timed");
    assert!(value("relay_live_part_publish_delay_seconds_sum") > 0.0);
    assert!(value("relay_ingest_received_bytes_total{protocol=\"rtmp\"}") > 100_000.0);
    assert!(value("relay_http_requests_total{route=\"playlist\",status=\"200\"}") >= 1.0);
    assert!(value("relay_http_requests_total{route=\"part\",status=\"200\"}") >= 1.0);
    assert!(value("relay_origin_parked_duration_seconds_count{request=\"part\",outcome=\"ready\"}") >= 1.0);
    assert_eq!(value("relay_origin_parked_requests{request=\"part\"}"), 0.0, "nothing is parked any more");
    assert_eq!(value("relay_listener_open_connections{listener=\"rtmp\"}"), 1.0);
    assert_eq!(value("relay_stream_publishing{stream=\"main\"}"), 1.0);
    assert!(value("relay_database_pool_max_connections") >= 1.0);
    assert!(value("process_resident_memory_bytes") > 1_000_000.0);
    assert!(value("process_open_fds") >= 5.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(value(&format!("relay_build_info{{version=\"{version}\"}}")), 1.0);

    let served = served_names(&text);
    let chart = common::repo_root().join("charts/relay");
    let dashboard = std::fs::read_to_string(chart.join("dashboards/relay.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let expressions: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().iter())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(expressions.len() >= 10);
    let rules = std::fs::read_to_string(chart.join("rules/relay.rules.yaml")).unwrap();
    let rule_expressions: Vec<&str> = rules.lines().filter(|line| !line.trim_start().starts_with('#')).collect();
    let queried: BTreeSet<String> =
        expressions.iter().map(String::as_str).chain(rule_expressions).flat_map(metric_names_in).collect();
    assert!(queried.len() >= 20, "{queried:?}");
    let unknown: Vec<_> = queried.difference(&served).collect();
    assert!(
        unknown.is_empty(),
        "queried by the dashboard or the rules but not served: {unknown:?}\nserved: {served:?}"
    );

    if let Some(promtool) = which("promtool") {
        let mut lint = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        lint.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let output = lint.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "promtool check metrics:\n{said}");
    }
}

/// The value of the sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
}

/// Every name a query may use: the metric names, and each histogram's
/// and summary's `_bucket`, `_sum` and `_count`.
fn served_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(declared) = line.strip_prefix("# TYPE ") else { continue };
        let mut words = declared.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
        names.insert(name.to_owned());
        if kind == "histogram" || kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Identifiers in a PromQL expression that name relay or process series.
fn metric_names_in(expression: &str) -> Vec<String> {
    let bytes = expression.as_bytes();
    let mut names = Vec::new();
    let mut start = None;
    for (index, byte) in bytes.iter().chain(std::iter::once(&b' ')).enumerate() {
        let word = byte.is_ascii_alphanumeric() || *byte == b'_';
        match (word, start) {
            (true, None) => start = Some(index),
            (false, Some(from)) => {
                let identifier = &expression[from..index];
                let preceded_by_word = from > 0 && (bytes[from - 1] == b'$' || bytes[from - 1] == b'.');
                if (identifier.starts_with("relay_") || identifier.starts_with("process_")) && !preceded_by_word {
                    names.push(identifier.to_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    names
}

fn preload_hint(playlist: &str) -> Option<&str> {
    let line = playlist.lines().find(|line| line.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    line.split("URI=\"").nth(1)?.split('"').next()
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| std::path::Path::new(dir).join(tool)).find(|p| p.is_file())
}

#[test]
fn names_are_found_in_queries_but_not_in_label_values_or_templates() {
    let names = metric_names_in(
        "sum by (route) (rate(relay_http_requests_total{status=~\"5..\"}[5m])) / process_max_fds and relay_x{a=\"relay_not\"}",
    );
    // A label value inside quotes is still an identifier here; the check errs on the side of listing more.
    assert!(names.contains(&"relay_http_requests_total".to_owned()) && names.contains(&"process_max_fds".to_owned()));
    assert!(metric_names_in("{{ $labels.relay_pod }}").is_empty());
    assert_eq!(preload_hint("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg3.2.m4s\"\n"), Some("seg3.2.m4s"));
    let served = served_names("# TYPE a_seconds histogram\n# TYPE b_total counter\n");
    assert!(served.contains("a_seconds_bucket") && served.contains("b_total") && !served.contains("b_total_sum"));
}
