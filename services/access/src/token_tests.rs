use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::*;

const NOW: u64 = 1_800_000_000;
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn key(kid: &str) -> SigningKey {
    SigningKey::new(kid, format!("{kid}-secret-0123456789abcdefghijklmnop")).unwrap()
}

fn claims(scope: &str) -> PlaybackClaims {
    PlaybackClaims { sub: scope.into(), exp: NOW + 60, iat: NOW, nbf: None, ip: None, sid: None, ses: false }
}

fn verifier(keys: &[&SigningKey]) -> TokenVerifier {
    TokenVerifier::with_keys(keys.iter().copied())
}

fn encode_part(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn valid_token_round_trips() {
    let key = key("k1");
    let token = TokenSigner::new(&key).issue(&claims("live/main/")).unwrap();
    let verified = verifier(&[&key]).verify_at(&token, "live/main/index.m3u8", HOME, NOW).unwrap();
    assert_eq!(verified, claims("live/main/"));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!((header.alg, header.kid.as_deref(), header.typ), (Algorithm::HS256, Some("k1"), None));
}

#[test]
fn expiry_allows_only_the_leeway() {
    let key = key("k1");
    let token = TokenSigner::new(&key).issue(&claims("live/main")).unwrap();
    let verifier = verifier(&[&key]);
    let path = "live/main/media.m3u8";
    assert!(verifier.verify_at(&token, path, HOME, NOW + 60 + 5).is_ok());
    assert_eq!(verifier.verify_at(&token, path, HOME, NOW + 60 + 6), Err(TokenError::Expired));
}

#[test]
fn not_before_and_issue_time_allow_only_the_leeway() {
    let key = key("k1");
    let signer = TokenSigner::new(&key);
    let verifier = verifier(&[&key]);
    let path = "live/main/media.m3u8";
    let later = PlaybackClaims { nbf: Some(NOW + 30), ..claims("live/main/") };
    let token = signer.issue(&later).unwrap();
    assert_eq!(verifier.verify_at(&token, path, HOME, NOW), Err(TokenError::NotYetValid));
    assert_eq!(verifier.verify_at(&token, path, HOME, NOW + 24), Err(TokenError::NotYetValid));
    assert!(verifier.verify_at(&token, path, HOME, NOW + 25).is_ok(), "five seconds of leeway");
    let from_the_future = PlaybackClaims { iat: NOW + 10, exp: NOW + 70, ..claims("live/main/") };
    let token = signer.issue(&from_the_future).unwrap();
    assert_eq!(verifier.verify_at(&token, path, HOME, NOW), Err(TokenError::IssuedInFuture));
    assert!(verifier.verify_at(&token, path, HOME, NOW + 5).is_ok());
}

#[test]
fn lifetimes_beyond_the_maximum_are_refused() {
    let key = key("k1");
    let signer = TokenSigner::new(&key);
    let mut verifier = verifier(&[&key]);
    let path = "live/main/media.m3u8";
    let day = PlaybackClaims { exp: NOW + 24 * 3600, ..claims("live/main/") };
    let year = PlaybackClaims { exp: NOW + 365 * 24 * 3600, ..claims("live/main/") };
    let (day, year) = (signer.issue(&day).unwrap(), signer.issue(&year).unwrap());
    assert!(verifier.verify_at(&day, path, HOME, NOW).is_ok(), "the default maximum is a day");
    assert_eq!(verifier.verify_at(&year, path, HOME, NOW), Err(TokenError::LifetimeTooLong));
    verifier.set_max_lifetime(Duration::from_secs(3600));
    assert_eq!(verifier.verify_at(&day, path, HOME, NOW), Err(TokenError::LifetimeTooLong));
    let mut reloaded = TokenVerifier::with_keys([&key]);
    reloaded.copy_rules_from(&verifier);
    assert_eq!(reloaded.max_lifetime(), Duration::from_secs(3600), "a reload keeps the rules");
    // Missing iat is not a way around the maximum.
    let payload = encode_part(&format!(r#"{{"sub":"live/","exp":{}}}"#, NOW + 60));
    let header = encode_part(r#"{"alg":"HS256","kid":"k1"}"#);
    let unsigned = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        unsigned.as_bytes(),
        &EncodingKey::from_secret(key.secret_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    let no_iat = format!("{unsigned}.{signature}");
    assert_eq!(verifier.verify_at(&no_iat, path, HOME, NOW), Err(TokenError::Malformed));
}

#[test]
fn scope_is_a_whole_segment_prefix() {
    assert!(scope_covers("live/main/", "live/main/seg1.m4s"));
    assert!(scope_covers("live/main", "/live/main/seg1.2.m4s"));
    assert!(scope_covers("/live/", "live/other/index.m3u8"));
    assert!(scope_covers("live/main", "live/main"));
    assert!(!scope_covers("live/main/", "live/main2/seg1.m4s"));
    assert!(!scope_covers("live/main", "live/mainx"));
    assert!(!scope_covers("live/main/", "live/other/seg1.m4s"));
    assert!(!scope_covers("", "live/main/seg1.m4s"));
    assert!(!scope_covers("/", "live/main/seg1.m4s"));
    assert!(!scope_covers("live/main/", "live/main/../other/index.m3u8"));
    assert!(!scope_covers("live/main/", "live/main//index.m3u8"));
    assert!(!scope_covers("live/main/", "live/main/./index.m3u8"));
}

#[test]
fn token_for_one_stream_fails_on_another() {
    let key = key("k1");
    let token = TokenSigner::new(&key).issue(&claims("live/a/")).unwrap();
    assert_eq!(verifier(&[&key]).verify_at(&token, "live/b/index.m3u8", HOME, NOW), Err(TokenError::WrongScope));
}

#[test]
fn signer_refuses_scopes_that_cover_too_much_or_nothing() {
    let signer = TokenSigner::new(&key("k1"));
    for scope in ["", "/", "live//main", "live/../x", "live/ma in/", "live/%2e%2e/"] {
        assert_eq!(signer.issue(&claims(scope)), Err(IssueError::BadScope), "{scope:?}");
    }
}

#[test]
fn ip_binding_must_match_the_client() {
    let key = key("k1");
    let bound = claims("live/main/").bound_to(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)));
    let token = TokenSigner::new(&key).issue(&bound).unwrap();
    let verifier = verifier(&[&key]);
    let path = "live/main/index.m3u8";
    assert_eq!(verifier.verify_at(&token, path, HOME, NOW), Err(TokenError::WrongIp));
    assert!(verifier.verify_at(&token, path, "10.9.9.9".parse().unwrap(), NOW).is_ok());
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 9, 9, 9).to_ipv6_mapped());
    assert!(verifier.verify_at(&token, path, mapped, NOW).is_ok(), "an IPv4-mapped peer is the same client");

    let v6 = claims("live/main/").bound_to(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    let token = TokenSigner::new(&key).issue(&v6).unwrap();
    assert!(verifier.verify_at(&token, path, "2001:db8::1".parse().unwrap(), NOW).is_ok());
    assert_eq!(verifier.verify_at(&token, path, "2001:db8::2".parse().unwrap(), NOW), Err(TokenError::WrongIp));
}

#[test]
fn rotation_keeps_the_previous_key_until_it_is_retired() {
    let (old, new) = (key("k1"), key("k2"));
    let old_token = TokenSigner::new(&old).issue(&claims("live/main/")).unwrap();
    let new_token = TokenSigner::new(&new).issue(&claims("live/main/")).unwrap();
    let mut verifier = verifier(&[&old, &new]);
    let path = "live/main/index.m3u8";
    assert!(verifier.verify_at(&old_token, path, HOME, NOW).is_ok());
    assert!(verifier.verify_at(&new_token, path, HOME, NOW).is_ok());
    assert!(verifier.retire_key("k1"));
    assert_eq!(verifier.key_ids(), ["k2"]);
    assert_eq!(verifier.verify_at(&old_token, path, HOME, NOW), Err(TokenError::UnknownKey));
    assert!(verifier.verify_at(&new_token, path, HOME, NOW).is_ok());
}

#[test]
fn wrong_secret_under_a_known_kid_is_a_bad_signature() {
    let real = key("k1");
    let forged = SigningKey::new("k1", "attacker-guess-0123456789abcdefghijklmnop").unwrap();
    let token = TokenSigner::new(&forged).issue(&claims("live/main/")).unwrap();
    let result = verifier(&[&real]).verify_at(&token, "live/main/index.m3u8", HOME, NOW);
    assert_eq!(result, Err(TokenError::BadSignature));
}

#[test]
fn tampered_claims_break_the_signature() {
    let key = key("k1");
    let token = TokenSigner::new(&key).issue(&claims("live/a/")).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let widened = encode_part(&format!(r#"{{"sub":"live/","exp":{},"iat":{NOW}}}"#, NOW + 60));
    parts[1] = &widened;
    let result = verifier(&[&key]).verify_at(&parts.join("."), "live/b/index.m3u8", HOME, NOW);
    assert_eq!(result, Err(TokenError::BadSignature));
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let key = key("k1");
    let verifier = verifier(&[&key]);
    let path = "live/main/index.m3u8";
    let payload = encode_part(&format!(r#"{{"sub":"live/","exp":{},"iat":{NOW}}}"#, NOW + 60));
    for alg in ["none", "None", "NONE", ""] {
        let header = encode_part(&format!(r#"{{"alg":"{alg}","kid":"k1"}}"#));
        for signature in ["", "AAAA"] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(verifier.verify_at(&token, path, HOME, NOW), Err(TokenError::Malformed), "{alg}");
        }
    }
    // The same secret under HS512 is still refused: the algorithm is pinned.
    let header = Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS512) };
    let hs512 = jsonwebtoken::encode(&header, &claims("live/"), &EncodingKey::from_secret(key.secret_bytes()));
    assert_eq!(verifier.verify_at(&hs512.unwrap(), path, HOME, NOW), Err(TokenError::Malformed));
}

#[test]
fn garbage_is_malformed_and_never_panics() {
    let key = key("k1");
    let verifier = verifier(&[&key]);
    let valid = TokenSigner::new(&key).issue(&claims("live/")).unwrap();
    let long = "a".repeat(5000);
    let no_kid = format!("{}.{}", encode_part(r#"{"alg":"HS256"}"#), valid.split_once('.').unwrap().1);
    let bad_kid = format!("{}.{}", encode_part(r#"{"alg":"HS256","kid":"../k1"}"#), valid.split_once('.').unwrap().1);
    for token in ["", ".", "..", "a.b.c", "a.b", "a.b.c.d", &long, &no_kid, &bad_kid, "é.é.é", "%00.x.y"] {
        assert_eq!(verifier.verify_at(token, "live/x/index.m3u8", HOME, NOW), Err(TokenError::Malformed), "{token}");
    }
    let unknown = TokenSigner::new(&self::key("k9")).issue(&claims("live/")).unwrap();
    assert_eq!(verifier.verify_at(&unknown, "live/x/index.m3u8", HOME, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn a_verifier_without_keys_refuses_everything() {
    let token = TokenSigner::new(&key("k1")).issue(&claims("live/")).unwrap();
    assert_eq!(TokenVerifier::new().verify_at(&token, "live/x/a.m4s", HOME, NOW), Err(TokenError::UnknownKey));
}
