//! The OpenAPI document and the mounted routes agree, every route refuses
//! callers without credentials, and every documented operation answers as
//! documented: a valid call of each gets the documented success status, and
//! response objects carry exactly the documented properties.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{cookie_of, App};
use serde_json::{json, Value};

/// A concrete path for a templated one.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { "0123456789abcdef" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn document_lists_exactly_the_mounted_routes() {
    let app = App::sqlite().await;
    let served = app.call(Method::GET, api::OPENAPI_PATH, None, None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body["openapi"], "3.0.3");
    let paths = served.body["paths"].as_object().unwrap();

    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .map(|parameters| {
                    parameters.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect()
                })
                .unwrap_or_default();
            let templated: BTreeSet<&str> =
                path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, templated, "{method} {path}");
            assert!(operation["operationId"].is_string() && operation["summary"].is_string());
        }
    }
    let table: BTreeSet<(String, String)> =
        api::routes().iter().map(|route| (route.method.to_string(), route.path.to_owned())).collect();
    assert_eq!(documented, table);
    assert!(documented.len() >= 40);

    // Each documented operation is mounted: anything but the router's 404/405.
    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let all_paths: BTreeSet<&String> = paths.keys().collect();
    for path in all_paths {
        for method in &methods {
            let reply = app.call(method.clone(), &concrete(path), None, None).await;
            if documented.contains(&(method.to_string(), path.clone())) {
                let expected = match (method.as_str(), path.as_str()) {
                    ("GET", api::OPENAPI_PATH) => StatusCode::OK,
                    ("POST", "/api/v1/auth/login") => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::UNAUTHORIZED,
                };
                assert_eq!(reply.status, expected, "{method} {path}: {}", reply.text);
            } else {
                // Not documented: not mounted either.
                assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is mounted but undocumented");
            }
        }
    }
    let unknown = app.call(Method::GET, "/api/v1/cameras", None, None).await;
    assert_eq!((unknown.status, unknown.body["error"].as_str()), (StatusCode::NOT_FOUND, Some("route not found")));
}

#[tokio::test]
async fn unknown_ids_are_404_for_every_kind_of_object() {
    let app = App::sqlite().await;
    for path in [
        "/api/v1/users/none",
        "/api/v1/areas/none",
        "/api/v1/devices/none",
        "/api/v1/streams/none",
        "/api/v1/streams/none/policy",
        "/api/v1/streams/none/rights",
        "/api/v1/webhooks/none",
    ] {
        let reply = app.admin(Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.body["error"].as_str().unwrap().ends_with("not found"));
    }
    assert_eq!(app.admin(Method::DELETE, "/api/v1/api-keys/none", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.admin(Method::POST, "/api/v1/streams/none/rotate-key", None).await.status, StatusCode::NOT_FOUND);
}

struct Tour<'a> {
    app: &'a App,
    document: Value,
    visited: BTreeSet<(String, String)>,
}

impl Tour<'_> {
    fn schema(&self, schema: &Value) -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                let resolved = self.document["components"]["schemas"][name].clone();
                assert!(!resolved.is_null(), "unresolved {reference}");
                resolved
            }
            None => schema.clone(),
        }
    }

    /// Whether `value` is an object with only `schema`'s properties, all
    /// required ones, and string values within their enums.
    fn fits(&self, value: &Value, schema: &Value) -> bool {
        let schema = self.schema(schema);
        let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object()) else {
            return false;
        };
        let known = object.iter().all(|(key, field)| {
            properties.get(key).is_some_and(|property| match property["enum"].as_array() {
                Some(values) => values.contains(field),
                None => true,
            })
        });
        let complete = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|required| required.as_str().is_some_and(|name| object.contains_key(name)));
        known && complete
    }

    fn check_value(&self, value: &Value, schema: &Value, context: &str) {
        let schema = self.schema(schema);
        if let Some(variants) = schema["oneOf"].as_array() {
            let fitting = variants.iter().filter(|variant| self.fits(value, variant)).count();
            assert_eq!(fitting, 1, "{context}: {value} fits {fitting} of the documented variants");
            return;
        }
        match schema["type"].as_str() {
            Some("array") => {
                let items = value.as_array().unwrap_or_else(|| panic!("{context}: not an array"));
                for item in items {
                    self.check_value(item, &schema["items"], context);
                }
            }
            Some("object") if schema.get("properties").is_some() => {
                let object = value.as_object().unwrap_or_else(|| panic!("{context}: not an object: {value}"));
                let documented: BTreeSet<&str> =
                    schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
                for key in object.keys() {
                    assert!(documented.contains(key.as_str()), "{context}: undocumented property {key}");
                }
                for required in schema["required"].as_array().into_iter().flatten() {
                    assert!(object.contains_key(required.as_str().unwrap()), "{context}: missing {required}");
                }
                // Nested objects too (a documented null is nullable's business, not checked here).
                for (key, field) in object.iter().filter(|(_, field)| !field.is_null()) {
                    self.check_value(field, &schema["properties"][key.as_str()], &format!("{context}.{key}"));
                }
            }
            _ => {}
        }
    }

    async fn step(&mut self, method: Method, template: &str, path: &str, auth: &str, body: Option<Value>) -> Value {
        let operation = self.document["paths"][template][method.as_str().to_lowercase()].clone();
        assert!(operation.is_object(), "{method} {template} is not documented");
        if body.is_some() {
            assert!(operation["requestBody"].is_object(), "{method} {template} takes a body but documents none");
        }
        let reply = self.app.call(method.clone(), path, Some(auth), body).await;
        let responses = operation["responses"].as_object().unwrap();
        let success: Vec<&String> = responses.keys().filter(|status| status.starts_with('2')).collect();
        assert_eq!(success.len(), 1, "{method} {template}");
        assert_eq!(reply.status.as_str(), success[0], "{method} {template}: {}", reply.text);
        let context = format!("{method} {template}");
        match responses[success[0].as_str()]["content"]["application/json"].get("schema") {
            Some(schema) => self.check_value(&reply.body, schema, &context),
            None => assert_eq!(reply.status, StatusCode::NO_CONTENT, "{context}"),
        }
        self.visited.insert((method.to_string(), template.to_owned()));
        reply.body
    }
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let app = App::sqlite().await;
    let document = app.call(Method::GET, api::OPENAPI_PATH, None, None).await.body;
    let mut tour = Tour { app: &app, document, visited: BTreeSet::new() };
    let admin = app.admin_key.clone();
    let v = |path: &str| format!("/api/v1{path}");

    let openapi = tour.app.call(Method::GET, api::OPENAPI_PATH, None, None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    tour.visited.insert(("GET".into(), api::OPENAPI_PATH.into()));

    let password = "a long password 1";
    let user = tour
        .step(
            Method::POST,
            &v("/users"),
            &v("/users"),
            &admin,
            Some(json!({"username": "tourist", "password": password, "role": "viewer"})),
        )
        .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let login = app.login("tourist", password).await;
    assert_eq!(login.status, StatusCode::OK);
    tour.check_value(&login.body, &json!({"$ref": "#/components/schemas/Me"}), "login");
    tour.visited.insert(("POST".into(), v("/auth/login")));
    let cookie = cookie_of(&login);
    tour.step(Method::GET, &v("/auth/me"), &v("/auth/me"), &cookie, None).await;
    tour.step(Method::GET, &v("/users"), &v("/users"), &admin, None).await;
    let user_path = v(&format!("/users/{user_id}"));
    tour.step(Method::GET, &v("/users/{id}"), &user_path, &admin, None).await;
    tour.step(Method::PATCH, &v("/users/{id}"), &user_path, &admin, Some(json!({"role": "operator"}))).await;

    tour.step(Method::GET, &v("/api-keys"), &v("/api-keys"), &admin, None).await;
    let key = tour.step(Method::POST, &v("/api-keys"), &v("/api-keys"), &admin, Some(json!({"name": "tour"}))).await;
    let key_path = v(&format!("/api-keys/{}", key["id"].as_str().unwrap()));
    tour.step(Method::DELETE, &v("/api-keys/{id}"), &key_path, &admin, None).await;

    let area = tour.step(Method::POST, &v("/areas"), &v("/areas"), &admin, Some(json!({"name": "Tour area"}))).await;
    let area_id = area["id"].as_str().unwrap().to_owned();
    let area_path = v(&format!("/areas/{area_id}"));
    tour.step(Method::GET, &v("/areas"), &v("/areas"), &admin, None).await;
    tour.step(Method::GET, &v("/areas/{id}"), &area_path, &admin, None).await;
    tour.step(Method::PATCH, &v("/areas/{id}"), &area_path, &admin, Some(json!({"description": "d"}))).await;
    let device = tour
        .step(Method::POST, &v("/devices"), &v("/devices"), &admin, Some(json!({"area_id": area_id, "name": "NVR"})))
        .await;
    let device_id = device["id"].as_str().unwrap().to_owned();
    let device_path = v(&format!("/devices/{device_id}"));
    tour.step(Method::GET, &v("/devices"), &v(&format!("/devices?area_id={area_id}")), &admin, None).await;
    tour.step(Method::GET, &v("/devices/{id}"), &device_path, &admin, None).await;
    tour.step(Method::PATCH, &v("/devices/{id}"), &device_path, &admin, Some(json!({"name": "NVR 2"}))).await;

    let stream = tour
        .step(
            Method::POST,
            &v("/streams"),
            &v("/streams"),
            &admin,
            Some(json!({"name": "tour", "device_id": device_id})),
        )
        .await;
    let stream_id = stream["id"].as_str().unwrap().to_owned();
    let stream_path = v(&format!("/streams/{stream_id}"));
    tour.step(Method::GET, &v("/streams"), &v(&format!("/streams?device_id={device_id}")), &admin, None).await;
    tour.step(Method::GET, &v("/streams/{id}"), &stream_path, &admin, None).await;
    let status =
        tour.step(Method::GET, &v("/streams/{id}/status"), &format!("{stream_path}/status"), &admin, None).await;
    assert_eq!(status["state"], "offline", "no pod holds the stream in this test");
    tour.step(Method::PATCH, &v("/streams/{id}"), &stream_path, &admin, Some(json!({"device_id": null}))).await;
    tour.step(Method::POST, &v("/streams/{id}/rotate-key"), &format!("{stream_path}/rotate-key"), &admin, None).await;
    tour.step(Method::POST, &v("/streams/{id}/disconnect"), &format!("{stream_path}/disconnect"), &admin, None).await;
    let rights_path = format!("{stream_path}/rights/{user_id}");
    tour.step(
        Method::PUT,
        &v("/streams/{id}/rights/{user_id}"),
        &rights_path,
        &admin,
        Some(json!({"rights": ["view_live"]})),
    )
    .await;
    tour.step(Method::GET, &v("/streams/{id}/rights"), &format!("{stream_path}/rights"), &admin, None).await;
    tour.step(Method::DELETE, &v("/streams/{id}/rights/{user_id}"), &rights_path, &admin, None).await;
    let policy_path = format!("{stream_path}/policy");
    tour.step(Method::GET, &v("/streams/{id}/policy"), &policy_path, &admin, None).await;
    tour.step(Method::PUT, &v("/streams/{id}/policy"), &policy_path, &admin, Some(json!({"kind": "token"}))).await;
    let tokens_path = format!("{stream_path}/tokens");
    tour.step(Method::POST, &v("/streams/{id}/tokens"), &tokens_path, &admin, Some(json!({"expires_in_secs": 60})))
        .await;

    tour.step(Method::GET, &v("/signing-keys"), &v("/signing-keys"), &admin, None).await;
    let signing = tour.step(Method::POST, &v("/signing-keys/rotate"), &v("/signing-keys/rotate"), &admin, None).await;
    let retire_path = v(&format!("/signing-keys/{}/retire", signing["kid"].as_str().unwrap()));
    tour.step(Method::POST, &v("/signing-keys/{kid}/retire"), &retire_path, &admin, None).await;
    tour.step(Method::GET, &v("/audit"), &v("/audit?object=stream&limit=5"), &admin, None).await;

    let hook = tour
        .step(
            Method::POST,
            &v("/webhooks"),
            &v("/webhooks"),
            &admin,
            Some(json!({"url": "http://127.0.0.1:9/", "events": ["on_play"]})),
        )
        .await;
    let hook_path = v(&format!("/webhooks/{}", hook["id"].as_str().unwrap()));
    tour.step(Method::GET, &v("/webhooks"), &v("/webhooks"), &admin, None).await;
    tour.step(Method::GET, &v("/webhooks/{id}"), &hook_path, &admin, None).await;
    tour.step(Method::PATCH, &v("/webhooks/{id}"), &hook_path, &admin, Some(json!({"enabled": false}))).await;
    tour.step(Method::DELETE, &v("/webhooks/{id}"), &hook_path, &admin, None).await;

    tour.step(Method::DELETE, &v("/streams/{id}"), &stream_path, &admin, None).await;
    tour.step(Method::DELETE, &v("/devices/{id}"), &device_path, &admin, None).await;
    tour.step(Method::DELETE, &v("/areas/{id}"), &area_path, &admin, None).await;
    tour.step(Method::POST, &v("/auth/logout"), &v("/auth/logout"), &cookie, None).await;
    tour.step(Method::DELETE, &v("/users/{id}"), &user_path, &admin, None).await;

    let documented: BTreeSet<(String, String)> =
        api::routes().iter().map(|route| (route.method.to_string(), route.path.to_owned())).collect();
    let missed: Vec<_> = documented.difference(&tour.visited).collect();
    assert!(missed.is_empty(), "operations the tour did not call: {missed:?}");
}

/// docs/api/openapi.json is the served document, so it can be read, diffed
/// and validated without a server (`tests/deploy/test_openapi.py` checks it
/// against the OpenAPI 3.0 schema). `UPDATE_OPENAPI=1` rewrites it.
#[test]
fn the_published_document_is_the_served_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api/openapi.json");
    let served = format!("{:#}\n", api::openapi_document());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(published == served, "{} differs from the served document; run with UPDATE_OPENAPI=1", path.display());
}

/// The limits the document states on input are the ones the server
/// enforces, at their edges (schemathesis found each of these answered
/// 422 to input the document allowed, or the other way round).
#[tokio::test]
async fn documented_input_limits_are_the_enforced_ones() {
    let app = App::sqlite().await;
    let document = api::openapi_document();
    let schemas = &document["components"]["schemas"];

    let limit = document["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "limit")
        .unwrap()["schema"]
        .clone();
    let (min, max) = (limit["minimum"].as_i64().unwrap(), limit["maximum"].as_i64().unwrap());
    for (value, expected) in [(min, StatusCode::OK), (max, StatusCode::OK), (min - 1, StatusCode::UNPROCESSABLE_ENTITY)]
    {
        let reply = app.admin(Method::GET, &format!("/api/v1/audit?limit={value}"), None).await;
        assert_eq!(reply.status, expected, "limit={value}: {}", reply.text);
    }
    let over = app.admin(Method::GET, &format!("/api/v1/audit?limit={}", max + 1), None).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);

    let expires = &schemas["NewApiKey"]["properties"]["expires_in_secs"];
    let longest = expires["maximum"].as_u64().unwrap();
    let key = |secs: u64| Some(json!({"name": "k\u{85}ey", "expires_in_secs": secs}));
    assert_eq!(app.admin(Method::POST, "/api/v1/api-keys", key(longest)).await.status, StatusCode::CREATED);
    assert_eq!(
        app.admin(Method::POST, "/api/v1/api-keys", key(longest + 1)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Area and device names: no control characters, and the document's pattern says the same.
    let pattern = schemas["NewArea"]["properties"]["name"]["pattern"].as_str().unwrap();
    assert_eq!(pattern, "^[^\\u0000-\\u001f\\u007f-\\u009f]+$");
    for name in ["a\u{0}b", "tab\there", "next\u{85}line", "\u{9f}"] {
        let reply = app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": name}))).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
    }
    let area = app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": "Halle ☃ \u{a0}Ost"}))).await;
    assert_eq!(area.status, StatusCode::CREATED, "{}", area.text);

    // A push stream may bring a key, a camera stream needs its source: one variant each.
    let variants = schemas["NewStream"]["oneOf"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    let stream = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "lobby"}))).await;
    assert_eq!(stream.status, StatusCode::CREATED);
    let mixed = json!({"name": "mixed", "kind": "push", "camera": {"url": "rtsp://192.0.2.1/"}});
    assert_eq!(app.admin(Method::POST, "/api/v1/streams", Some(mixed)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let id = stream.body["id"].as_str().unwrap();

    // `allow` belongs to ip_allow_list alone.
    let policy = format!("/api/v1/streams/{id}/policy");
    let token_with_list = json!({"kind": "token", "allow": []});
    assert_eq!(app.admin(Method::PUT, &policy, Some(token_with_list)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let list = json!({"kind": "ip_allow_list", "allow": ["192.0.2.0/24"]});
    assert_eq!(app.admin(Method::PUT, &policy, Some(list)).await.status, StatusCode::OK);

    // Rights are a set: naming one twice is fine, the answer names it once.
    let (user_id, _) = app.user("ida", "viewer").await;
    let twice = json!({"rights": ["export", "export"]});
    let rights = app.admin(Method::PUT, &format!("/api/v1/streams/{id}/rights/{user_id}"), Some(twice)).await;
    assert_eq!((rights.status, rights.body["rights"].clone()), (StatusCode::OK, json!(["export"])));
    assert!(schemas["RightsChange"]["properties"]["rights"].get("uniqueItems").is_none());

    // A token's client_ip is an IPv4 or IPv6 address.
    let tokens = format!("/api/v1/streams/{id}/tokens");
    for (ip, expected) in
        [("::1", StatusCode::CREATED), ("192.0.2.7", StatusCode::CREATED), ("", StatusCode::UNPROCESSABLE_ENTITY)]
    {
        let body = json!({"expires_in_secs": 60, "client_ip": ip});
        assert_eq!(app.admin(Method::POST, &tokens, Some(body)).await.status, expected, "client_ip {ip:?}");
    }
}

/// NUL in any text a request carries is invalid input, answered alike on
/// both databases: PostgreSQL refuses NUL in text, and each of these was a
/// 500 there (found by schemathesis against relay all on PostgreSQL).
async fn nul_in_text_is_invalid_input_on_every_database(app: App) {
    let invalid = |reply: &common::Reply, field: &str| {
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.text);
        assert_eq!(reply.body["fields"][0]["field"], field, "{}", reply.text);
        assert!(reply.body["fields"][0]["message"].as_str().unwrap().contains("NUL"), "{}", reply.text);
    };
    let area = json!({"name": "ok", "description": "a\u{0}b"});
    invalid(&app.admin(Method::POST, "/api/v1/areas", Some(area)).await, "body");
    invalid(&app.admin(Method::POST, "/api/v1/api-keys", Some(json!({"name": "a\u{0}b"}))).await, "body");
    invalid(&app.login("a\u{0}b", "whatever it is").await, "body");
    invalid(&app.admin(Method::GET, "/api/v1/audit?user=a%00b", None).await, "user");
    invalid(&app.admin(Method::GET, "/api/v1/devices?area_id=%00", None).await, "area_id");
    for path in ["/api/v1/users/a%00b", "/api/v1/streams/%00/policy", "/api/v1/webhooks/%00"] {
        let reply = app.admin(Method::GET, path, None).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (StatusCode::NOT_FOUND, Some("object not found")));
    }
    // A backslash followed by the letters u0000 is no NUL.
    let letters = app.admin(Method::POST, "/api/v1/areas", Some(json!({"name": "back\\u0000slash"}))).await;
    assert_eq!((letters.status, letters.body["name"].as_str()), (StatusCode::CREATED, Some("back\\u0000slash")));
}

on_both_databases!(nul_in_text_is_invalid_input_on_every_database);
