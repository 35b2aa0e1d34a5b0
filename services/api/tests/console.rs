//! The web console is served by the API router: the page with a strict
//! Content-Security-Policy, every script and stylesheet it loads (following
//! the module imports) with the right media type, and 404 for anything else.

mod common;

use std::collections::{BTreeSet, VecDeque};

use axum::http::{header, Method, StatusCode};
use common::{App, Reply};

fn header_of(reply: &Reply, name: header::HeaderName) -> &str {
    reply.headers.get(&name).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

/// The values of `attribute="..."` in `html` that start with `/console/`.
fn console_references(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"/console/");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let value = &html[at + attribute.len() + 2..];
            value.find('"').map(|end| value[..end].to_owned())
        })
        .collect()
}

/// The relative module imports of a script: `from './x.js'`.
fn imports(script: &str) -> Vec<String> {
    script
        .match_indices("from './")
        .filter_map(|(at, _)| {
            let rest = &script[at + "from './".len()..];
            rest.find('\'').map(|end| format!("/console/{}", &rest[..end]))
        })
        .collect()
}

fn assert_security_headers(reply: &Reply, path: &str) {
    let policy = header_of(reply, header::CONTENT_SECURITY_POLICY);
    assert_eq!(policy, api::console::CONTENT_SECURITY_POLICY, "{path}");
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(policy.contains(directive), "{path}: CSP lacks {directive}: {policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{path}: {policy}");
    assert_eq!(header_of(reply, header::X_FRAME_OPTIONS), "DENY", "{path}");
    assert_eq!(header_of(reply, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
}

#[tokio::test]
async fn console_page_is_served_with_a_strict_policy_and_no_inline_script() {
    let app = App::sqlite().await;
    for path in ["/console", "/console/"] {
        let page = app.call(Method::GET, path, None, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(header_of(&page, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-store");
        assert_security_headers(&page, path);
        assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
        // Every script tag loads a file: the policy would block inline code anyway.
        for (at, _) in page.text.match_indices("<script") {
            let tag = &page.text[at..at + page.text[at..].find('>').unwrap()];
            assert!(tag.contains("src=\"/console/"), "inline or foreign script: {tag}");
        }
        assert!(!page.text.contains("style=\""), "inline styles are blocked by the policy");
    }
    // Served without credentials; the API behind it still asks for them.
    let me = app.call(Method::GET, "/api/v1/auth/me", None, None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_asset_the_page_loads_is_served_with_its_media_type() {
    let app = App::sqlite().await;
    let page = app.call(Method::GET, "/console", None, None).await;
    let stylesheets = console_references(&page.text, "href");
    assert_eq!(stylesheets, ["/console/console.css"]);
    let css = app.call(Method::GET, &stylesheets[0], None, None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(header_of(&css, header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert_security_headers(&css, &stylesheets[0]);

    // Follow the module graph from the entry script: every import resolves.
    let mut pending: VecDeque<String> = console_references(&page.text, "src").into();
    assert_eq!(pending, ["/console/app.js"]);
    let mut seen = BTreeSet::new();
    while let Some(path) = pending.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let script = app.call(Method::GET, &path, None, None).await;
        assert_eq!(script.status, StatusCode::OK, "{path}");
        assert_eq!(header_of(&script, header::CONTENT_TYPE), "text/javascript; charset=utf-8", "{path}");
        assert_eq!(header_of(&script, header::CACHE_CONTROL), "no-cache", "{path}");
        assert_security_headers(&script, &path);
        // Secrets stay in the HttpOnly cookie; nothing is fetched from elsewhere.
        for forbidden in ["localStorage", "sessionStorage", "https://", "innerHTML", "eval("] {
            assert!(!script.text.contains(forbidden), "{path} uses {forbidden}");
        }
        assert!(script.text.contains("export ") || path.ends_with("app.js"), "{path} is not a module");
        pending.extend(imports(&script.text));
    }
    let expected: BTreeSet<String> = ["app", "api", "streams", "access", "hierarchy", "people", "admin"]
        .iter()
        .map(|name| format!("/console/{name}.js"))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn unknown_console_paths_are_404() {
    let app = App::sqlite().await;
    for path in ["/console/x", "/console/app.js.map", "/console/nested/app.js", "/console/..%2Fconsole.rs", "/consolex"]
    {
        let reply = app.call(Method::GET, path, None, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", reply.text);
    }
    // The console answers GET only.
    let post = app.call(Method::POST, "/console", None, None).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}
