//! Request counts and latency of a public router: one counter by route
//! class and status, one histogram by route class and status class. The
//! route class is one of a few fixed values (never the path or the stream
//! name), so the series stay bounded whatever clients ask for.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use metrics::{counter, histogram};
use origin::LiveFile;

/// `router` with every request counted and timed to its response head (a
/// parked blocking reload shows its hold time).
pub fn wrap(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(measure))
}

async fn measure(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_class(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    histogram!("relay_http_request_duration_seconds", "route" => route, "status_class" => status_class(status.as_u16()))
        .record(started.elapsed().as_secs_f64());
    counter!("relay_http_requests_total", "route" => route, "status" => status.as_str().to_owned()).increment(1);
    response
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Which kind of request `path` is, for the `route` label.
pub(crate) fn route_class(path: &str) -> &'static str {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    match first {
        // /live/{stream}/{file} and /t/{token}/live/{stream}/{file}
        "live" | "t" => match path.rsplit('/').next().and_then(LiveFile::parse) {
            Some(LiveFile::Multivariant | LiveFile::Media | LiveFile::Dvr) => "playlist",
            Some(LiveFile::Part(..)) => "part",
            Some(LiveFile::Segment(_)) => "segment",
            Some(LiveFile::Init(_)) => "init",
            None => "media_other",
        },
        "api" => "api",
        "console" => "console",
        "player.html" | "hls.min.js" => "player",
        "healthz" | "readyz" => "probe",
        "internal" => "internal",
        "metrics" => "metrics",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn paths_fall_in_a_few_classes() {
        let token = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
        let cases = [
            ("/live/main/index.m3u8", "playlist"),
            ("/live/main/media.m3u8", "playlist"),
            (&format!("/t/{token}/live/main/dvr.m3u8"), "playlist"),
            ("/live/main/seg12.3.m4s", "part"),
            ("/live/main/seg12.m4s", "segment"),
            ("/live/main/init1.mp4", "init"),
            ("/live/main/nothing.txt", "media_other"),
            ("/api/v1/streams", "api"),
            ("/console/", "console"),
            ("/player.html", "player"),
            ("/readyz", "probe"),
            ("/internal/v1/streams/main/status", "internal"),
            ("/../../etc/passwd", "other"),
            ("/", "other"),
        ];
        for (path, class) in cases {
            assert_eq!(route_class(path), class, "{path}");
        }
    }

    #[tokio::test]
    async fn requests_are_counted_by_class_and_status() {
        let handle = crate::metrics::handle();
        let app = wrap(Router::new().route("/live/{stream}/{file}", get(|| async { "part" })));
        let request = || Request::builder().uri("/live/a/seg1.2.m4s").body(axum::body::Body::empty()).unwrap();
        let missing = Request::builder().uri("/api/v1/missing-for-metrics").body(axum::body::Body::empty()).unwrap();
        let before = count(&handle.render(), "relay_http_requests_total{route=\"part\",status=\"200\"}");
        for _ in 0..3 {
            assert_eq!(app.clone().oneshot(request()).await.unwrap().status(), 200);
        }
        assert_eq!(app.oneshot(missing).await.unwrap().status(), 404);
        let text = handle.render();
        assert_eq!(count(&text, "relay_http_requests_total{route=\"part\",status=\"200\"}"), before + 3.0, "{text}");
        assert!(count(&text, "relay_http_requests_total{route=\"api\",status=\"404\"}") >= 1.0, "{text}");
        let observed = count(&text, "relay_http_request_duration_seconds_count{route=\"part\",status_class=\"2xx\"}");
        assert!(observed >= 3.0, "{text}");
        assert!(text
            .contains("relay_http_request_duration_seconds_bucket{route=\"part\",status_class=\"2xx\",le=\"0.001\"}"));
    }

    fn count(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }
}
