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

/// A string of `min..=max` characters matching `pattern` (when given).
fn limited(min: usize, max: usize, pattern: Option<&str>) -> Value {
    let mut schema = json!({"type": "string", "minLength": min, "maxLength": max});
    if let Some(pattern) = pattern {
        super::openapi::insert(&mut schema, "pattern", json!(pattern));
    }
    schema
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An object schema; `required` lists the properties that must be present
/// (left out when none: OpenAPI 3.0 forbids an empty list).
fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> =
        properties.iter().map(|(name, schema)| ((*name).to_owned(), schema.clone())).collect();
    let mut schema = json!({"type": "object", "properties": properties, "additionalProperties": false});
    if !required.is_empty() {
        super::openapi::insert(&mut schema, "required", json!(required));
    }
    schema
}

const RIGHTS: [&str; 4] = ["view_live", "view_recordings", "export", "manage"];
const EVENTS: [&str; 3] = ["on_publish", "on_unpublish", "on_play"];

pub fn components() -> Value {
    // The limits the server enforces on input, as its validation errors state them.
    let stream_name = limited(1, 64, Some("^[a-z0-9_-]+$"));
    let stream_key = limited(16, 128, Some("^[A-Za-z0-9_-]+$"));
    let username = limited(1, 64, Some("^[A-Za-z0-9._@-]+$"));
    let password = limited(12, 256, None);
    // Names of areas and devices: no control characters (char::is_control, Unicode's Cc).
    let label = limited(1, 128, Some("^[^\\u0000-\\u001f\\u007f-\\u009f]+$"));
    let key_name = limited(1, 128, None);
    let webhook_url = limited(8, 2048, Some("^https?://"));
    let description = limited(0, 1024, None);
    let role = enumeration(&["admin", "operator", "viewer"]);
    // Rights are a set: a request may name one twice, an answer names each once.
    let rights_request = json!({"type": "array", "items": enumeration(&RIGHTS)});
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
            ("url", limited(8, 2048, Some("^rtsps?://"))),
            ("username", limited(0, 256, None)),
            ("password", limited(0, 256, None)),
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
    // `allow` belongs to ip_allow_list alone.
    let networks = json!({"type": "array", "items": {"type": "string", "description": "CIDR"}, "maxItems": 1000});
    let policy = json!({
        "oneOf": [
            object(&[("kind", enumeration(&["public"]))], &["kind"]),
            object(&[("kind", enumeration(&["token"]))], &["kind"]),
            object(&[("kind", enumeration(&["ip_allow_list"])), ("allow", networks)], &["kind", "allow"]),
        ]
    });
    // A push stream (the default kind) may bring its key; a camera stream needs its source and has no key.
    let new_stream = json!({
        "oneOf": [
            object(&[
                ("name", stream_name.clone()),
                ("device_id", string()),
                ("kind", enumeration(&["push"])),
                ("stream_key", stream_key),
            ], &["name"]),
            object(&[
                ("name", stream_name.clone()),
                ("device_id", string()),
                ("kind", enumeration(&["camera"])),
                ("camera", reference("CameraSource")),
            ], &["name", "kind", "camera"]),
        ]
    });
    let client_ip = json!({
        "type": "string",
        "description": "an IPv4 or IPv6 address",
        "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]
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
        "Login": object(&[("username", limited(1, 64, None)), ("password", limited(0, 256, None))], &["username", "password"]),
        "Me": object(&[("user", reference("User")), ("api_key_id", string())], &["user"]),
        "User": user,
        "NewUser": object(&[("username", username), ("password", password.clone()), ("role", role.clone())], &["username", "password", "role"]),
        "UserChange": object(&[("password", password), ("current_password", limited(0, 256, None)), ("role", role)], &[]),
        "ApiKey": object(&api_key, &[]),
        "NewApiKey": object(&[("name", key_name), ("expires_in_secs", json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": super::users::MAX_KEY_LIFETIME_SECS}))], &["name"]),
        "CreatedApiKey": with(&api_key, ("key", json!({"type": "string", "description": "shown once"}))),
        "Area": object(&[("id", string()), ("name", string()), ("description", string()), ("created_at", millis())], &[]),
        "NewArea": object(&[("name", label.clone()), ("description", description.clone())], &["name"]),
        "AreaChange": object(&[("name", label.clone()), ("description", description.clone())], &[]),
        "Device": object(&[("id", string()), ("area_id", string()), ("name", string()), ("description", string()), ("created_at", millis())], &[]),
        "NewDevice": object(&[("area_id", string()), ("name", label.clone()), ("description", description.clone())], &["area_id", "name"]),
        "DeviceChange": object(&[("area_id", string()), ("name", label), ("description", description)], &[]),
        "CameraSource": camera_source,
        "CameraPull": camera_pull,
        "Stream": with(&stream, ("stream_key", json!({"type": "string", "description": "only when created or rotated"}))),
        "NewStream": new_stream,
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
        "StreamChange": object(&[("name", stream_name), ("device_id", nullable(string())), ("camera", reference("CameraSource"))], &[]),
        "UserRights": object(&[("user_id", string()), ("username", string()), ("rights", rights.clone())], &[]),
        "RightsChange": object(&[("rights", rights_request)], &["rights"]),
        "AccessPolicy": policy,
        "PolicyView": object(&[("policy", reference("AccessPolicy")), ("default", json!({"type": "boolean"}))], &[]),
        "TokenRequest": object(&[
            ("expires_in_secs", json!({"type": "integer", "format": "int64", "minimum": 1, "description": "at most auth.token_max_lifetime_secs"})),
            ("client_ip", client_ip),
            ("path_scope", string()),
        ], &["expires_in_secs"]),
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
            ("url", webhook_url.clone()),
            ("events", events.clone()),
            ("secret", limited(16, 256, Some("^[\\x21-\\x7e]+$"))),
            ("enabled", json!({"type": "boolean"})),
        ], &["url", "events"]),
        "WebhookChange": object(&[("url", webhook_url), ("events", events), ("enabled", json!({"type": "boolean"}))], &[]),
        "CreatedWebhook": with(&webhook, ("secret", json!({"type": "string", "description": "shown once"}))),
        "OpenApi": {"type": "object"},
    })
}
