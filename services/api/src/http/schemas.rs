//! JSON schemas of request and response bodies for the OpenAPI document.
//! Written by hand next to the types they describe (see the handlers).

use serde_json::{json, Map, Value};

fn string() -> Value {
    json!({"type": "string"})
}

fn integer() -> Value {
    json!({"type": "integer", "format": "int64"})
}

fn millis() -> Value {
    json!({"type": "integer", "format": "int64", "description": "unix milliseconds"})
}

fn nullable(mut schema: Value) -> Value {
    super::openapi::insert(&mut schema, "nullable", Value::Bool(true));
    schema
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An object schema; `required` lists the properties that must be present.
fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> =
        properties.iter().map(|(name, schema)| ((*name).to_owned(), schema.clone())).collect();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

const RIGHTS: [&str; 4] = ["view_live", "view_recordings", "export", "manage"];
const EVENTS: [&str; 3] = ["on_publish", "on_unpublish", "on_play"];

pub fn components() -> Value {
    let role = enumeration(&["admin", "operator", "viewer"]);
    let rights = json!({"type": "array", "items": enumeration(&RIGHTS), "uniqueItems": true});
    let events = json!({"type": "array", "items": enumeration(&EVENTS), "minItems": 1});
    let user = object(
        &[("id", string()), ("username", string()), ("role", role.clone()), ("created_at", millis())],
        &["id", "username", "role", "created_at"],
    );
    let api_key = [
        ("id", string()),
        ("user_id", string()),
        ("name", string()),
        ("created_at", millis()),
        ("expires_at", nullable(millis())),
    ];
    let stream = [
        ("id", string()),
        ("name", string()),
        ("kind", enumeration(&["push", "camera"])),
        ("device_id", nullable(string())),
        ("created_at", millis()),
        ("camera", reference("CameraPull")),
    ];
    let pull_mode = json!({
        "type": "string",
        "enum": ["always", "on_demand"],
        "default": "always",
        "description": "on_demand: pulled while viewers ask for the stream, and linger_ms after the last request",
    });
    let linger = json!({"type": "integer", "format": "int64", "minimum": 1000, "maximum": 3_600_000, "default": 30000});
    let camera_source = object(
        &[
            ("url", string()),
            ("username", string()),
            ("password", string()),
            ("mode", pull_mode.clone()),
            ("linger_ms", linger.clone()),
        ],
        &["url"],
    );
    let camera_pull = object(&[("mode", pull_mode), ("linger_ms", linger)], &["mode", "linger_ms"]);
    let signing_key = [("kid", string()), ("created_at", millis()), ("retired_at", nullable(millis()))];
    let webhook = [
        ("id", string()),
        ("url", string()),
        ("events", events.clone()),
        ("enabled", json!({"type": "boolean"})),
        ("created_at", millis()),
    ];
    // Media clock against the wall clock: ahead (ms) since PDT was anchored,
    // long-run rate (ppm, positive fast), PDT re-anchorings.
    let clock_drift = nullable(object(
        &[("drift_ms", integer()), ("rate_ppm", nullable(json!({"type": "number"}))), ("pdt_corrections", integer())],
        &["drift_ms", "pdt_corrections"],
    ));
    let with = |base: &[(&str, Value)], extra: (&str, Value)| {
        let mut all = base.to_vec();
        all.push(extra);
        object(&all, &[])
    };
    let policy = json!({
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": enumeration(&["public", "ip_allow_list", "token"]),
            "allow": {"type": "array", "items": {"type": "string", "description": "CIDR"}, "maxItems": 1000}
        }
    });
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": string(),
                "fields": {"type": "array", "items": object(&[("field", string()), ("message", string())], &["field", "message"])}
            }
        },
        "Login": object(&[("username", string()), ("password", string())], &["username", "password"]),
        "Me": object(&[("user", reference("User")), ("api_key_id", string())], &["user"]),
        "User": user,
        "NewUser": object(&[("username", string()), ("password", string()), ("role", role.clone())], &["username", "password", "role"]),
        "UserChange": object(&[("password", string()), ("current_password", string()), ("role", role)], &[]),
        "ApiKey": object(&api_key, &[]),
        "NewApiKey": object(&[("name", string()), ("expires_in_secs", integer())], &["name"]),
        "CreatedApiKey": with(&api_key, ("key", json!({"type": "string", "description": "shown once"}))),
        "Area": object(&[("id", string()), ("name", string()), ("description", string()), ("created_at", millis())], &[]),
        "NewArea": object(&[("name", string()), ("description", string())], &["name"]),
        "AreaChange": object(&[("name", string()), ("description", string())], &[]),
        "Device": object(&[("id", string()), ("area_id", string()), ("name", string()), ("description", string()), ("created_at", millis())], &[]),
        "NewDevice": object(&[("area_id", string()), ("name", string()), ("description", string())], &["area_id", "name"]),
        "DeviceChange": object(&[("area_id", string()), ("name", string()), ("description", string())], &[]),
        "CameraSource": camera_source,
        "CameraPull": camera_pull,
        "Stream": with(&stream, ("stream_key", json!({"type": "string", "description": "only when created or rotated"}))),
        "NewStream": object(&[
            ("name", string()),
            ("device_id", string()),
            ("kind", enumeration(&["push", "camera"])),
            ("stream_key", string()),
            ("camera", reference("CameraSource")),
        ], &["name"]),
        "StreamStatus": json!({
            "type": "object",
            "required": ["state", "stream_id", "name"],
            "properties": {
                "state": enumeration(&["live", "offline", "ended"]),
                "stream_id": string(),
                "name": string(),
                "since_ms": nullable(millis()),
                "codecs": {"type": "array", "items": string()},
                "resolution": nullable(object(&[("width", integer()), ("height", integer())], &["width", "height"])),
                "frame_rate": nullable(json!({"type": "number"})),
                "bitrate_peak_bps": nullable(integer()),
                "bitrate_average_bps": nullable(integer()),
                "newest_msn": nullable(integer()),
                "waiting_requests": integer(),
                "publisher": nullable(json!({"type": "object", "description": "GOP, B-frames, bitrates and frame rate seen from the publisher"})),
                "advice": {"type": "array", "items": string()},
                "clock": clock_drift,
            },
        }),
        "StreamChange": object(&[("name", string()), ("device_id", nullable(string())), ("camera", reference("CameraSource"))], &[]),
        "UserRights": object(&[("user_id", string()), ("username", string()), ("rights", rights.clone())], &[]),
        "RightsChange": object(&[("rights", rights)], &["rights"]),
        "AccessPolicy": policy,
        "PolicyView": object(&[("policy", reference("AccessPolicy")), ("default", json!({"type": "boolean"}))], &[]),
        "TokenRequest": object(&[("expires_in_secs", integer()), ("client_ip", string()), ("path_scope", string())], &["expires_in_secs"]),
        "IssuedToken": object(&[("token", string()), ("url_path", string()), ("expires_at", integer()), ("kid", string())], &[]),
        "SigningKey": object(&signing_key, &[]),
        "NewSigningKey": with(&signing_key, ("secret", json!({"type": "string", "description": "shown once"}))),
        "AuditEntry": object(&[
            ("id", string()),
            ("at", millis()),
            ("actor_id", nullable(string())),
            ("actor_name", string()),
            ("address", string()),
            ("action", string()),
            ("object_type", string()),
            ("object_id", string()),
        ], &[]),
        "Webhook": object(&webhook, &[]),
        "NewWebhook": object(&[
            ("url", string()),
            ("events", events.clone()),
            ("secret", string()),
            ("enabled", json!({"type": "boolean"})),
        ], &["url", "events"]),
        "WebhookChange": object(&[("url", string()), ("events", events), ("enabled", json!({"type": "boolean"}))], &[]),
        "CreatedWebhook": with(&webhook, ("secret", json!({"type": "string", "description": "shown once"}))),
        "OpenApi": {"type": "object"},
    })
}
