//! The data layer used directly by the server (publish authorisation, first run).

mod common;

use catalog::{CatalogError, Role, StreamKind};
use common::App;

async fn default_stream_is_created_once(app: App) {
    let db = app.state.database();
    let first = db.ensure_default_stream("main").await.unwrap();
    let again = db.ensure_default_stream("main").await.unwrap();
    assert_eq!(first, again);
    assert_eq!((first.stream_key.len(), first.kind), (48, StreamKind::Push));
    assert_eq!(db.stream_by_key(&first.stream_key).await.unwrap(), Some(first.clone()));
    assert!(!format!("{first:?}").contains(&first.stream_key), "Debug hides the key");
}

async fn keys_and_names_are_checked(app: App) {
    let db = app.state.database();
    db.add_stream("cam-1", Some("0123456789abcdef")).await.unwrap();
    assert!(matches!(db.add_stream("cam-1", None).await, Err(CatalogError::Conflict)));
    assert!(matches!(db.add_stream("other", Some("0123456789abcdef")).await, Err(CatalogError::Conflict)));
    assert!(matches!(db.add_stream("Bad Name", None).await, Err(CatalogError::InvalidName(_))));
    assert!(matches!(db.add_stream("short", Some("abc")).await, Err(CatalogError::InvalidKey)));
    assert_eq!(db.stream_by_key("wrong-key-wrong-key").await.unwrap(), None);
    assert_eq!(db.stream_by_key("").await.unwrap(), None);
}

async fn sessions_and_api_keys_expire(app: App) {
    let db = app.state.database();
    let hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    let user = db.create_user("ivy", hash, Role::Viewer).await.unwrap();
    let live = db.create_session(&user.id, 60_000).await.unwrap();
    let expired = db.create_session(&user.id, -1).await.unwrap();
    assert_eq!(db.session_user(&live).await.unwrap().map(|found| found.user.username), Some("ivy".into()));
    assert!(db.session_user(&expired).await.unwrap().is_none());
    let expired_cookie = format!("relay_session={expired}");
    let reply = app.call(axum::http::Method::GET, "/api/v1/auth/me", Some(&expired_cookie), None).await;
    assert_eq!(reply.status, axum::http::StatusCode::UNAUTHORIZED);

    let (_, valid) = db.create_api_key(&user.id, "ok", Some(db::unix_millis() + 60_000)).await.unwrap();
    let (_, stale) = db.create_api_key(&user.id, "old", Some(db::unix_millis() - 1)).await.unwrap();
    assert!(db.api_key_user(&valid).await.unwrap().is_some());
    assert!(db.api_key_user(&stale).await.unwrap().is_none());
    assert!(db.api_key_user("rk_nothing").await.unwrap().is_none());
    // Deleting the user ends their sessions and keys.
    db.delete_user(&user.id).await.unwrap();
    assert!(db.session_user(&live).await.unwrap().is_none());
    assert!(db.api_key_user(&valid).await.unwrap().is_none());
}

on_both_databases!(default_stream_is_created_once, keys_and_names_are_checked, sessions_and_api_keys_expire);
