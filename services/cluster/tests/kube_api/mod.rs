//! The Lease part of the Kubernetes API server, over plain HTTP on a
//! loopback port: GET, POST and PUT on
//! `/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases[/{name}]`.
//! It behaves as the real server does for these calls: resourceVersion bumps
//! on every write, 404 NotFound, 409 AlreadyExists on creating a taken name,
//! 409 Conflict on a PUT carrying a stale resourceVersion, 403 Forbidden
//! where RBAC would deny, each with a `Status` body.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// A namespace this pod's service account may not touch, as if its Role were missing.
pub const FORBIDDEN_NAMESPACE: &str = "locked";

#[derive(Default)]
struct Stored {
    objects: Mutex<HashMap<(String, String), Value>>,
    last_version: AtomicU64,
    conflicts: AtomicUsize,
    already_exists: AtomicUsize,
    /// Reads to hold until they all arrived, so racing writers read alike.
    held_reads: Mutex<Option<(Arc<Barrier>, usize)>>,
}

pub struct FakeApiServer {
    pub url: String,
    stored: Arc<Stored>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeApiServer {
    pub async fn start() -> Self {
        let stored = Arc::new(Stored::default());
        let base = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases";
        let app = Router::new()
            .route(base, post(create))
            .route(&format!("{base}/{{name}}"), get(read).put(replace))
            .with_state(stored.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, stored, task }
    }

    /// The stored object, as a GET would return it.
    pub fn object(&self, namespace: &str, name: &str) -> Option<Value> {
        self.stored.objects.lock().unwrap().get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    /// PUTs refused for a stale resourceVersion so far.
    pub fn conflicts(&self) -> usize {
        self.stored.conflicts.load(Ordering::SeqCst)
    }

    /// POSTs refused because the name was taken so far.
    pub fn already_exists(&self) -> usize {
        self.stored.already_exists.load(Ordering::SeqCst)
    }

    /// The next `count` GETs wait for one another before answering.
    pub fn hold_next_reads(&self, count: usize) {
        *self.stored.held_reads.lock().unwrap() = Some((Arc::new(Barrier::new(count)), count));
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn status(code: StatusCode, reason: &str, message: String, name: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases"},
        "code": code.as_u16(),
    });
    (code, Json(body)).into_response()
}

fn not_found(name: &str) -> Response {
    status(StatusCode::NOT_FOUND, "NotFound", format!("leases.coordination.k8s.io \"{name}\" not found"), name)
}

fn bad_request(name: &str, message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message.to_owned(), name)
}

fn forbidden(verb: &str, namespace: &str, name: &str) -> Response {
    let message = format!(
        "leases.coordination.k8s.io \"{name}\" is forbidden: User \"system:serviceaccount:{namespace}:relay\" \
         cannot {verb} resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"{namespace}\""
    );
    status(StatusCode::FORBIDDEN, "Forbidden", message, name)
}

/// What the server checks on every written Lease: its type, its namespace
/// and the fields validation would refuse. The refusal, if any.
fn refusal(namespace: &str, name: &str, lease: &Value) -> Option<Response> {
    if lease["apiVersion"] != "coordination.k8s.io/v1" || lease["kind"] != "Lease" {
        return Some(bad_request(name, "the body is not a coordination.k8s.io/v1 Lease"));
    }
    if let Some(body_namespace) = lease["metadata"]["namespace"].as_str() {
        if body_namespace != namespace {
            return Some(bad_request(
                name,
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let spec = &lease["spec"];
    let negative = |field: &str, minimum: i64| spec[field].as_i64().is_some_and(|value| value < minimum);
    if negative("leaseDurationSeconds", 1) || negative("leaseTransitions", 0) {
        let message = format!("Lease.coordination.k8s.io \"{name}\" is invalid: spec: Invalid value");
        return Some(status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message, name));
    }
    None
}

impl Stored {
    fn next_version(&self) -> String {
        (self.last_version.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    async fn wait_if_held(&self) {
        let barrier = {
            let mut held = self.held_reads.lock().unwrap();
            let barrier = held.as_mut().map(|(barrier, left)| {
                *left -= 1;
                barrier.clone()
            });
            if held.as_ref().is_some_and(|(_, left)| *left == 0) {
                *held = None;
            }
            barrier
        };
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
    }
}

async fn read(State(stored): State<Arc<Stored>>, Path((namespace, name)): Path<(String, String)>) -> Response {
    if namespace == FORBIDDEN_NAMESPACE {
        return forbidden("get", &namespace, &name);
    }
    stored.wait_if_held().await;
    match stored.objects.lock().unwrap().get(&(namespace, name.clone())) {
        Some(lease) => Json(lease.clone()).into_response(),
        None => not_found(&name),
    }
}

async fn create(
    State(stored): State<Arc<Stored>>,
    Path(namespace): Path<String>,
    Json(mut lease): Json<Value>,
) -> Response {
    let Some(name) = lease["metadata"]["name"].as_str().map(str::to_owned) else {
        return bad_request("", "name or generateName is required");
    };
    if namespace == FORBIDDEN_NAMESPACE {
        return forbidden("create", &namespace, &name);
    }
    if let Some(response) = refusal(&namespace, &name, &lease) {
        return response;
    }
    if !lease["metadata"]["resourceVersion"].is_null() {
        return bad_request(&name, "resourceVersion should not be set on objects to be created");
    }
    let mut objects = stored.objects.lock().unwrap();
    let key = (namespace.clone(), name.clone());
    if objects.contains_key(&key) {
        stored.already_exists.fetch_add(1, Ordering::SeqCst);
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("leases.coordination.k8s.io \"{name}\" already exists"),
            &name,
        );
    }
    let metadata = &mut lease["metadata"];
    metadata["namespace"] = json!(namespace);
    metadata["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", stored.last_version.load(Ordering::SeqCst)));
    metadata["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    metadata["resourceVersion"] = json!(stored.next_version());
    objects.insert(key, lease.clone());
    (StatusCode::CREATED, Json(lease)).into_response()
}

async fn replace(
    State(stored): State<Arc<Stored>>,
    Path((namespace, name)): Path<(String, String)>,
    Json(mut lease): Json<Value>,
) -> Response {
    if namespace == FORBIDDEN_NAMESPACE {
        return forbidden("update", &namespace, &name);
    }
    if lease["metadata"]["name"].as_str() != Some(name.as_str()) {
        return bad_request(&name, "the name of the object does not match the name on the URL");
    }
    if let Some(response) = refusal(&namespace, &name, &lease) {
        return response;
    }
    let mut objects = stored.objects.lock().unwrap();
    let key = (namespace.clone(), name.clone());
    let Some(current) = objects.get(&key) else {
        return not_found(&name);
    };
    // Leases allow unconditional updates: no resourceVersion, no check.
    let sent = &lease["metadata"]["resourceVersion"];
    if !sent.is_null() && *sent != current["metadata"]["resourceVersion"] {
        stored.conflicts.fetch_add(1, Ordering::SeqCst);
        let message = format!(
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again"
        );
        return status(StatusCode::CONFLICT, "Conflict", message, &name);
    }
    let (uid, created) = (current["metadata"]["uid"].clone(), current["metadata"]["creationTimestamp"].clone());
    let metadata = &mut lease["metadata"];
    metadata["namespace"] = json!(namespace);
    metadata["uid"] = uid;
    metadata["creationTimestamp"] = created;
    metadata["resourceVersion"] = json!(stored.next_version());
    objects.insert(key, lease.clone());
    Json(lease).into_response()
}
