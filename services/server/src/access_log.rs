//! The access log: one event per HTTP request on a public listener, with
//! target `access` (one JSON line each with `server.log_format = "json"`),
//! when `http.access_log` is on. Fields: the client address as the listener
//! resolved it (trusted proxies applied), method, route class, the path
//! without tokens, status, body bytes when known, and the time to the
//! response head in ms (a parked blocking reload shows its hold time).

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// `router` with every request logged when `enabled` (`http.access_log`).
pub fn wrap_if(enabled: bool, router: Router) -> Router {
    if enabled {
        wrap(router)
    } else {
        router
    }
}

fn wrap(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(log_request))
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
    let method = request.method().clone();
    let path = origin::loggable_uri(request.uri());
    let route = route_class(request.uri().path());
    let response = next.run(request).await;
    let client = client.map(|ip| ip.to_string()).unwrap_or_default();
    tracing::info!(
        target: "access",
        client,
        method = %method,
        route,
        path,
        status = response.status().as_u16(),
        bytes = response.body().size_hint().exact(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    response
}

/// A few classes an operator filters by; never the stream name, so the
/// field stays low-cardinality.
fn route_class(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    match first {
        "live" | "t" => "media",
        "api" => "api",
        "console" => "console",
        "player.html" | "hls.min.js" => "player",
        "healthz" | "readyz" => "probe",
        "internal" => "internal",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn each_request_is_one_json_line_without_its_token() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let app = wrap(Router::new().route("/t/{token}/live/{stream}/{file}", get(|| async { "0123456789" })));
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsaXZlL21haW4vIn0.c2lnbmF0dXJl";
        let mut request =
            Request::builder().uri(format!("/t/{token}/live/main/seg3.1.m4s")).body(axum::body::Body::empty()).unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 7], 50000))));
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let missing = Request::builder().uri("/api/v1/nothing").body(axum::body::Body::empty()).unwrap();
        assert_eq!(app.oneshot(missing).await.unwrap().status(), 404);

        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first = &lines[0]["fields"];
        assert_eq!(lines[0]["target"], "access");
        assert_eq!(
            (&first["client"], &first["method"], &first["route"], &first["status"], &first["bytes"]),
            (&"203.0.113.7".into(), &"GET".into(), &"media".into(), &200.into(), &10.into())
        );
        assert!(first["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
        assert!(!text.contains(token) && first["path"].as_str().unwrap().ends_with("/live/main/seg3.1.m4s"), "{text}");
        let second = &lines[1]["fields"];
        assert_eq!((&second["route"], &second["status"], &second["client"]), (&"api".into(), &404.into(), &"".into()));
    }
}
