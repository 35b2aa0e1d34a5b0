//! Access policies over HTTP: token attacks on a Token stream, key rotation,
//! IP allow-lists, public streams, and byte-identical playlists for every
//! token holder.

use std::sync::Arc;
use std::time::Duration;

use access::{AccessControl, AccessPolicy, PlaybackClaims, SigningKey, TokenSigner};
use bytes::Bytes;
use loadtest::http::{get, get_str, Response, Url};
use testkit::stack::{start_servers_with_access, Publisher, Servers, KEY, TIMEOUT};
use tokio::io::AsyncWriteExt;

const FIXTURE: &[u8] = include_bytes!("../../media/testdata/bframes.flv");
const SEGMENT: &[u8] = b"a stored segment";
const HOUR: Duration = Duration::from_secs(3600);
/// base64url of {"alg":"none","kid":"k1"}
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ";

fn key(kid: &str) -> SigningKey {
    SigningKey::new(kid, format!("{kid}-origin-test-secret-0123456789abcdef")).unwrap()
}

fn token(key: &SigningKey, claims: PlaybackClaims) -> String {
    TokenSigner::new(key).issue(&claims).unwrap()
}

/// Servers with `access`, and segment `msn` of `demo` and `other` in
/// storage, so a request the gate lets through is answered 200 without a
/// publisher. Each test uses its own `msn`: tests share the process's store
/// directory, and concurrent writes of one key race there.
async fn servers(access: &Arc<AccessControl>, msn: u64) -> (Servers, String) {
    let servers = start_servers_with_access(rtmp::default_limits(), access.clone()).await;
    for stream in ["demo", "other"] {
        servers.store.put(&live::segment_key(stream, msn), Bytes::from_static(SEGMENT)).await.unwrap();
    }
    (servers, format!("seg{msn}.m4s"))
}

async fn fetch(servers: &Servers, path: &str) -> Response {
    get_str(&format!("http://{}{path}", servers.http), TIMEOUT).await.unwrap()
}

async fn fetch_with(servers: &Servers, path: &str, headers: &[(&str, &str)]) -> Response {
    get(&Url::parse(&format!("http://{}{path}", servers.http)).unwrap(), headers, TIMEOUT).await.unwrap()
}

fn assert_refused(response: &Response, status: u16, reason: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.text(), reason);
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn token_attacks_are_refused() {
    let k1 = key("k1");
    let access = Arc::new(AccessControl::public());
    access.add_key(&k1);
    access.set_policy("demo", AccessPolicy::Token);
    access.set_policy("other", AccessPolicy::Token);
    let (servers, seg) = servers(&access, 9000001).await;
    let valid = token(&k1, PlaybackClaims::new("live/demo/", HOUR));

    let response = fetch(&servers, &format!("/t/{valid}/live/demo/{seg}")).await;
    assert_eq!((response.status, response.body.as_slice()), (200, SEGMENT));
    let response = fetch_with(&servers, &format!("/live/demo/{seg}"), &[("x-playback-token", &valid)]).await;
    assert_eq!(response.status, 200, "a token forwarded by the edge in a header is verified the same way");

    assert_refused(&fetch(&servers, &format!("/live/demo/{seg}")).await, 401, "token required");
    let mut stale = PlaybackClaims::new("live/demo/", HOUR);
    (stale.iat, stale.exp) = (stale.iat - 7200, stale.iat - 3600);
    let expired = token(&k1, stale);
    assert_refused(&fetch(&servers, &format!("/t/{expired}/live/demo/{seg}")).await, 401, "token expired");

    let payload = valid.split('.').nth(1).unwrap();
    for alg_none in [format!("{ALG_NONE_HEADER}.{payload}."), format!("{ALG_NONE_HEADER}.{payload}.AAAA")] {
        let response = fetch(&servers, &format!("/t/{alg_none}/live/demo/{seg}")).await;
        assert_refused(&response, 403, "forbidden");
    }
    let forged = SigningKey::new("k1", "attacker-guess-0123456789abcdefghijklmnop").unwrap();
    let wrong_key = token(&forged, PlaybackClaims::new("live/demo/", HOUR));
    assert_refused(&fetch(&servers, &format!("/t/{wrong_key}/live/demo/{seg}")).await, 403, "forbidden");
    let unknown_kid = token(&key("k9"), PlaybackClaims::new("live/demo/", HOUR));
    assert_refused(&fetch(&servers, &format!("/t/{unknown_kid}/live/demo/{seg}")).await, 403, "forbidden");
    assert_refused(&fetch(&servers, &format!("/t/not-a-token/live/demo/{seg}")).await, 403, "forbidden");

    assert_refused(&fetch(&servers, &format!("/t/{valid}/live/other/{seg}")).await, 403, "forbidden");
    let response = fetch_with(&servers, &format!("/live/other/{seg}"), &[("x-playback-token", &valid)]).await;
    assert_refused(&response, 403, "forbidden");
    let response = fetch(&servers, &format!("/t/{valid}/live/demo%2F..%2Fother/{seg}")).await;
    assert_eq!(response.status, 404, "an encoded slash never reaches the scope check");

    let elsewhere = token(&k1, PlaybackClaims::new("live/demo/", HOUR).bound_to("10.9.9.9".parse().unwrap()));
    assert_refused(&fetch(&servers, &format!("/t/{elsewhere}/live/demo/{seg}")).await, 403, "forbidden");
    let here = token(&k1, PlaybackClaims::new("live/demo/", HOUR).bound_to("127.0.0.1".parse().unwrap()));
    assert_eq!(fetch(&servers, &format!("/t/{here}/live/demo/{seg}")).await.status, 200);
    // X-Forwarded-For is ignored unless configured: the client cannot claim the bound address.
    let response =
        fetch_with(&servers, &format!("/t/{elsewhere}/live/demo/{seg}"), &[("x-forwarded-for", "10.9.9.9")]).await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_the_key_is_retired() {
    let (k1, k2) = (key("k1"), key("k2"));
    let access = Arc::new(AccessControl::public());
    access.add_key(&k1);
    access.set_policy("demo", AccessPolicy::Token);
    let (servers, seg) = servers(&access, 9000002).await;
    let old = token(&k1, PlaybackClaims::new("live/demo/", HOUR));
    assert_eq!(fetch(&servers, &format!("/t/{old}/live/demo/{seg}")).await.status, 200);

    access.add_key(&k2);
    let new = token(&k2, PlaybackClaims::new("live/demo/", HOUR));
    assert_eq!(fetch(&servers, &format!("/t/{old}/live/demo/{seg}")).await.status, 200);
    assert_eq!(fetch(&servers, &format!("/t/{new}/live/demo/{seg}")).await.status, 200);

    access.retire_key("k1");
    assert_refused(&fetch(&servers, &format!("/t/{old}/live/demo/{seg}")).await, 403, "forbidden");
    assert_eq!(fetch(&servers, &format!("/t/{new}/live/demo/{seg}")).await.status, 200);
}

#[tokio::test]
async fn ip_allow_lists_and_public_streams() {
    let access = Arc::new(AccessControl::public());
    let (servers, seg) = servers(&access, 9000003).await;

    let public = fetch(&servers, &format!("/live/demo/{seg}")).await;
    assert_eq!((public.status, public.body.as_slice()), (200, SEGMENT));
    assert!(public.header("cache-control").unwrap().starts_with("public"));
    assert_eq!(
        fetch(&servers, &format!("/t/anything/live/demo/{seg}")).await.status,
        200,
        "public streams ignore tokens"
    );

    access.set_policy("demo", AccessPolicy::IpAllowList(vec!["127.0.0.0/8".parse().unwrap()]));
    let allowed = fetch(&servers, &format!("/live/demo/{seg}")).await;
    assert_eq!((allowed.status, allowed.body.as_slice()), (200, SEGMENT));
    let cache = allowed.header("cache-control").unwrap();
    assert!(cache.starts_with("private") && cache.contains("immutable"), "shared caches must not keep it: {cache}");

    access.set_policy("demo", AccessPolicy::IpAllowList(vec!["192.0.2.0/24".parse().unwrap()]));
    assert_refused(&fetch(&servers, &format!("/live/demo/{seg}")).await, 403, "forbidden");
    let spoofed = fetch_with(&servers, &format!("/live/demo/{seg}"), &[("x-forwarded-for", "192.0.2.1")]).await;
    assert_eq!(spoofed.status, 403, "X-Forwarded-For is not trusted by default");

    // Behind trusted proxies the listener puts the client in ConnectInfo
    // (listener's HTTP tests and the server's attack_listeners test).
    assert_eq!(
        fetch(&servers, &format!("/live/other/{seg}")).await.status,
        200,
        "streams without a policy stay public"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_holder_gets_the_same_bytes() {
    let k1 = key("k1");
    let access = Arc::new(AccessControl::public());
    access.add_key(&k1);
    access.set_policy("demo", AccessPolicy::Token);
    let (servers, _) = servers(&access, 9000004).await;
    let first = token(&k1, PlaybackClaims::new("live/demo/", HOUR));
    let second = token(&k1, PlaybackClaims::new("live/", 2 * HOUR).bound_to("127.0.0.1".parse().unwrap()));
    assert_ne!(first, second);

    let (mut publisher, accepted) = Publisher::publish(servers.rtmp, KEY).await;
    assert!(accepted);
    let publishing = tokio::spawn(async move {
        publisher.replay(FIXTURE).await;
        let _ = publisher.socket.shutdown().await;
    });

    assert_refused(&fetch(&servers, "/live/demo/index.m3u8").await, 401, "token required");
    let multivariant = fetch(&servers, &format!("/t/{first}/live/demo/index.m3u8")).await;
    assert_eq!(multivariant.status, 200);
    let again = fetch(&servers, &format!("/t/{second}/live/demo/index.m3u8")).await;
    assert_eq!(again.status, 200);
    assert_eq!(multivariant.body, again.body, "playlists are the same for every viewer");
    assert!(!multivariant.text().contains(&first) && !multivariant.text().contains("/t/"), "URIs stay relative");

    let media = fetch(&servers, &format!("/t/{first}/live/demo/media.m3u8")).await;
    assert_eq!(media.status, 200);
    let playlist = media.text();
    assert!(!playlist.contains(&first), "{playlist}");
    let part = playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-PART:"))
        .and_then(|attributes| attributes.split("URI=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("a part in the media playlist");
    let by_first = fetch(&servers, &format!("/t/{first}/live/demo/{part}")).await;
    let by_second = fetch(&servers, &format!("/t/{second}/live/demo/{part}")).await;
    assert_eq!((by_first.status, by_second.status), (200, 200));
    assert!(!by_first.body.is_empty());
    assert_eq!(by_first.body, by_second.body);
    assert_refused(&fetch(&servers, &format!("/live/demo/{part}")).await, 401, "token required");
    publishing.abort();
}
