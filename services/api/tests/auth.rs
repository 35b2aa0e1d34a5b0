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

fn login_request(peer: std::net::SocketAddr, user: &str, password: &str) -> axum::http::Request<axum::body::Body> {
    let body = json!({"username": user, "password": password}).to_string();
    let mut request = axum::http::Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

async fn failed_logins_are_counted_before_hashing_and_lock_out_only_the_guessing_address(app: App) {
    app.user("bob", "viewer").await;
    app.user("carol", "viewer").await;
    let attacker: std::net::SocketAddr = "198.51.100.7:1000".parse().unwrap();
    // 40 wrong passwords for one account at once: five are checked, the rest refused unhashed.
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let router = app.router.clone();
        running.spawn(async move {
            let response = tower::ServiceExt::oneshot(router, login_request(attacker, "bob", "wrong password!!")).await;
            response.unwrap().status()
        });
    }
    let statuses = running.join_all().await;
    let count = |status| statuses.iter().filter(|answer| **answer == status).count();
    assert_eq!((count(StatusCode::UNAUTHORIZED), count(StatusCode::TOO_MANY_REQUESTS)), (5, 35), "{statuses:?}");

    let attempt = |user: &'static str, password: &'static str, peer| {
        let body = json!({"username": user, "password": password}).to_string();
        app.call_from(peer, Method::POST, "/api/v1/auth/login", None, Some(body))
    };
    // The guessing address is locked out of bob's account, right password or not.
    let blocked = attempt("bob", PASSWORD, attacker).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = blocked.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after));
    // Only of bob's account: carol behind the same address signs in.
    assert_eq!(attempt("carol", PASSWORD, attacker).await.status, StatusCode::OK);
    // And bob from anywhere else.
    let elsewhere = "203.0.113.9:1000".parse().unwrap();
    assert_eq!(attempt("bob", PASSWORD, elsewhere).await.status, StatusCode::OK);
    // Oversized input is refused before it reaches the throttle or argon2.
    let huge = json!({"username": "u".repeat(65), "password": "p".repeat(300)}).to_string();
    let refused = app.call_from(elsewhere, Method::POST, "/api/v1/auth/login", None, Some(huge)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["fields"].as_array().unwrap().len(), 2);
    // Unknown users fail like wrong passwords.
    assert_eq!(attempt("nobody", PASSWORD, elsewhere).await.status, StatusCode::UNAUTHORIZED);
}

async fn cookies_change_state_only_from_the_consoles_origin(app: App) {
    app.user("olga", "operator").await;
    let cookie = cookie_of(&app.login("olga", PASSWORD).await);
    let created = app.call(Method::POST, "/api/v1/streams", Some(&cookie), Some(json!({"name": "csrf"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let rotate = format!("/api/v1/streams/{}/rotate-key", created.body["id"].as_str().unwrap());
    let send = |headers: Vec<(&'static str, &'static str)>, auth: String| {
        let router = app.router.clone();
        let rotate = rotate.clone();
        async move {
            let mut request = axum::http::Request::post(rotate).header(header::HOST, "relay.example:8080");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            request = if auth.starts_with("relay_session=") {
                request.header(header::COOKIE, auth)
            } else {
                request.header(header::AUTHORIZATION, format!("Bearer {auth}"))
            };
            let mut request = request.body(axum::body::Body::empty()).unwrap();
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo("192.0.2.10:5000".parse::<std::net::SocketAddr>().unwrap()));
            tower::ServiceExt::oneshot(router, request).await.unwrap().status()
        }
    };
    for foreign in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", "http://relay.example:8080")],
    ] {
        assert_eq!(send(foreign.clone(), cookie.clone()).await, StatusCode::FORBIDDEN, "{foreign:?}");
    }
    assert_eq!(send(vec![("origin", "http://relay.example:8080")], cookie.clone()).await, StatusCode::OK);
    assert_eq!(send(vec![("sec-fetch-site", "same-origin")], cookie.clone()).await, StatusCode::OK);
    assert_eq!(send(vec![], cookie.clone()).await, StatusCode::OK, "a program without browser headers");
    // An API key is not sent by browsers on their own: no origin check.
    assert_eq!(send(vec![("origin", "http://evil.example")], app.admin_key.clone()).await, StatusCode::OK);
}

async fn cookies_are_secure_behind_a_tls_proxy(app: App) {
    app.user("pia", "viewer").await;
    let plain_state = common::state_with(app.state.catalog().clone(), api::ApiOptions { secure_cookies: false });
    let router = api::router(plain_state);
    let login = |headers: Vec<(&'static str, &'static str)>| {
        let router = router.clone();
        async move {
            let mut request = login_request("192.0.2.10:5000".parse().unwrap(), "pia", PASSWORD);
            for (name, value) in headers {
                request.headers_mut().insert(name, axum::http::HeaderValue::from_static(value));
            }
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned()
        }
    };
    assert!(!login(vec![]).await.contains("Secure"), "plain HTTP, not forced: no Secure");
    assert!(login(vec![("x-forwarded-proto", "https")]).await.ends_with("; Secure"));
    assert!(login(vec![("forwarded", "for=192.0.2.1;proto=https")]).await.ends_with("; Secure"));
    let forced = app.login("pia", PASSWORD).await;
    assert!(forced.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().ends_with("; Secure"));
}

async fn per_stream_managers_hand_out_only_lesser_rights(app: App) {
    let stream = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "shared"}))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (manager_id, manager) = app.user("mona", "viewer").await;
    let (peer_id, _) = app.user("nils", "viewer").await;
    let (viewer_id, viewer) = app.user("otto", "viewer").await;
    let rights = |user: &str| format!("/api/v1/streams/{stream}/rights/{user}");
    let granted = app.admin(Method::PUT, &rights(&manager_id), Some(json!({"rights": ["view_live", "manage"]}))).await;
    assert_eq!(granted.status, StatusCode::OK);
    app.admin(Method::PUT, &rights(&peer_id), Some(json!({"rights": ["manage"]}))).await;

    let app = &app;
    let set = |user: String, body: serde_json::Value| {
        let manager = manager.clone();
        let path = rights(&user);
        async move { app.call(Method::PUT, &path, Some(&manager), Some(body)).await.status }
    };
    // What the manager holds, except manage, may be handed out.
    assert_eq!(set(viewer_id.clone(), json!({"rights": ["view_live"]})).await, StatusCode::OK);
    assert_eq!(set(viewer_id.clone(), json!({"rights": ["view_live", "manage"]})).await, StatusCode::FORBIDDEN);
    assert_eq!(set(viewer_id.clone(), json!({"rights": ["export"]})).await, StatusCode::FORBIDDEN, "not held");
    // Another manager's rights are not theirs to change.
    assert_eq!(set(peer_id.clone(), json!({"rights": []})).await, StatusCode::FORBIDDEN);
    let removed = app.call(Method::DELETE, &rights(&peer_id), Some(&manager), None).await;
    assert_eq!(removed.status, StatusCode::FORBIDDEN);
    // The viewer who got view_live cannot hand anything on.
    let by_viewer =
        app.call(Method::PUT, &rights(&viewer_id), Some(&viewer), Some(json!({"rights": ["view_live"]}))).await;
    assert_eq!(by_viewer.status, StatusCode::FORBIDDEN);
    // Operators and admins still may.
    assert_eq!(
        app.admin(Method::PUT, &rights(&viewer_id), Some(json!({"rights": ["manage"]}))).await.status,
        StatusCode::OK
    );
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
    // Your own password: only with the current one.
    let without = app.call(Method::PATCH, &own, Some(&viewer_key), Some(json!({"password": "another long one"}))).await;
    assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", without.text);
    assert_eq!(without.body["fields"][0]["field"], "current_password");
    let wrong = json!({"password": "another long one", "current_password": "not it at all!"});
    let wrong = app.call(Method::PATCH, &own, Some(&viewer_key), Some(wrong)).await;
    assert_eq!(
        (wrong.status, wrong.body["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password"))
    );
    let change = json!({"password": "another long one", "current_password": PASSWORD});
    let change = app.call(Method::PATCH, &own, Some(&viewer_key), Some(change)).await;
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
    failed_logins_are_counted_before_hashing_and_lock_out_only_the_guessing_address,
    cookies_change_state_only_from_the_consoles_origin,
    cookies_are_secure_behind_a_tls_proxy,
    per_stream_managers_hand_out_only_lesser_rights,
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

/// Password limits count characters wherever a password is taken: a user
/// given the longest password allowed, in letters of more than one byte,
/// can log in with it and change it (found by schemathesis: the login
/// counted bytes and answered 422).
#[tokio::test]
async fn the_longest_password_counts_characters_everywhere() {
    let app = App::sqlite().await;
    let longest = "é".repeat(256);
    let too_long = "é".repeat(257);
    let created = app
        .admin(Method::POST, "/api/v1/users", Some(json!({"username": "hanna", "password": longest, "role": "viewer"})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let login = app.login("hanna", &longest).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let refused = app.login("hanna", &too_long).await;
    assert_eq!(
        (refused.status, refused.body["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );

    let cookie = cookie_of(&login);
    let own = format!("/api/v1/users/{}", created.body["id"].as_str().unwrap());
    let change = json!({"password": "another long one", "current_password": longest});
    let change = app.call(Method::PATCH, &own, Some(&cookie), Some(change)).await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text);
    assert_eq!(app.login("hanna", "another long one").await.status, StatusCode::OK);
    // A name of 64 letters of two bytes each is within the login's bound: a wrong login, not invalid input.
    assert_eq!(app.login(&"é".repeat(64), PASSWORD).await.status, StatusCode::UNAUTHORIZED);
}
