//! The data layer used directly by the server (publish authorisation, first run).

mod common;

use catalog::{CatalogError, Role, StreamKind};
use common::App;

async fn default_stream_is_created_once(app: App) {
    let db = app.state.database();
    let first = db.ensure_default_stream("main").await.unwrap();
    let key = first.issued_key.clone().expect("a new stream shows its key");
    let again = db.ensure_default_stream("main").await.unwrap();
    assert_eq!(again, catalog::StreamRecord { issued_key: None, ..first.clone() }, "shown only once");
    assert_eq!((key.len(), first.kind), (48, StreamKind::Push));
    assert_eq!(db.stream_by_key(&key).await.unwrap(), Some(again.clone()));
    assert!(!format!("{first:?}").contains(&key), "Debug hides the key");
}

/// The database holds hashes of stream keys, never the keys: the SHA-256
/// publishers are found by and the RTSP Digest HA1. Rows from before keys
/// were hashed are converted once.
async fn stream_keys_are_kept_as_hashes(app: App) {
    let db = app.state.database();
    let made = db.add_stream("hashed", Some("0123456789abcdef")).await.unwrap();
    assert_eq!(made.issued_key.as_deref(), Some("0123456789abcdef"));
    let stored: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT stream_key, key_digest_ha1 FROM streams").fetch_all(db.db().pool()).await.unwrap();
    assert_eq!(
        stored,
        vec![(
            "sha256:9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f".to_owned(),
            // MD5("publisher:relay:0123456789abcdef")
            Some("25a968dfc92b90d0cc256ce70a31d6b9".to_owned())
        )]
    );
    assert_eq!(db.stream_digest_ha1("hashed").await.unwrap().as_deref(), Some("25a968dfc92b90d0cc256ce70a31d6b9"));
    assert_eq!(db.stream_digest_ha1("unknown").await.unwrap(), None);

    let rotated = db.rotate_stream_key(&made.id).await.unwrap();
    let new_key = rotated.issued_key.expect("rotation shows the new key");
    assert_eq!(db.stream_by_key("0123456789abcdef").await.unwrap(), None, "the old key is gone");
    assert_eq!(db.stream_by_key(&new_key).await.unwrap().map(|stream| stream.id), Some(made.id.clone()));

    // A row written in clear by an older release.
    sqlx::query("INSERT INTO streams (id, name, stream_key, created_at, kind) VALUES ('old', 'old', 'old-key-in-clear-1', 1, 'push')")
        .execute(db.db().pool())
        .await
        .unwrap();
    assert_eq!(db.hash_plain_stream_keys().await.unwrap(), 1);
    assert_eq!(db.hash_plain_stream_keys().await.unwrap(), 0, "a second start hashes nothing");
    let clear: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM streams WHERE stream_key NOT LIKE 'sha256:%'")
        .fetch_one(db.db().pool())
        .await
        .unwrap();
    assert_eq!(clear, 0);
    assert_eq!(db.stream_by_key("old-key-in-clear-1").await.unwrap().map(|stream| stream.name), Some("old".into()));
    assert!(db.stream_digest_ha1("old").await.unwrap().is_some());
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

on_both_databases!(
    default_stream_is_created_once,
    stream_keys_are_kept_as_hashes,
    keys_and_names_are_checked,
    sessions_and_api_keys_expire
);
