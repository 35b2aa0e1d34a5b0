//! A test app over a fresh database, SQLite or PostgreSQL, driven through
//! the real router with `oneshot`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use access::AccessControl;
use api::{ApiOptions, ApiState};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use catalog::{Catalog, CatalogOptions, Database, PasswordCost};
use http_body_util::BodyExt;
use serde_json::Value;
use testkit::postgres::PgTestServer;
use tower::ServiceExt;

pub struct App {
    pub router: Router,
    pub state: ApiState,
    pub access: Arc<AccessControl>,
    pub admin_key: String,
    sqlite_path: Option<std::path::PathBuf>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Fast password hashing; webhook receivers and cameras of the tests live
/// on loopback and TEST-NET-1 (192.0.2.0/24), which outbound calls may reach.
pub fn options() -> CatalogOptions {
    let test_networks = ["127.0.0.0/8", "192.0.2.0/24"].map(|network| network.parse().unwrap());
    CatalogOptions {
        password_cost: PasswordCost::TestOnly,
        outbound: catalog::OutboundPolicy::allowing(test_networks),
        ..CatalogOptions::default()
    }
}

/// The HTTP state over `catalog`, cookies marked `Secure` as in production.
pub fn state(catalog: Catalog) -> ApiState {
    ApiState::new(catalog, ApiOptions::default())
}

pub fn state_with(catalog: Catalog, options: ApiOptions) -> ApiState {
    ApiState::new(catalog, options)
}

impl App {
    pub async fn sqlite() -> App {
        App::sqlite_with(options()).await
    }

    /// On SQLite, with these catalog options.
    pub async fn sqlite_with(options: CatalogOptions) -> App {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "api-test-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let database = Database::open_sqlite(&path).await.unwrap();
        App::start(database, Some(path), options).await
    }

    pub async fn postgres() -> App {
        let url = PgTestServer::shared().create_database();
        App::start(Database::connect(&url).await.unwrap(), None, options()).await
    }

    async fn start(database: Database, sqlite_path: Option<std::path::PathBuf>, options: CatalogOptions) -> App {
        let access = Arc::new(AccessControl::public());
        let state = state(Catalog::with_access_control(database, options, access.clone()));
        let (admin, _) = state.ensure_admin("admin").await.unwrap().unwrap();
        let (_, admin_key) = state.database().create_api_key(&admin.id, "tests", None).await.unwrap();
        App { router: api::router(state.clone()), state, access, admin_key, sqlite_path }
    }

    /// Sends a request from 192.0.2.10 with `auth` as bearer key or, when it
    /// starts with `relay_session=`, as cookie.
    pub async fn call(&self, method: Method, path: &str, auth: Option<&str>, body: Option<Value>) -> Reply {
        self.call_from("192.0.2.10:5000".parse().unwrap(), method, path, auth, body.map(|body| body.to_string())).await
    }

    pub async fn call_from(
        &self,
        peer: SocketAddr,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        match auth {
            Some(cookie) if cookie.starts_with("relay_session=") => request = request.header(header::COOKIE, cookie),
            Some(key) => request = request.header(header::AUTHORIZATION, format!("Bearer {key}")),
            None => {}
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body)
            }
            None => Body::empty(),
        };
        let mut request = request.body(body).unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(&self.admin_key.clone()), body).await
    }

    /// Creates a user with `role` and returns (id, API key).
    pub async fn user(&self, username: &str, role: &str) -> (String, String) {
        let created = self
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(serde_json::json!({"username": username, "password": "a long password 1", "role": role})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let (_, key) = self.state.database().create_api_key(&id, "tests", None).await.unwrap();
        (id, key)
    }

    /// Logs in and returns the cookie pair `relay_session=...`.
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({"username": username, "password": password});
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

pub fn cookie_of(reply: &Reply) -> String {
    let set_cookie = reply.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Runs each scenario against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::common::App::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::common::App::postgres().await).await;
                }
            )*
        }
    };
}
