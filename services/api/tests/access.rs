//! Access policies, playback tokens and signing keys, on SQLite and PostgreSQL.

mod common;

use std::net::IpAddr;

use access::{AccessPolicy, AccessRequest, Allowed, Denied, TokenError, TokenVerifier};
use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

const HOME: &str = "192.0.2.10";

async fn stream(app: &App, name: &str) -> String {
    let reply = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": name}))).await;
    reply.body["id"].as_str().unwrap().to_owned()
}

fn request<'a>(stream: &'a str, path: &'a str, token: Option<&'a str>) -> AccessRequest<'a> {
    AccessRequest { stream, path, client: HOME.parse().unwrap(), token }
}

async fn policies_are_stored_and_pushed_to_the_origin(app: App) {
    let id = stream(&app, "office").await;
    let path = format!("/api/v1/streams/{id}/policy");
    let initial = app.admin(Method::GET, &path, None).await;
    assert_eq!(initial.body, json!({"policy": {"kind": "public"}, "default": true}));

    let allow = json!({"kind": "ip_allow_list", "allow": ["203.0.113.0/24", "2001:db8::/32"]});
    let set = app.admin(Method::PUT, &path, Some(allow.clone())).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(app.admin(Method::GET, &path, None).await.body, json!({"policy": allow, "default": false}));
    let office = AccessPolicy::IpAllowList(vec!["203.0.113.0/24".parse().unwrap(), "2001:db8::/32".parse().unwrap()]);
    assert_eq!(app.access.policy("office"), office);
    assert_eq!(app.access.check(&request("office", "live/office/index.m3u8", None)), Err(Denied::IpNotAllowed));

    let bad = app.admin(Method::PUT, &path, Some(json!({"kind": "ip_allow_list", "allow": ["300.1.2.3/8"]}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app.admin(Method::PUT, &path, Some(json!({"kind": "everyone"}))).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(app.admin(Method::PUT, &path, Some(json!({"kind": "token"}))).await.status, StatusCode::OK);
    assert_eq!(app.access.policy("office"), AccessPolicy::Token);
    // The builder the origin uses at start-up sees the same.
    let config = app.state.database().access_config(AccessPolicy::Public).await.unwrap();
    assert_eq!(config.policies.get(&id), Some(&AccessPolicy::Token), "policies follow the stream id");

    let (_, viewer) = app.user("pat", "viewer").await;
    assert_eq!(
        app.call(Method::PUT, &path, Some(&viewer), Some(json!({"kind": "public"}))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.admin(Method::PUT, "/api/v1/streams/missing/policy", Some(json!({"kind": "public"}))).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn issued_tokens_verify_for_their_stream_only(app: App) {
    let main = stream(&app, "main").await;
    stream(&app, "other").await;
    app.admin(Method::PUT, &format!("/api/v1/streams/{main}/policy"), Some(json!({"kind": "token"}))).await;
    let issued =
        app.admin(Method::POST, &format!("/api/v1/streams/{main}/tokens"), Some(json!({"expires_in_secs": 120}))).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert_eq!(issued.body["url_path"].as_str().unwrap(), format!("/t/{token}/live/main/index.m3u8"));

    // Verified with the keys as stored in the database, independent of the API state.
    let config = app.state.database().access_config(AccessPolicy::Public).await.unwrap();
    let verifier: &TokenVerifier = &config.verifier;
    let home: IpAddr = HOME.parse().unwrap();
    let claims = verifier.verify(&token, "live/main/index.m3u8", home).unwrap();
    assert!(claims.exp >= claims.iat + 119 && claims.exp <= claims.iat + 121);
    assert_eq!(verifier.verify(&token, "live/other/index.m3u8", home), Err(TokenError::WrongScope));
    assert_eq!(verifier.verify(&token, "live/main2/index.m3u8", home), Err(TokenError::WrongScope));
    // And by the origin's access control the API keeps up to date.
    assert_eq!(app.access.check(&request("main", "live/main/seg3.m4s", Some(&token))), Ok(Allowed::Token));
    assert_eq!(app.access.check(&request("main", "live/main/seg3.m4s", None)), Err(Denied::MissingToken));

    let bound = app
        .admin(
            Method::POST,
            &format!("/api/v1/streams/{main}/tokens"),
            Some(json!({"expires_in_secs": 60, "client_ip": "198.51.100.4"})),
        )
        .await;
    let bound = bound.body["token"].as_str().unwrap().to_owned();
    assert!(verifier.verify(&bound, "live/main/index.m3u8", "198.51.100.4".parse().unwrap()).is_ok());
    assert_eq!(verifier.verify(&bound, "live/main/index.m3u8", home), Err(TokenError::WrongIp));

    let narrow = app
        .admin(
            Method::POST,
            &format!("/api/v1/streams/{main}/tokens"),
            Some(json!({"expires_in_secs": 60, "path_scope": "live/main/index.m3u8"})),
        )
        .await;
    assert_eq!(narrow.status, StatusCode::CREATED, "{}", narrow.text);
    let narrow = narrow.body["token"].as_str().unwrap().to_owned();
    assert!(verifier.verify(&narrow, "live/main/index.m3u8", home).is_ok());
    assert_eq!(verifier.verify(&narrow, "live/main/seg1.m4s", home), Err(TokenError::WrongScope));

    for (body, field) in [
        (json!({"expires_in_secs": 0}), "expires_in_secs"),
        (json!({"expires_in_secs": 10_000_000}), "expires_in_secs"),
        (json!({"expires_in_secs": "soon"}), "expires_in_secs"),
        (json!({"expires_in_secs": 60, "path_scope": "live/other/"}), "path_scope"),
        (json!({"expires_in_secs": 60, "path_scope": "live/main/../other"}), "path_scope"),
        (json!({"expires_in_secs": 60, "client_ip": "not-an-ip"}), "client_ip"),
        (json!({}), "expires_in_secs"),
    ] {
        let reply = app.admin(Method::POST, &format!("/api/v1/streams/{main}/tokens"), Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text);
        assert_eq!(reply.body["fields"][0]["field"].as_str(), Some(field), "{body}: {}", reply.text);
    }

    // Viewers need view_live on the stream.
    let (viewer_id, viewer) = app.user("quinn", "viewer").await;
    let token_path = format!("/api/v1/streams/{main}/tokens");
    assert_eq!(
        app.call(Method::POST, &token_path, Some(&viewer), Some(json!({"expires_in_secs": 60}))).await.status,
        StatusCode::FORBIDDEN
    );
    app.admin(
        Method::PUT,
        &format!("/api/v1/streams/{main}/rights/{viewer_id}"),
        Some(json!({"rights": ["view_live"]})),
    )
    .await;
    assert_eq!(
        app.call(Method::POST, &token_path, Some(&viewer), Some(json!({"expires_in_secs": 60}))).await.status,
        StatusCode::CREATED
    );
}

async fn signing_keys_rotate_and_retire(app: App) {
    let main = stream(&app, "main").await;
    let token_path = format!("/api/v1/streams/{main}/tokens");
    let issue = || app.admin(Method::POST, &token_path, Some(json!({"expires_in_secs": 60})));
    let first = issue().await;
    let first_token = first.body["token"].as_str().unwrap().to_owned();
    let first_kid = first.body["kid"].as_str().unwrap().to_owned();

    let rotated = app.admin(Method::POST, "/api/v1/signing-keys/rotate", None).await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let secret = rotated.body["secret"].as_str().unwrap().to_owned();
    let second_kid = rotated.body["kid"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let listed = app.admin(Method::GET, "/api/v1/signing-keys", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    assert!(!listed.text.contains(&secret), "secrets are shown once");

    let second = issue().await;
    assert_eq!(second.body["kid"].as_str(), Some(second_kid.as_str()));
    let second_token = second.body["token"].as_str().unwrap().to_owned();
    let path = "live/main/index.m3u8";
    let verifier = app.access.snapshot().verifier.clone();
    assert!(verifier.verify(&first_token, path, HOME.parse().unwrap()).is_ok(), "old tokens live on until retired");

    let retired = app.admin(Method::POST, &format!("/api/v1/signing-keys/{first_kid}/retire"), None).await;
    assert_eq!(retired.status, StatusCode::OK);
    assert!(retired.body["retired_at"].as_i64().is_some());
    let verifier = app.access.snapshot().verifier.clone();
    assert_eq!(verifier.verify(&first_token, path, HOME.parse().unwrap()), Err(TokenError::UnknownKey));
    assert!(verifier.verify(&second_token, path, HOME.parse().unwrap()).is_ok());
    assert_eq!(app.admin(Method::POST, "/api/v1/signing-keys/nope/retire", None).await.status, StatusCode::NOT_FOUND);

    let (_, operator) = app.user("olga", "operator").await;
    assert_eq!(
        app.call(Method::POST, "/api/v1/signing-keys/rotate", Some(&operator), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::GET, "/api/v1/signing-keys", Some(&operator), None).await.status,
        StatusCode::FORBIDDEN
    );
}

/// Rename, delete and re-create: the policy follows the id, the old name is
/// gone at once, and a token names the stream it was issued for.
async fn access_follows_the_stream_identity_not_its_name(app: App) {
    let id = stream(&app, "show").await;
    app.admin(Method::PUT, &format!("/api/v1/streams/{id}/policy"), Some(json!({"kind": "token"}))).await;
    let issued =
        app.admin(Method::POST, &format!("/api/v1/streams/{id}/tokens"), Some(json!({"expires_in_secs": 600}))).await;
    let token = issued.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.access.check(&request("show", "live/show/seg1.m4s", Some(&token))), Ok(Allowed::Token));

    let renamed = app.admin(Method::PATCH, &format!("/api/v1/streams/{id}"), Some(json!({"name": "renamed"}))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    for token in [None, Some(token.as_str())] {
        assert_eq!(app.access.check(&request("show", "live/show/seg1.m4s", token)), Err(Denied::UnknownStream));
    }
    assert_eq!(app.access.check(&request("renamed", "live/renamed/seg1.m4s", None)), Err(Denied::MissingToken));
    assert_eq!(app.access.policy("renamed"), AccessPolicy::Token, "the policy follows the id");

    // A new stream takes the old name: the old token is for another stream.
    let again = stream(&app, "show").await;
    app.admin(Method::PUT, &format!("/api/v1/streams/{again}/policy"), Some(json!({"kind": "token"}))).await;
    assert_eq!(
        app.access.check(&request("show", "live/show/seg1.m4s", Some(&token))),
        Err(Denied::Token(TokenError::WrongStream))
    );

    let deleted = app.admin(Method::DELETE, &format!("/api/v1/streams/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.access.check(&request("renamed", "live/renamed/seg1.m4s", None)), Err(Denied::UnknownStream));
    assert_eq!(app.access.check(&request("never", "live/never/index.m3u8", None)), Err(Denied::UnknownStream));
}

on_both_databases!(
    access_follows_the_stream_identity_not_its_name,
    policies_are_stored_and_pushed_to_the_origin,
    issued_tokens_verify_for_their_stream_only,
    signing_keys_rotate_and_retire,
);

#[tokio::test]
async fn periodic_refresh_picks_up_changes_made_elsewhere() {
    let app = App::sqlite().await;
    let id = stream(&app, "lobby").await;
    // Another API instance writes the policy straight to the shared database.
    app.state.database().set_access_policy(&id, &AccessPolicy::Token).await.unwrap();
    assert_eq!(app.access.policy("lobby"), AccessPolicy::Public);
    let refresh = app.state.spawn_access_refresh(std::time::Duration::from_millis(20));
    let mut waited = 0;
    while app.access.policy("lobby") != AccessPolicy::Token && waited < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    }
    refresh.abort();
    assert_eq!(app.access.policy("lobby"), AccessPolicy::Token);
}
