//! The OpenAPI 3.0 document, generated from the route table.

use axum::Json;
use serde_json::{json, Map, Value};

use super::{routes, schemas, Access, Returns};

pub async fn serve() -> Json<Value> {
    Json(openapi_document())
}

pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let mut parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for query in route.query {
            let mut schema = json!({"type": query.kind});
            if let Some((min, max)) = query.range {
                insert(&mut schema, "minimum", json!(min));
                insert(&mut schema, "maximum", json!(max));
            }
            parameters.push(json!({"name": query.name, "in": "query", "required": false, "schema": schema}));
        }
        let method = route.method.as_str().to_ascii_lowercase();
        let mut operation = json!({
            "operationId": operation_id(&method, route.path),
            "summary": route.summary,
            "tags": [route.tag],
            "responses": responses(route.returns, route.body.is_some()),
        });
        if !parameters.is_empty() {
            insert(&mut operation, "parameters", Value::Array(parameters));
        }
        if let Some(body) = route.body {
            let body = json!({"required": true, "content": {"application/json": {"schema": reference(body)}}});
            insert(&mut operation, "requestBody", body);
        }
        if route.access == Access::Anyone {
            insert(&mut operation, "security", json!([]));
        }
        let item = paths.entry(route.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        insert(item, &method, operation);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "relay management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Errors are {\"error\": message, \"fields\": [{\"field\", \"message\"}]}: 401 without valid \
                            credentials, 403 without the role or right, 404 for unknown ids, 409 for duplicates or \
                            objects in use, 415 for bodies that are not application/json, 422 for invalid input, 429 after \
                            too many failed logins. No text may contain NUL (\\u0000): 422 in a body or query, 404 \
                            in a path."
        },
        "security": [{"session": []}, {"apiKey": []}],
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "rk_<id>_<secret>"}
            },
            "schemas": schemas::components()
        },
        "paths": paths,
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(['/', '-', '.'])
        .filter(|word| !word.is_empty() && *word != "api" && *word != "v1")
        .map(|word| word.trim_start_matches('{').trim_end_matches('}'))
        .collect();
    format!("{method}_{}", words.join("_"))
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn responses(returns: Returns, takes_body: bool) -> Value {
    let error = json!({"content": {"application/json": {"schema": reference("Error")}}});
    let status = match returns {
        Returns::Nothing => "204",
        Returns::Created(_) => "201",
        _ => "200",
    };
    let content = match returns {
        Returns::Nothing => None,
        Returns::One(name) | Returns::Created(name) => Some(reference(name)),
        Returns::List(name) => Some(json!({"type": "array", "items": reference(name)})),
    };
    let mut success = json!({"description": "success"});
    if let Some(schema) = content {
        insert(&mut success, "content", json!({"application/json": {"schema": schema}}));
    }
    let mut responses = json!({ status: success });
    for (status, description) in [
        ("401", "not signed in"),
        ("403", "missing role or right"),
        ("404", "unknown id"),
        ("409", "conflict"),
        ("422", "invalid input"),
        ("429", "too many failed logins"),
    ] {
        let mut entry = error.clone();
        insert(&mut entry, "description", Value::String(description.to_owned()));
        insert(&mut responses, status, entry);
    }
    if takes_body {
        let mut entry = error.clone();
        insert(&mut entry, "description", Value::String("the body is not application/json".to_owned()));
        insert(&mut responses, "415", entry);
    }
    responses
}

/// Sets `key` of a JSON object; the document is built of objects only.
pub(super) fn insert(object: &mut Value, key: &str, field: Value) {
    if let Some(fields) = object.as_object_mut() {
        fields.insert(key.to_owned(), field);
    }
}
