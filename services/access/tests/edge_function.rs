//! The CloudFront Function (terraform/cloudfront/playback-token.js) must
//! agree with the Rust verifier: tokens issued here pass there, forgeries
//! fail there. Runs the function in Node through terraform/cloudfront/test/run.mjs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use access::{PlaybackClaims, SigningKey, TokenSigner, TokenVerifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use testkit::edge_function::{self, Case, VIEWER};

fn case(name: &'static str, token: &str, path: &str) -> Case {
    Case::new(name, format!("/t/{token}/{path}"))
}

fn raw_token(header: &str, claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(header);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        Algorithm::HS256,
    );
    format!("{signing_input}.{}", signature.unwrap())
}

#[test]
fn edge_function_agrees_with_the_rust_verifier() {
    let current = SigningKey::generate("2026-09").unwrap();
    let previous = SigningKey::generate("2026-08").unwrap();
    let retired = SigningKey::generate("2026-07").unwrap();
    let forged = SigningKey::new("2026-09", "attacker-guess-0123456789abcdefghijklmnop").unwrap();
    let store: HashMap<String, String> = [&current, &previous]
        .iter()
        .map(|key| (format!("playback-key:{}", key.kid()), key.secret().to_owned()))
        .collect();

    let hour = Duration::from_secs(3600);
    let sign = |key: &SigningKey, claims: PlaybackClaims| TokenSigner::new(key).issue(&claims).unwrap();
    let main = sign(&current, PlaybackClaims::new("live/main/", hour));
    let by_previous = sign(&previous, PlaybackClaims::new("live/main/", hour));
    let by_retired = sign(&retired, PlaybackClaims::new("live/main/", hour));
    let by_forger = sign(&forged, PlaybackClaims::new("live/main/", hour));
    let mut stale = PlaybackClaims::new("live/main/", hour);
    (stale.iat, stale.exp) = (stale.iat - 7200, stale.iat - 3600);
    let expired = sign(&current, stale);
    let other_stream = sign(&current, PlaybackClaims::new("live/other/", hour));
    let no_slash = sign(&current, PlaybackClaims::new("live/main", hour));
    let bound = sign(&current, PlaybackClaims::new("live/main/", hour).bound_to(VIEWER.parse().unwrap()));
    let bound_v6 = sign(&current, PlaybackClaims::new("live/main/", hour).bound_to("2001:db8::1".parse().unwrap()));
    let bound_mapped =
        sign(&current, PlaybackClaims::new("live/main/", hour).bound_to("::ffff:203.0.113.7".parse().unwrap()));
    let fresh = PlaybackClaims::new("x/", hour);
    let (iat, exp) = (fresh.iat, fresh.exp);
    let wide_claims = json!({ "sub": "live/", "exp": exp, "iat": iat });
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"2026-09"}"#),
        URL_SAFE_NO_PAD.encode(wide_claims.to_string())
    );
    let hs512 = jsonwebtoken::encode(
        &Header { kid: Some("2026-09".into()), ..Header::new(Algorithm::HS512) },
        &wide_claims,
        &EncodingKey::from_secret(current.secret().as_bytes()),
    )
    .unwrap();
    let same_secret_raw = raw_token(r#"{"alg":"HS256","kid":"2026-09"}"#, &wide_claims, current.secret());
    let not_yet = sign(&current, PlaybackClaims { nbf: Some(iat + 600), ..PlaybackClaims::new("live/main/", hour) });
    let started = sign(&current, PlaybackClaims { nbf: Some(iat - 60), ..PlaybackClaims::new("live/main/", hour) });
    let from_the_future = sign(&current, PlaybackClaims { iat: iat + 600, exp: exp + 600, ..fresh.clone() });
    let for_a_year = sign(&current, PlaybackClaims::new("live/main/", Duration::from_secs(365 * 24 * 3600)));
    let without_iat =
        raw_token(r#"{"alg":"HS256","kid":"2026-09"}"#, &json!({ "sub": "live/", "exp": exp }), current.secret());
    let tampered = {
        let (header, rest) = main.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(wide_claims.to_string()))
    };

    let mut cases = vec![
        case("valid playlist", &main, "live/main/index.m3u8"),
        case("valid part", &main, "live/main/seg12.3.m4s"),
        case("previous key during rotation", &by_previous, "live/main/media.m3u8"),
        case("retired key", &by_retired, "live/main/index.m3u8"),
        case("forged secret", &by_forger, "live/main/index.m3u8"),
        case("expired", &expired, "live/main/index.m3u8"),
        case("other stream", &other_stream, "live/main/index.m3u8"),
        case("prefix is not a segment", &no_slash, "live/main2/index.m3u8"),
        case("scope without slash", &no_slash, "live/main/index.m3u8"),
        case("dot segments", &main, "live/main/../other/index.m3u8"),
        case("encoded path", &main, "live/main/%2e%2e/other/index.m3u8"),
        case("ip bound", &bound, "live/main/index.m3u8"),
        case("ip bound, mapped claim", &bound_mapped, "live/main/index.m3u8"),
        case("alg none", &alg_none, "live/main/index.m3u8"),
        case("hs512", &hs512, "live/main/index.m3u8"),
        case("tampered claims", &tampered, "live/main/index.m3u8"),
        case("missing token", "", "live/main/index.m3u8"),
        case("garbage", "not-a-token", "live/main/index.m3u8"),
        case("hand-built token, real secret", &same_secret_raw, "live/other/index.m3u8"),
        case("nbf in the future", &not_yet, "live/main/index.m3u8"),
        case("nbf in the past", &started, "live/main/index.m3u8"),
        case("iat in the future", &from_the_future, "x/index.m3u8"),
        case("lifetime above the maximum", &for_a_year, "live/main/index.m3u8"),
        case("no iat", &without_iat, "live/main/index.m3u8"),
    ];
    cases.push(Case { ip: "198.51.100.1", ..case("ip bound, other viewer", &bound, "live/main/index.m3u8") });
    cases.push(Case { ip: "2001:0db8:0:0::0001", ..case("ipv6 bound", &bound_v6, "live/main/index.m3u8") });
    cases.push(Case { ip: "2001:db8::2", ..case("ipv6 bound, other viewer", &bound_v6, "live/main/index.m3u8") });
    cases.push(Case {
        name: "no token, forged headers",
        uri: "/live/main/index.m3u8".into(),
        ip: VIEWER,
        headers: vec![("x-playback-verified", "1"), ("x-playback-token", "anything"), ("accept", "*/*")],
    });
    let results = edge_function::run(&store, &cases);
    assert_eq!(results.len(), cases.len());

    let verifier = TokenVerifier::with_keys([&current, &previous]);
    for case in &cases {
        let result = &results[case.name];
        let status = result["status"].as_u64();
        let allowed = status.is_none();
        if let Some((token, path)) = case.uri.strip_prefix("/t/").and_then(|rest| rest.split_once('/')) {
            // Node and Rust agree, except on paths the edge refuses outright.
            let plain = path.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._~/-".contains(&byte));
            let ip: IpAddr = case.ip.parse().unwrap();
            if plain {
                assert_eq!(
                    verifier.verify(token, path, ip).is_ok(),
                    allowed,
                    "{}: Rust and the edge disagree",
                    case.name
                );
            }
            if allowed {
                assert_eq!(result["uri"], format!("/{path}"), "{}", case.name);
                assert_eq!(result["headers"]["x-playback-token"], token, "{}", case.name);
                assert_eq!(result["headers"]["x-playback-verified"], "1", "{}", case.name);
            }
        }
    }

    let expect_allowed = [
        "valid playlist",
        "valid part",
        "previous key during rotation",
        "scope without slash",
        "ip bound",
        "ip bound, mapped claim",
        "ipv6 bound",
        "hand-built token, real secret",
        "nbf in the past",
    ];
    let expect_401 = ["expired", "missing token"];
    for case in &cases {
        let status = results[case.name]["status"].as_u64();
        let expected = if expect_allowed.contains(&case.name) || case.name == "no token, forged headers" {
            None
        } else if expect_401.contains(&case.name) {
            Some(401)
        } else {
            Some(403)
        };
        assert_eq!(status, expected, "{}", case.name);
    }

    let passed_through = &results["no token, forged headers"];
    assert_eq!(passed_through["uri"], "/live/main/index.m3u8");
    assert_eq!(passed_through["headers"], json!({ "accept": "*/*" }), "viewer-set trust headers are removed");
}
