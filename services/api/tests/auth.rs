//! Sessions, login throttling, API keys and users, on SQLite and PostgreSQL.

mod common;

use axum::http::{header, Method, StatusCode};
use common::{cookie_of, App};
use db::sqlx::{self, Row};
use serde_json::json;

const PASSWORD: &str = "a long password 1";

async fn login_sets_a_strict_cookie_and_logout_ends_the_session(app: App) {
    app.user("alice", "viewer").await;
    let login = app.login("alice", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let set_cookie = login.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!login.text.contains("password"));
    let cookie = cookie_of(&login);
    let token = cookie.trim_start_matches("relay_session=").to_owned();
    let stored: Vec<String> = sqlx::query("SELECT token_hash FROM sessions")
        .fetch_all(app.state.database().db().pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token, "only a hash of the session token is stored");

    let me = app.call(Method::GET, "/api/v1/auth/me", Some(&cookie), None).await;
    assert_eq!((me.status, me.body["user"]["username"].as_str()), (StatusCode::OK, Some("alice")));
    assert_eq!(me.body["user"]["role"], "viewer");

    let logout = app.call(Method::POST, "/api/v1/auth/logout", Some(&cookie), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = app.call(Method::GET, "/api/v1/auth/me", Some(&cookie), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let forged = app.call(Method::GET, "/api/v1/auth/me", Some("relay_session=00ff"), None).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::GET, "/api/v1/auth/me", None, None).await.status, StatusCode::UNAUTHORIZED);
}

async fn failed_logins_are_throttled_per_user_and_per_address(app: App) {
    app.user("bob", "viewer").await;
    app.user("carol", "viewer").await;
    let attacker = "198.51.100.7:1000".parse().unwrap();
    let attempt = |user: &'static str, password: &'static str, peer| {
        let body = json!({"username": user, "password": password}).to_string();
        app.call_from(peer, Method::POST, "/api/v1/auth/login", None, Some(body))
    };
    for _ in 0..5 {
        assert_eq!(attempt("bob", "wrong password!!", attacker).await.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = attempt("bob", PASSWORD, attacker).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = blocked.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The address is blocked for other users too.
    assert_eq!(attempt("carol", PASSWORD, attacker).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Bob is blocked from other addresses as well; Carol elsewhere is not.
    let elsewhere = "203.0.113.9:1000".parse().unwrap();
    assert_eq!(attempt("bob", PASSWORD, elsewhere).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt("carol", PASSWORD, elsewhere).await.status, StatusCode::OK);
    // Oversized input is refused before it reaches the throttle or argon2.
    let huge = json!({"username": "u".repeat(65), "password": "p".repeat(300)}).to_string();
    let refused = app.call_from(elsewhere, Method::POST, "/api/v1/auth/login", None, Some(huge)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["fields"].as_array().unwrap().len(), 2);
    // Unknown users fail like wrong passwords.
    assert_eq!(attempt("nobody", PASSWORD, elsewhere).await.status, StatusCode::UNAUTHORIZED);
}

async fn api_keys_are_shown_once_and_revocable(app: App) {
    let (_, viewer_key) = app.user("dave", "viewer").await;
    let created = app
        .call(Method::POST, "/api/v1/api-keys", Some(&viewer_key), Some(json!({"name": "ci", "expires_in_secs": 3600})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("rk_{id}_")));

    let listed = app.call(Method::GET, "/api/v1/api-keys", Some(&key), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    let secret = key.rsplit('_').next().unwrap();
    assert!(!listed.text.contains(secret), "the list never shows a key");

    let me = app.call(Method::GET, "/api/v1/auth/me", Some(&key), None).await;
    assert_eq!(me.body["api_key_id"].as_str(), Some(id.as_str()));
    let tampered = format!("{}x", &key[..key.len() - 1]);
    assert_eq!(app.call(Method::GET, "/api/v1/auth/me", Some(&tampered), None).await.status, StatusCode::UNAUTHORIZED);

    // Another user's key is invisible to a viewer, but an admin may revoke it.
    let (_, other_key) = app.user("erin", "viewer").await;
    let path = format!("/api/v1/api-keys/{id}");
    assert_eq!(app.call(Method::DELETE, &path, Some(&other_key), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &path, Some(&key), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, "/api/v1/auth/me", Some(&key), None).await.status, StatusCode::UNAUTHORIZED);
    let bad = app.call(Method::POST, "/api/v1/api-keys", Some(&viewer_key), Some(json!({"name": ""}))).await;
    assert_eq!((bad.status, bad.body["fields"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
}

async fn admins_manage_users_and_others_only_their_password(app: App) {
    let (viewer_id, viewer_key) = app.user("frank", "viewer").await;
    assert_eq!(app.call(Method::GET, "/api/v1/users", Some(&viewer_key), None).await.status, StatusCode::FORBIDDEN);
    let own = format!("/api/v1/users/{viewer_id}");
    let promote = app.call(Method::PATCH, &own, Some(&viewer_key), Some(json!({"role": "admin"}))).await;
    assert_eq!(promote.status, StatusCode::FORBIDDEN);
    let change = app.call(Method::PATCH, &own, Some(&viewer_key), Some(json!({"password": "another long one"}))).await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text);
    assert_eq!(app.login("frank", "another long one").await.status, StatusCode::OK);
    assert_eq!(app.login("frank", PASSWORD).await.status, StatusCode::UNAUTHORIZED);

    let duplicate = app
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "frank", "password": PASSWORD, "role": "viewer"})),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let invalid = app
        .admin(Method::POST, "/api/v1/users", Some(json!({"username": "b a d", "password": "short", "role": "viewer"})))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> =
        invalid.body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["username", "password"]);
    assert!(!invalid.text.contains("short"), "values are not echoed");
    let bad_role = app
        .admin(Method::POST, "/api/v1/users", Some(json!({"username": "gina", "password": PASSWORD, "role": "root"})))
        .await;
    assert_eq!(
        (bad_role.status, bad_role.body["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role"))
    );

    let promoted = app.admin(Method::PATCH, &own, Some(json!({"role": "operator"}))).await;
    assert_eq!(promoted.body["role"], "operator");
    let listed = app.admin(Method::GET, "/api/v1/users", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    assert!(!listed.text.contains("argon2"), "hashes never leave the database");

    let me = app.admin(Method::GET, "/api/v1/auth/me", None).await;
    let admin_path = format!("/api/v1/users/{}", me.body["user"]["id"].as_str().unwrap());
    assert_eq!(app.admin(Method::DELETE, &admin_path, None).await.status, StatusCode::CONFLICT);
    assert_eq!(
        app.admin(Method::PATCH, &admin_path, Some(json!({"role": "viewer"}))).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(app.admin(Method::DELETE, &own, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.admin(Method::GET, &own, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::GET, "/api/v1/auth/me", Some(&viewer_key), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn bootstrap_creates_one_admin_once(app: App) {
    // The app already bootstrapped "admin"; a second call does nothing.
    assert!(app.state.ensure_admin("admin2").await.unwrap().is_none());
    let users = app.admin(Method::GET, "/api/v1/users", None).await;
    assert_eq!(users.body.as_array().unwrap().len(), 1);
}

on_both_databases!(
    login_sets_a_strict_cookie_and_logout_ends_the_session,
    failed_logins_are_throttled_per_user_and_per_address,
    api_keys_are_shown_once_and_revocable,
    admins_manage_users_and_others_only_their_password,
    bootstrap_creates_one_admin_once,
);

#[tokio::test]
async fn bootstrap_password_logs_in() {
    let database =
        catalog::Database::open_sqlite(&std::env::temp_dir().join(format!("api-boot-{}.db", std::process::id())))
            .await
            .unwrap();
    let state = common::state(catalog::Catalog::new(database, common::options()));
    let (user, password) = match state.ensure_admin("root").await.unwrap() {
        Some(created) => created,
        None => panic!("a fresh database has no admin"),
    };
    assert_eq!(user.role, catalog::Role::Admin);
    let router = api::router(state);
    let app_login = axum::http::Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(json!({"username": "root", "password": password}).to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router, app_login).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("api-boot-{}.db{suffix}", std::process::id())));
    }
}
