//! Authenticated reads per second against a real listener on SQLite:
//! `GET /api/v1/streams/{id}` with an API key, from concurrent keep-alive
//! connections. Prints the figure; asserts nothing about speed.
//!
//! Run: `cargo bench -p api --bench reads` (READS_SECS, READS_CLIENTS to tune).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{ApiOptions, ApiState};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use catalog::{Catalog, CatalogOptions, Database, PasswordCost};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let seconds = setting("READS_SECS", 5);
    let clients = setting("READS_CLIENTS", 16);
    let path = std::env::temp_dir().join(format!("api-bench-{}.db", std::process::id()));
    let database = Database::open_sqlite(&path).await.expect("database");
    let options = CatalogOptions { password_cost: PasswordCost::TestOnly, ..CatalogOptions::default() };
    let state = ApiState::new(Catalog::new(database, options), ApiOptions::default());
    let (admin, _) = state.ensure_admin("admin").await.expect("bootstrap").expect("fresh database");
    let (_, key) = state.database().create_api_key(&admin.id, "bench", None).await.expect("key");
    let mut streams = Vec::new();
    for index in 0..20 {
        streams.push(state.database().add_stream(&format!("cam-{index}"), None).await.expect("stream").id);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let service = api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (key, streams, done, failed) = (key.clone(), streams.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(address).await.expect("connect");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let mut index = client as usize;
            while Instant::now() < deadline {
                index = (index + 1) % streams.len();
                let request = Request::get(format!("/api/v1/streams/{}", streams[index]))
                    .header(header::HOST, "bench")
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .body(Body::empty())
                    .expect("request");
                let response = sender.send_request(request).await.expect("response");
                let ok = response.status() == StatusCode::OK;
                let _ = response.into_body().collect().await;
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let reads = done.load(Ordering::Relaxed);
    println!(
        "authenticated reads (SQLite, {clients} connections, {seconds}s): {reads} ok, {} failed, {:.0} reads/s",
        failed.load(Ordering::Relaxed),
        reads as f64 / elapsed
    );
    server.abort();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
