//! Tokens issued by the token API pass the CloudFront Function
//! (terraform/cloudfront/playback-token.js) for their stream only, and a
//! forged one fails there, with the function's key store built from the keys
//! in the database. Runs the function in Node.

mod common;

use std::collections::HashMap;

use axum::http::Method;
use common::App;
use serde_json::{json, Value};
use testkit::edge_function::{self, Case};

/// The harness reports `status: null` when the function lets the request
/// go on to the cache, and the status code when it answers itself.
fn passed(result: &Value) -> bool {
    result["status"].is_null()
}

#[tokio::test]
async fn api_issued_tokens_pass_the_edge_function_for_their_stream_only() {
    let app = App::sqlite().await;
    let created = app.admin(Method::POST, "/api/v1/streams", Some(json!({"name": "main"}))).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    app.admin(Method::PUT, &format!("/api/v1/streams/{id}/policy"), Some(json!({"kind": "token"}))).await;
    let issued =
        app.admin(Method::POST, &format!("/api/v1/streams/{id}/tokens"), Some(json!({"expires_in_secs": 300}))).await;
    let path = issued.body["url_path"].as_str().unwrap().to_owned();
    let token = issued.body["token"].as_str().unwrap().to_owned();

    let (key, _) = app.state.database().current_signing_key().await.unwrap();
    let store: HashMap<String, String> =
        [(format!("playback-key:{}", key.kid()), key.secret().to_owned())].into_iter().collect();
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let cases = vec![
        Case::new("issued", path.clone()),
        Case::new("issued, a part", path.replace("index.m3u8", "seg3.1.m4s")),
        Case::new("other stream", format!("/t/{token}/live/other/index.m3u8")),
        Case::new("forged signature", format!("/t/{forged}/live/main/index.m3u8")),
    ];
    let results = edge_function::run(&store, &cases);
    assert!(passed(&results["issued"]), "{:?}", results["issued"]);
    assert!(passed(&results["issued, a part"]), "{:?}", results["issued, a part"]);
    assert!(!passed(&results["other stream"]), "{:?}", results["other stream"]);
    assert!(!passed(&results["forged signature"]), "{:?}", results["forged signature"]);
}
