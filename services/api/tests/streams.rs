//! Areas, devices, streams, camera secrets and per-stream rights, on SQLite and PostgreSQL.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::{json, Value};

async fn id_of(reply: &common::Reply) -> String {
    assert!(reply.status.is_success(), "{} {}", reply.status, reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn hierarchy_of_areas_devices_and_streams(app: App) {
    let area = id_of(&app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": "North site"}))).await).await;
    assert_eq!(
        app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": "North site"}))).await.status,
        StatusCode::CONFLICT
    );
    let unknown_area = app.admin(Method::POST, "/api/v1/devices", Some(json!({"area_id": "nope", "name": "x"}))).await;
    assert_eq!(unknown_area.status, StatusCode::NOT_FOUND);
    let device =
        id_of(&app.admin(Method::POST, "/api/v1/devices", Some(json!({"area_id": area, "name": "Gate NVR"}))).await)
            .await;
    let devices = app.admin(Method::GET, &format!("/api/v1/devices?area_id={area}"), None).await;
    assert_eq!(devices.body.as_array().unwrap().len(), 1);

    let created = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "gate", "device_id": device}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let stream = created.body["id"].as_str().unwrap().to_owned();
    let key = created.body["stream_key"].as_str().unwrap().to_owned();
    assert_eq!(created.body["kind"], "push");
    let published = app.state.database().stream_by_key(&key).await.unwrap().unwrap();
    assert_eq!(published.name, "gate");

    let fetched = app.admin(Method::GET, &format!("/api/v1/streams/{stream}"), None).await;
    assert_eq!(fetched.body["device_id"].as_str(), Some(device.as_str()));
    assert!(fetched.body.get("stream_key").is_none() && !fetched.text.contains(&key), "keys are shown once");
    let listed = app.admin(Method::GET, &format!("/api/v1/streams?device_id={device}"), None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(&key));

    assert_eq!(app.admin(Method::DELETE, &format!("/api/v1/areas/{area}"), None).await.status, StatusCode::CONFLICT);
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/devices/{device}"), None).await.status,
        StatusCode::CONFLICT
    );

    let renamed = app
        .admin(Method::PATCH, &format!("/api/v1/streams/{stream}"), Some(json!({"name": "gate-2", "device_id": null})))
        .await;
    assert_eq!((renamed.body["name"].as_str(), &renamed.body["device_id"]), (Some("gate-2"), &Value::Null));
    let rotated = app.admin(Method::POST, &format!("/api/v1/streams/{stream}/rotate-key"), None).await;
    let new_key = rotated.body["stream_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert!(app.state.database().stream_by_key(&key).await.unwrap().is_none(), "the old key stops working");
    assert!(app.state.database().stream_by_key(&new_key).await.unwrap().is_some());

    let area_path = format!("/api/v1/areas/{area}");
    let changed = app.admin(Method::PATCH, &area_path, Some(json!({"description": "main gate"}))).await;
    assert_eq!(
        (changed.body["name"].as_str(), changed.body["description"].as_str()),
        (Some("North site"), Some("main gate"))
    );
    let device_path = format!("/api/v1/devices/{device}");
    assert_eq!(app.admin(Method::PATCH, &device_path, Some(json!({"name": "NVR"}))).await.body["name"], "NVR");
    assert_eq!(app.admin(Method::GET, &device_path, None).await.body["area_id"].as_str(), Some(area.as_str()));
    assert_eq!(app.admin(Method::DELETE, &device_path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.admin(Method::DELETE, &area_path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.admin(Method::GET, &area_path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/streams/{stream}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.admin(Method::GET, &format!("/api/v1/streams/{stream}"), None).await.status, StatusCode::NOT_FOUND);
    assert!(app.state.database().stream_by_key(&new_key).await.unwrap().is_none());
}

async fn stream_input_is_validated(app: App) {
    let cases = [
        (json!({"name": "Bad Name"}), "name"),
        (json!({"name": "ok", "stream_key": "short"}), "stream_key"),
        (json!({"name": 5}), "name"),
        (json!({"name": "ok", "colour": "red"}), "colour"),
        (json!({"name": "ok", "kind": "camera"}), "camera"),
        (json!({"name": "ok", "camera": {"url": "rtsp://cam"}}), "camera"),
    ];
    for (body, field) in cases {
        let reply = app.admin(Method::POST, "/api/v1/streams", Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text);
        assert_eq!(reply.body["fields"][0]["field"].as_str(), Some(field), "{body}: {}", reply.text);
    }
    let syntax = app
        .call_from(
            "192.0.2.1:1".parse().unwrap(),
            Method::POST,
            "/api/v1/streams",
            Some(&app.admin_key),
            Some("{\"name\":".into()),
        )
        .await;
    assert_eq!(syntax.status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = axum::http::Request::post("/api/v1/streams")
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {}", app.admin_key))
        .header(axum::http::header::CONTENT_TYPE, "text/plain")
        .body(axum::body::Body::from(r#"{"name": "sneaky"}"#))
        .unwrap();
    let refused = tower::ServiceExt::oneshot(app.router.clone(), form).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(app.state.database().stream_by_name("sneaky").await.unwrap().is_none());
    let key = "0123456789abcdef";
    assert_eq!(
        app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "a", "stream_key": key}))).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "b", "stream_key": key}))).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "a"}))).await.status,
        StatusCode::CONFLICT
    );
    let (_, viewer) = app.user("vic", "viewer").await;
    let denied = app.call(Method::POST, "/api/v1/streams", Some(&viewer), Some(json!({"name": "c"}))).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

async fn camera_sources_never_leave_the_database(app: App) {
    let url = "rtsp://192.0.2.50:554/Streaming/Channels/101";
    let camera = json!({"url": url, "username": "cam-operator", "password": "s3cret-camera-pass"});
    let created = app
        .admin(Method::POST, "/api/v1/streams", Some(json!({"name": "lobby", "kind": "camera", "camera": camera})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["kind"], "camera");
    assert!(created.body.get("stream_key").is_none());

    let path = format!("/api/v1/streams/{id}");
    let replaced = json!({"camera": {"url": "rtsp://192.0.2.51/main", "password": "another-camera-pass"}});
    let patched = app.admin(Method::PATCH, &path, Some(replaced)).await;
    assert_eq!(patched.status, StatusCode::OK);
    let leaky = json!({"camera": {"url": "rtsp://admin:leaked-pass@192.0.2.52/"}});
    let refused = app.admin(Method::PATCH, &path, Some(leaky)).await;
    assert_eq!(
        (refused.status, refused.body["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("camera.url"))
    );
    let wrong_type =
        app.admin(Method::PATCH, &path, Some(json!({"camera": {"url": "rtsp://h/", "password": 123456789}}))).await;
    assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut seen = String::new();
    for reply in [
        &created,
        &patched,
        &refused,
        &wrong_type,
        &app.admin(Method::GET, &path, None).await,
        &app.admin(Method::GET, "/api/v1/streams", None).await,
        &app.admin(Method::GET, "/api/v1/audit", None).await,
        &app.admin(Method::POST, &format!("{path}/rotate-key"), None).await,
    ] {
        seen.push_str(&reply.text);
    }
    for secret in ["s3cret-camera-pass", "another-camera-pass", "leaked-pass", "cam-operator", "192.0.2.5", "123456789"]
    {
        assert!(!seen.contains(secret), "{secret} appeared in a response");
    }
    let source = app.state.database().camera_source(&id).await.unwrap().unwrap();
    assert_eq!(
        (source.url.as_str(), source.password.as_deref()),
        ("rtsp://192.0.2.51/main", Some("another-camera-pass"))
    );
    assert!(!format!("{source:?}").contains("another-camera-pass"));
}

async fn rights_decide_what_a_viewer_sees_and_does(app: App) {
    let stream = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "yard"}))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "vault"}))).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (viewer_id, viewer) = app.user("walt", "viewer").await;
    let path = format!("/api/v1/streams/{stream}");
    assert_eq!(app.call(Method::GET, &path, Some(&viewer), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::GET, "/api/v1/streams", Some(&viewer), None).await.body, json!([]));

    let rights_path = format!("{path}/rights/{viewer_id}");
    let granted = app.admin(Method::PUT, &rights_path, Some(json!({"rights": ["view_live", "export"]}))).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);
    assert_eq!(app.call(Method::GET, &path, Some(&viewer), None).await.status, StatusCode::OK);
    let visible = app.call(Method::GET, "/api/v1/streams", Some(&viewer), None).await;
    assert_eq!(visible.body.as_array().unwrap().len(), 1);
    assert_eq!(
        app.call(Method::GET, &format!("/api/v1/streams/{other}"), Some(&viewer), None).await.status,
        StatusCode::FORBIDDEN
    );
    let rename = app.call(Method::PATCH, &path, Some(&viewer), Some(json!({"name": "yard-2"}))).await;
    assert_eq!(rename.status, StatusCode::FORBIDDEN);

    app.admin(Method::PUT, &rights_path, Some(json!({"rights": ["view_live", "manage"]}))).await;
    assert_eq!(
        app.call(Method::PATCH, &path, Some(&viewer), Some(json!({"name": "yard-2"}))).await.status,
        StatusCode::OK
    );
    let listed = app.call(Method::GET, &format!("{path}/rights"), Some(&viewer), None).await;
    assert_eq!(listed.body, json!([{"user_id": viewer_id, "username": "walt", "rights": ["view_live", "manage"]}]));

    let bad = app.admin(Method::PUT, &rights_path, Some(json!({"rights": ["fly"]}))).await;
    assert_eq!(
        (bad.status, bad.body["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rights[0]"))
    );
    let nobody = app.admin(Method::PUT, &format!("{path}/rights/nobody"), Some(json!({"rights": []}))).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(app.admin(Method::DELETE, &rights_path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::GET, &path, Some(&viewer), None).await.status, StatusCode::FORBIDDEN);
}

async fn camera_pull_mode_is_stored_shown_and_validated(app: App) {
    let camera = json!({"url": "rtsp://192.0.2.60/main", "mode": "on_demand", "linger_ms": 5000});
    let created = app
        .admin(Method::POST, "/api/v1/streams", Some(json!({"name": "gate", "kind": "camera", "camera": camera})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["camera"], json!({"mode": "on_demand", "linger_ms": 5000}));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/streams/{id}");
    assert_eq!(app.admin(Method::GET, &path, None).await.body["camera"]["mode"], "on_demand");
    let stored = app.state.database().camera_source(&id).await.unwrap().unwrap();
    assert_eq!((stored.mode, stored.linger_ms), (catalog::CameraPullMode::OnDemand, 5000));
    assert_eq!(app.state.database().on_demand_camera_names().await.unwrap().into_iter().collect::<Vec<_>>(), ["gate"]);

    // Omitted settings fall back to the defaults: always, 30 s.
    let patched = app.admin(Method::PATCH, &path, Some(json!({"camera": {"url": "rtsp://192.0.2.61/"}}))).await;
    assert_eq!(patched.body["camera"], json!({"mode": "always", "linger_ms": 30000}), "{}", patched.text);
    let push = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "door"}))).await;
    assert!(push.body.get("camera").is_none(), "{}", push.text);
    let listed = app.admin(Method::GET, "/api/v1/streams", None).await.body;
    let modes: Vec<&Value> = listed.as_array().unwrap().iter().map(|stream| &stream["camera"]["mode"]).collect();
    assert_eq!(modes, [&Value::Null, &json!("always")]);

    for (camera, field) in [
        (json!({"url": "rtsp://h/", "mode": "sometimes"}), "camera.mode"),
        (json!({"url": "rtsp://h/", "linger_ms": 10}), "camera.linger_ms"),
        (json!({"url": "rtsp://h/", "linger_ms": -1}), "camera.linger_ms"),
    ] {
        let refused = app.admin(Method::PATCH, &path, Some(json!({"camera": camera}))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{camera}");
        assert_eq!(refused.body["fields"][0]["field"], field, "{}", refused.text);
    }

    let demand = app.state.database();
    demand.record_camera_demand("gate", 2_000).await.unwrap();
    demand.record_camera_demand("gate", 1_000).await.unwrap();
    assert_eq!(demand.camera_demand().await.unwrap().get("gate"), Some(&2_000), "demand never moves back");
    demand.record_camera_demand("gate", 3_000).await.unwrap();
    assert_eq!(demand.camera_demand().await.unwrap().get("gate"), Some(&3_000));
    assert_eq!(app.admin(Method::DELETE, &path, None).await.status, StatusCode::NO_CONTENT);
    assert!(demand.camera_demand().await.unwrap().is_empty(), "a deleted camera leaves no demand behind");
}

/// A status source answering what a misbehaving pod might send.
struct Answers(Value);

impl catalog::StreamStatusSource for Answers {
    fn status<'a>(&'a self, _stream_name: &'a str) -> catalog::StatusFuture<'a> {
        let answer = self.0.clone();
        Box::pin(async move { Ok(Some(answer)) })
    }
}

#[tokio::test]
async fn a_status_that_is_not_an_object_reads_as_offline() {
    let app = App::sqlite().await;
    let id = id_of(&app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "odd"}))).await).await;
    app.state.set_status_source(std::sync::Arc::new(Answers(json!(["not", "a", "status"]))));
    let reply = app.admin(Method::GET, &format!("/api/v1/streams/{id}/status"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!((reply.body["state"].as_str(), reply.body["name"].as_str()), (Some("offline"), Some("odd")));
}

on_both_databases!(
    hierarchy_of_areas_devices_and_streams,
    stream_input_is_validated,
    camera_sources_never_leave_the_database,
    camera_pull_mode_is_stored_shown_and_validated,
    rights_decide_what_a_viewer_sees_and_does,
);
