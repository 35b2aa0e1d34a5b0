//! The HTTP surface: one route table that both mounts the handlers and
//! generates the OpenAPI document, so the two cannot drift apart.

mod access;
mod admin;
pub mod extract;
mod hierarchy;
mod openapi;
mod schemas;
mod session;
mod streams;
mod users;

use std::collections::BTreeMap;

use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;

pub use openapi::openapi_document;

use crate::error::ApiError;
use crate::state::ApiState;
use catalog::CatalogError;

pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// Who may call a route, for the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    SignedIn,
}

/// What a route answers with, by schema name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    Nothing,
    One(&'static str),
    /// 201 with the new object.
    Created(&'static str),
    List(&'static str),
}

/// An optional query parameter, for the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryParam {
    pub name: &'static str,
    /// `string` or `integer`.
    pub kind: &'static str,
    /// The inclusive range an integer must lie in, when the server checks one.
    pub range: Option<(i64, i64)>,
}

impl QueryParam {
    const fn text(name: &'static str) -> Self {
        QueryParam { name, kind: "string", range: None }
    }

    const fn integer(name: &'static str) -> Self {
        QueryParam { name, kind: "integer", range: None }
    }

    const fn integer_in(name: &'static str, min: i64, max: i64) -> Self {
        QueryParam { name, kind: "integer", range: Some((min, max)) }
    }
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// The request body's schema name.
    pub body: Option<&'static str>,
    pub returns: Returns,
    /// Query parameters (all optional).
    pub query: &'static [QueryParam],
    handler: MethodRouter<ApiState>,
}

impl Route {
    fn body(mut self, schema: &'static str) -> Route {
        self.body = Some(schema);
        self
    }

    fn returns(mut self, schema: &'static str) -> Route {
        self.returns = Returns::One(schema);
        self
    }

    fn creates(mut self, schema: &'static str) -> Route {
        self.returns = Returns::Created(schema);
        self
    }

    fn list(mut self, schema: &'static str) -> Route {
        self.returns = Returns::List(schema);
        self
    }

    fn query(mut self, parameters: &'static [QueryParam]) -> Route {
        self.query = parameters;
        self
    }
}

fn route<H, T>(method: Method, path: &'static str, tag: &'static str, summary: &'static str, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route {
        method,
        path,
        tag,
        summary,
        access: Access::SignedIn,
        body: None,
        returns: Returns::Nothing,
        query: &[],
        handler: axum::routing::on(filter, handler),
    }
}

fn public(mut route: Route) -> Route {
    route.access = Access::Anyone;
    route
}

/// The audit log's page size: the server answers 422 outside it.
const AUDIT_LIMIT: (i64, i64) = (1, 1000);

const AREA_FILTER: &[QueryParam] = &[QueryParam::text("area_id")];
const DEVICE_FILTER: &[QueryParam] = &[QueryParam::text("device_id")];

const AUDIT_QUERY: &[QueryParam] = &[
    QueryParam::text("user"),
    QueryParam::text("object"),
    QueryParam::integer("from"),
    QueryParam::integer("to"),
    QueryParam::integer_in("limit", AUDIT_LIMIT.0, AUDIT_LIMIT.1),
];

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    use Method as M;
    macro_rules! p {
        ($path:literal) => {
            concat!("/api/v1", $path)
        };
    }
    vec![
        public(route(M::GET, OPENAPI_PATH, "meta", "This OpenAPI document", openapi::serve).returns("OpenApi")),
        public(
            route(M::POST, p!("/auth/login"), "auth", "Log in; sets the session cookie", session::login)
                .body("Login")
                .returns("Me"),
        ),
        route(M::POST, p!("/auth/logout"), "auth", "End the current session", session::logout),
        route(M::GET, p!("/auth/me"), "auth", "The signed-in user", session::me).returns("Me"),
        route(M::GET, p!("/users"), "users", "List users (admin)", users::list).list("User"),
        route(M::POST, p!("/users"), "users", "Create a user (admin)", users::create).body("NewUser").creates("User"),
        route(M::GET, p!("/users/{id}"), "users", "Get a user (admin or self)", users::get).returns("User"),
        route(M::PATCH, p!("/users/{id}"), "users", "Change password or role", users::update)
            .body("UserChange")
            .returns("User"),
        route(M::DELETE, p!("/users/{id}"), "users", "Delete a user (admin)", users::delete),
        route(M::GET, p!("/api-keys"), "api-keys", "List your API keys", users::list_keys).list("ApiKey"),
        route(M::POST, p!("/api-keys"), "api-keys", "Create an API key; the key is shown once", users::create_key)
            .body("NewApiKey")
            .creates("CreatedApiKey"),
        route(M::DELETE, p!("/api-keys/{id}"), "api-keys", "Revoke an API key", users::delete_key),
        route(M::GET, p!("/areas"), "areas", "List areas", hierarchy::list_areas).list("Area"),
        route(M::POST, p!("/areas"), "areas", "Create an area (operator)", hierarchy::create_area)
            .body("NewArea")
            .creates("Area"),
        route(M::GET, p!("/areas/{id}"), "areas", "Get an area", hierarchy::get_area).returns("Area"),
        route(M::PATCH, p!("/areas/{id}"), "areas", "Change an area (operator)", hierarchy::update_area)
            .body("AreaChange")
            .returns("Area"),
        route(M::DELETE, p!("/areas/{id}"), "areas", "Delete an empty area (operator)", hierarchy::delete_area),
        route(M::GET, p!("/devices"), "devices", "List devices, optionally of one area", hierarchy::list_devices)
            .list("Device")
            .query(AREA_FILTER),
        route(M::POST, p!("/devices"), "devices", "Create a device (operator)", hierarchy::create_device)
            .body("NewDevice")
            .creates("Device"),
        route(M::GET, p!("/devices/{id}"), "devices", "Get a device", hierarchy::get_device).returns("Device"),
        route(M::PATCH, p!("/devices/{id}"), "devices", "Change a device (operator)", hierarchy::update_device)
            .body("DeviceChange")
            .returns("Device"),
        route(M::DELETE, p!("/devices/{id}"), "devices", "Delete a device without streams", hierarchy::delete_device),
        route(M::GET, p!("/streams"), "streams", "List the streams you may see", streams::list)
            .list("Stream")
            .query(DEVICE_FILTER),
        route(M::POST, p!("/streams"), "streams", "Create a push or camera stream (operator)", streams::create)
            .body("NewStream")
            .creates("Stream"),
        route(M::GET, p!("/streams/{id}"), "streams", "Get a stream", streams::get).returns("Stream"),
        route(M::GET, p!("/streams/{id}/status"), "streams", "Live status and publisher guidance", streams::status)
            .returns("StreamStatus"),
        route(
            M::PATCH,
            p!("/streams/{id}"),
            "streams",
            "Change a stream (manage; its camera source: operator)",
            streams::update,
        )
        .body("StreamChange")
        .returns("Stream"),
        route(M::DELETE, p!("/streams/{id}"), "streams", "Delete a stream (manage)", streams::delete),
        route(M::POST, p!("/streams/{id}/rotate-key"), "streams", "New stream key (manage)", streams::rotate_key)
            .returns("Stream"),
        route(
            M::POST,
            p!("/streams/{id}/disconnect"),
            "streams",
            "Drop the publisher now (manage)",
            streams::disconnect,
        ),
        route(M::GET, p!("/streams/{id}/rights"), "rights", "Users' rights on a stream (manage)", access::list_rights)
            .list("UserRights"),
        route(M::PUT, p!("/streams/{id}/rights/{user_id}"), "rights", "Set a user's rights", access::set_rights)
            .body("RightsChange")
            .returns("UserRights"),
        route(
            M::DELETE,
            p!("/streams/{id}/rights/{user_id}"),
            "rights",
            "Remove a user's rights",
            access::delete_rights,
        ),
        route(M::GET, p!("/streams/{id}/policy"), "policies", "The stream's playback policy", access::get_policy)
            .returns("PolicyView"),
        route(M::PUT, p!("/streams/{id}/policy"), "policies", "Set the playback policy (manage)", access::set_policy)
            .body("AccessPolicy")
            .returns("PolicyView"),
        route(M::POST, p!("/streams/{id}/tokens"), "tokens", "Issue a playback token (view_live)", access::issue_token)
            .body("TokenRequest")
            .creates("IssuedToken"),
        route(M::GET, p!("/signing-keys"), "tokens", "List token signing keys (admin)", access::list_signing_keys)
            .list("SigningKey"),
        route(M::POST, p!("/signing-keys/rotate"), "tokens", "New signing key (admin)", access::rotate_signing_key)
            .creates("NewSigningKey"),
        route(M::POST, p!("/signing-keys/{kid}/retire"), "tokens", "Retire a signing key", access::retire_signing_key)
            .returns("SigningKey"),
        route(M::GET, p!("/audit"), "audit", "Search the audit log (operator)", admin::audit)
            .list("AuditEntry")
            .query(AUDIT_QUERY),
        route(M::GET, p!("/webhooks"), "webhooks", "List webhooks (admin)", admin::list_webhooks).list("Webhook"),
        route(
            M::POST,
            p!("/webhooks"),
            "webhooks",
            "Create a webhook; the secret is shown once",
            admin::create_webhook,
        )
        .body("NewWebhook")
        .creates("CreatedWebhook"),
        route(M::GET, p!("/webhooks/{id}"), "webhooks", "Get a webhook (admin)", admin::get_webhook).returns("Webhook"),
        route(M::PATCH, p!("/webhooks/{id}"), "webhooks", "Change a webhook (admin)", admin::update_webhook)
            .body("WebhookChange")
            .returns("Webhook"),
        route(M::DELETE, p!("/webhooks/{id}"), "webhooks", "Delete a webhook (admin)", admin::delete_webhook),
    ]
}

/// The management API: everything under `/api/v1`, plus `/api/openapi.json`
/// and the web console at `/console`.
pub fn router(state: ApiState) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<ApiState>> = BTreeMap::new();
    for route in routes() {
        let merged = match by_path.remove(route.path) {
            Some(existing) => existing.merge(route.handler),
            None => route.handler,
        };
        by_path.insert(route.path, merged);
    }
    let mut router = Router::new();
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    // The console is not part of /api/v1: it stays out of the route table and the document.
    router
        .route("/api/{*rest}", axum::routing::any(not_found))
        .merge(crate::console::router())
        .layer(axum::middleware::from_fn(refuse_nul_in_path))
        .with_state(state)
}

/// Ids are text, and no object's id holds a NUL (PostgreSQL would refuse to
/// look it up at all): such a path names nothing.
async fn refuse_nul_in_path(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if extract::path_has_nul(request.uri().path()) {
        return ApiError::from(CatalogError::NotFound("object")).into_response();
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    CatalogError::NotFound("route").into()
}
