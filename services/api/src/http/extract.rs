//! Extractors: who is calling, from where, and request bodies and queries
//! whose problems become 422s with per-field messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::ApiState;
use catalog::CatalogError;
use catalog::FieldError;
use catalog::{Right, Role, StreamRecord, User};

pub const SESSION_COOKIE: &str = "relay_session";

/// The client address, as the listener found it behind trusted proxies
/// (`listener::TrustedProxies`, the server's `[proxy]` settings).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<ApiState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &ApiState) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(ClientAddress(client))
    }
}

/// An authenticated caller: by `Authorization: Bearer rk_...` or the session cookie.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub api_key_id: Option<String>,
    pub address: IpAddr,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let ClientAddress(address) = ClientAddress::from_request_parts(parts, state).await?;
        let authenticated = if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| CatalogError::Unauthorized)?;
            let key = value.strip_prefix("Bearer ").ok_or(CatalogError::Unauthorized)?;
            state.database().api_key_user(key.trim()).await?
        } else if let Some(token) = session_cookie(parts) {
            // A browser sends the cookie along with requests other sites
            // make it send; only the console's own may change anything.
            if !parts.method.is_safe() && !same_origin(&parts.headers) {
                return Err(CatalogError::Forbidden.into());
            }
            state.database().session_user(&token).await?
        } else {
            None
        };
        let authenticated = authenticated.ok_or(CatalogError::Unauthorized)?;
        Ok(Caller { user: authenticated.user, api_key_id: authenticated.api_key_id, address })
    }
}

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(CatalogError::Forbidden.into())
        }
    }

    /// The stream, when it exists (404) and the caller holds `right` on it (403).
    pub async fn stream_with(&self, state: &ApiState, stream_id: &str, right: Right) -> Result<StreamRecord, ApiError> {
        let stream = state.database().stream(stream_id).await?;
        if self.user.role.manages_all_streams() || state.database().has_right(&self.user.id, stream_id, right).await? {
            Ok(stream)
        } else {
            Err(CatalogError::Forbidden.into())
        }
    }

    /// The stream, when it exists and the caller holds any right on it.
    pub async fn stream_visible(&self, state: &ApiState, stream_id: &str) -> Result<StreamRecord, ApiError> {
        let stream = state.database().stream(stream_id).await?;
        if self.user.role.manages_all_streams() || state.database().has_any_right(&self.user.id, stream_id).await? {
            Ok(stream)
        } else {
            Err(CatalogError::Forbidden.into())
        }
    }

    /// Records a change made by this caller in the audit log.
    pub async fn audit(
        &self,
        state: &ApiState,
        action: &str,
        object_type: &str,
        object_id: &str,
    ) -> Result<(), ApiError> {
        let address = self.address.to_string();
        let actor = Some((self.user.id.as_str(), self.user.username.as_str()));
        Ok(state.database().record_audit(actor, &address, action, object_type, object_id).await?)
    }
}

/// False when a browser says the request was made by a page of another
/// origin: `Sec-Fetch-Site` when present (`same-origin` and `none`, a
/// typed address, pass), else `Origin` against the host the request was
/// sent to (`Host`, or the host a proxy says it received; browsers cannot
/// set those on a credentialed cross-origin request without a preflight
/// this API does not grant). Requests with neither header come from
/// programs, not pages, and pass.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    // `null` (sandboxed frames, opaque redirects) and anything unparsable are foreign.
    let Some((scheme, authority)) = origin.to_str().ok().and_then(|origin| origin.split_once("://")) else {
        return false;
    };
    let origin = without_default_port(scheme, authority);
    let forwarded_host = forwarded_param(headers, "host");
    let hosts = [headers.get(header::HOST), headers.get("x-forwarded-host")]
        .into_iter()
        .flatten()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(',').next())
        .chain(forwarded_host.as_deref());
    for host in hosts {
        if without_default_port(scheme, host.trim()).eq_ignore_ascii_case(origin) {
            return true;
        }
    }
    false
}

fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// True when a proxy in front says the client used HTTPS
/// (`X-Forwarded-Proto: https` or `Forwarded: proto=https`).
pub fn forwarded_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    forwarded_proto || forwarded_param(headers, "proto").is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A parameter of the first element of the first `Forwarded` header (RFC 7239), unquoted.
fn forwarded_param(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(header::FORWARDED)?.to_str().ok()?;
    let first = value.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn session_cookie(parts: &Parts) -> Option<String> {
    session_cookie_from_headers(&parts.headers)
}

pub fn session_cookie_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A JSON body. Syntax errors, wrong types and unknown or missing fields are
/// 422s naming the field; the offending value is never repeated.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, ApiError> {
        // Only JSON: a cross-site form cannot send it without a preflight.
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(request, state).await.map_err(|_| ApiError::field("body", "unreadable body"))?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            ApiError::from(CatalogError::Validation(vec![field_error(
                &error.path().to_string(),
                &error.inner().to_string(),
                "body",
            )]))
        })?;
        deserializer.end().map_err(|_| ApiError::field("body", "trailing characters after the JSON value"))?;
        if escapes_nul(&bytes) {
            return Err(ApiError::field("body", NUL_RULE));
        }
        Ok(JsonBody(value))
    }
}

/// Query parameters with the same 422 treatment.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<ApiState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &ApiState) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) =
            form_urlencoded_parse(query).find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            let field = if name.contains('\0') { "query".to_owned() } else { name.into_owned() };
            return Err(ApiError::field(&field, NUL_RULE));
        }
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer).map(QueryParams).map_err(|error| {
            CatalogError::Validation(vec![field_error(&error.path().to_string(), &error.inner().to_string(), "query")])
                .into()
        })
    }
}

/// Text is stored as text: PostgreSQL refuses NUL in it, and no name, key
/// or description needs one. Refused at the edge on every database alike.
const NUL_RULE: &str = "text must not contain NUL (\\u0000)";

/// Whether a JSON text holds the escape `\u0000` (a JSON string cannot hold
/// a raw NUL). An escape is one when an odd number of backslashes leads to
/// its `u`: `\\u0000` is a backslash followed by the letters `u0000`.
fn escapes_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (position, &byte) in json.iter().enumerate() {
        if byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if byte == b'u' && backslashes % 2 == 1 && json.get(position + 1..position + 5) == Some(b"0000".as_slice()) {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// A percent-encoded NUL in the path: no object has such an id.
pub fn path_has_nul(path: &str) -> bool {
    path.contains("%00")
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Names the field (for unknown and missing fields, the field itself
/// rather than its parent) and scrubs the message.
fn field_error(path: &str, message: &str, whole: &str) -> FieldError {
    let parent = if path == "." || path.is_empty() { None } else { Some(path) };
    // The path of an unknown field already ends in its name; a missing one's does not.
    let missing = message.starts_with("missing field").then(|| message.split('`').nth(1)).flatten();
    let field = match (parent, missing) {
        (Some(parent), Some(name)) => format!("{parent}.{name}"),
        (None, Some(name)) => name.to_owned(),
        (Some(parent), None) => parent.to_owned(),
        (None, None) => whole.to_owned(),
    };
    FieldError { field, message: scrub(message) }
}

/// Serde messages quote the value they choke on (`invalid type: string
/// "hunter2", expected ...`); keep only what was expected.
fn scrub(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(position) => &message[..position],
        None => message,
    };
    for prefix in ["invalid type", "invalid value", "unknown variant", "invalid length"] {
        if message.starts_with(prefix) {
            return match message.find(", expected") {
                Some(position) => format!("{prefix}{}", &message[position..]),
                None => prefix.to_owned(),
            };
        }
    }
    if message.starts_with("unknown field") {
        return "unknown field".to_owned();
    }
    if message.starts_with("missing field") {
        return "missing field".to_owned();
    }
    if message.starts_with("expected") || message.starts_with("EOF") || message.starts_with("key must") {
        return format!("malformed JSON: {message}");
    }
    "invalid value".to_owned()
}

#[cfg(test)]
mod tests {
    use super::{escapes_nul, forwarded_https, path_has_nul, same_origin, scrub};
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value))).collect()
    }

    #[test]
    fn only_same_origin_pages_pass() {
        let host = ("host", "relay.example:8080");
        assert!(same_origin(&headers(&[host])), "no browser headers: a program");
        assert!(same_origin(&headers(&[host, ("origin", "http://relay.example:8080")])));
        assert!(same_origin(&headers(&[host, ("origin", "HTTP://Relay.Example:8080")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[host, ("origin", "http://relay.example:8081")])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(same_origin(&headers(&[("host", "relay.example"), ("origin", "https://relay.example:443")])));
        // Sec-Fetch-Site wins when sent.
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site"),
            ("origin", "http://relay.example:8080")
        ])));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])));
        // Behind a proxy that rewrites Host.
        let proxied = ("host", "relay-api.internal:8080");
        assert!(same_origin(&headers(&[
            proxied,
            ("x-forwarded-host", "relay.example"),
            ("origin", "https://relay.example")
        ])));
        assert!(same_origin(&headers(&[
            proxied,
            ("forwarded", "for=192.0.2.1;host=\"relay.example\";proto=https"),
            ("origin", "https://relay.example")
        ])));
        assert!(!same_origin(&headers(&[proxied, ("origin", "https://relay.example")])));
    }

    #[test]
    fn https_is_read_from_the_proxy_headers() {
        assert!(!forwarded_https(&headers(&[])));
        assert!(forwarded_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(forwarded_https(&headers(&[("x-forwarded-proto", "HTTPS, http")])));
        assert!(!forwarded_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(forwarded_https(&headers(&[("forwarded", "for=192.0.2.1;proto=https")])));
        assert!(!forwarded_https(&headers(&[("forwarded", "for=192.0.2.1;proto=http")])));
    }

    #[test]
    fn nul_escapes_are_told_from_escaped_backslashes() {
        assert!(escapes_nul(br#"{"name": "a\u0000b"}"#));
        assert!(escapes_nul(br#"{"\u0000": 1}"#));
        assert!(escapes_nul(br#"["\\\u0000"]"#), "an escaped backslash, then NUL");
        assert!(!escapes_nul(br#"{"name": "a\\u0000b"}"#), "a backslash, then the letters u0000");
        assert!(!escapes_nul(br#"{"name": "\u0001 \u1000 u0000"}"#));
        assert!(!escapes_nul(br#"{"name": "\u000"}"#));
        assert!(path_has_nul("/api/v1/users/a%00b"));
        assert!(!path_has_nul("/api/v1/users/a%300b"));
    }

    #[test]
    fn serde_messages_lose_the_value() {
        assert_eq!(
            scrub("invalid type: string \"hunter2\", expected u64 at line 1 column 9"),
            "invalid type, expected u64"
        );
        assert_eq!(scrub("invalid value: integer `-1`, expected u32"), "invalid value, expected u32");
        assert_eq!(scrub("unknown field `passwrd`, expected one of `a`"), "unknown field");
        assert_eq!(scrub("expected `,` or `}` at line 1 column 5"), "malformed JSON: expected `,` or `}`");
    }
}
