//! Attacks on logins, sessions, tokens and what the server logs, against
//! the real `relay all` on loopback. Each test names the attack and the
//! outcome expected (docs/security.md). Different client
//! addresses are 127.0.0.x source addresses: loopback routes all of 127/8.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use access::{PlaybackClaims, SigningKey, TokenSigner};
use common::{http, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_secs(20);
/// Unoptimised argon2 takes about 2 s a hash here, and four share two cores.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(120);
const WRONG: &str = "not the password at all";

fn json(response: &http::Response) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", response.text()))
}

/// One HTTP/1.1 request from the client address 127.0.0.`from`: the
/// status and the Retry-After header.
async fn request_from(
    base: &str,
    from: u8,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, Option<u64>), String> {
    let (authority, _) = http::split_url(base)?;
    let target: SocketAddr = authority.parse().map_err(|_| format!("bad address {authority}"))?;
    let socket = tokio::net::TcpSocket::new_v4().map_err(|error| error.to_string())?;
    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, from)), 0)).map_err(|error| error.to_string())?;
    let exchange = async {
        let mut stream = socket.connect(target).await.map_err(|error| error.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.map_err(|error| error.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(|error| error.to_string())?;
        let text = String::from_utf8_lossy(&raw);
        let status =
            text.split_whitespace().nth(1).and_then(|code| code.parse::<u16>().ok()).ok_or("no status line")?;
        let retry_after = text
            .lines()
            .take_while(|line| !line.is_empty())
            .find_map(|line| line.strip_prefix("retry-after: ").or_else(|| line.strip_prefix("Retry-After: ")))
            .and_then(|value| value.trim().parse().ok());
        Ok::<_, String>((status, retry_after))
    };
    tokio::time::timeout(LOGIN_TIMEOUT, exchange).await.map_err(|_| "timed out".to_owned())?
}

async fn login_from(base: &str, from: u8, username: &str, password: &str) -> (u16, Option<u64>) {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    request_from(base, from, "POST", "/api/v1/auth/login", &body).await.unwrap()
}

/// Logins all sent at once, from `127.0.0.<from>` as `username`; their answers.
async fn logins_at_once(base: &str, attempts: Vec<(u8, String)>, password: &str) -> Vec<(u16, Option<u64>)> {
    let mut running = tokio::task::JoinSet::new();
    for (from, username) in attempts {
        let (base, password) = (base.to_owned(), password.to_owned());
        running.spawn(async move { login_from(&base, from, &username, &password).await });
    }
    running.join_all().await
}

/// Resident and peak resident memory of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn password_guessing_is_counted_before_hashing_and_the_owner_still_gets_in() {
    let _turn = common::exclusive();
    // Unoptimised argon2 is slow: a long wait for a hashing turn keeps the first guesses from a 503.
    let server = Server::start_with_env(&[("RELAY_AUTH_PASSWORD_HASH_WAIT_MS", "20000".to_owned())]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(guess_then_flood(&server));
}

async fn guess_then_flood(server: &Server) {
    let password = server.admin_password.clone().expect("the first start prints the admin login");
    let (rss_before, _) = memory_kib(server.pid());
    let base = server.http_base.clone();

    // 100 wrong passwords for one account from one address, all at once:
    // only login_max_failures (5) are checked, the rest are told to wait.
    let answers = logins_at_once(&base, (0..100).map(|_| (1, "admin".to_owned())).collect(), WRONG).await;
    let checked = answers.iter().filter(|(status, _)| *status == 401).count();
    let throttled: Vec<_> = answers.iter().filter(|(status, _)| *status == 429).collect();
    assert_eq!((checked, throttled.len()), (5, 95), "{answers:?}");
    assert!(throttled.iter().all(|(_, retry)| retry.is_some_and(|secs| (1..=300).contains(&secs))), "{answers:?}");

    // The guessing address is locked out of the account, even with the right password...
    assert_eq!(login_from(&base, 1, "admin", &password).await.0, 429);
    // ...the owner elsewhere is not.
    assert_eq!(login_from(&base, 2, "admin", &password).await.0, 200);

    // Guesses spread over addresses slow the account down: beyond five
    // failures each makes the next attempt wait (1 s, 2 s, 4 s ...).
    let mut failures = 0;
    let mut slowed = None;
    for from in 10..=40 {
        match login_from(&base, from, "admin", WRONG).await {
            (401, _) => failures += 1,
            (429, retry_after) => {
                slowed = retry_after;
                break;
            }
            other => panic!("guess from 127.0.0.{from}: {other:?}"),
        }
    }
    assert!(failures >= 6, "five failures are free, the sixth starts the slowdown: {failures}");
    assert!(slowed.is_some_and(|secs| (1..=60).contains(&secs)), "a slowed account answers 429 with Retry-After");
    // The owner, from a fresh address, waits out the delay and is let in.
    let (mut status, retry_after) = login_from(&base, 50, "admin", &password).await;
    if status == 429 {
        let wait = retry_after.expect("a Retry-After with the 429");
        assert!(wait <= 60, "the slowdown is capped at login_max_delay_secs: {wait}");
        tokio::time::sleep(Duration::from_secs(wait)).await;
        status = login_from(&base, 50, "admin", &password).await.0;
    }
    assert_eq!(status, 200, "the right password gets through after the delay");

    // 100 logins to 100 made-up accounts from 100 addresses, all at once:
    // each is a hash, but only password_hashes_at_once (4) run at a time,
    // 32 may wait for a turn, the rest are told to come back (503, Retry-After).
    let attempts = (0..100u8).map(|index| (100 + index, format!("nobody{index}"))).collect();
    let answers = logins_at_once(&base, attempts, WRONG).await;
    let busy: Vec<_> = answers.iter().filter(|(status, _)| *status == 503).collect();
    assert!(answers.iter().all(|(status, _)| matches!(status, 401 | 503)), "{answers:?}");
    assert!(!busy.is_empty(), "4 hashes at once and 32 waiting cannot take 100 at once: {answers:?}");
    assert!(busy.iter().all(|(_, retry)| retry.is_some()), "{answers:?}");

    let (_, peak) = memory_kib(server.pid());
    let growth_mib = peak.saturating_sub(rss_before) / 1024;
    // Unbounded, 100 concurrent argon2 runs take 19 MiB each (1.9 GiB); four reused buffers take 76 MiB.
    eprintln!("login floods: peak RSS {growth_mib} MiB above the {} MiB at the start", rss_before / 1024);
    assert!(growth_mib < 120, "peak RSS grew by {growth_mib} MiB during the login floods");
}

#[test]
fn cookie_state_changes_need_the_consoles_origin_and_a_password_change_the_password() {
    let _turn = common::exclusive();
    let server = Server::start();
    let cookie = common::admin_cookie(&server);
    let streams =
        json(&http::send("GET", &server.url("/api/v1/streams"), &[("Cookie", &cookie)], None, TIMEOUT).unwrap());
    let id = streams[0]["id"].as_str().expect("the default stream").to_owned();
    let rotate = server.url(&format!("/api/v1/streams/{id}/rotate-key"));

    // Another site's page posting with the victim's cookie.
    for foreign in [
        vec![("Cookie", cookie.as_str()), ("Origin", "http://evil.example")],
        vec![("Cookie", cookie.as_str()), ("Sec-Fetch-Site", "cross-site")],
        vec![("Cookie", cookie.as_str()), ("Sec-Fetch-Site", "same-site"), ("Origin", "http://sub.relay.example")],
        vec![("Cookie", cookie.as_str()), ("Origin", "null")],
    ] {
        let refused = http::send("POST", &rotate, &foreign, None, TIMEOUT).unwrap();
        assert_eq!(refused.status, 403, "{foreign:?}: {}", refused.text());
    }
    let signing = http::send(
        "POST",
        &server.url("/api/v1/signing-keys/rotate"),
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        None,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(signing.status, 403, "{}", signing.text());
    // The console's own requests (same origin) go through.
    let (authority, _) = http::split_url(&server.http_base).unwrap();
    let own_origin = format!("http://{authority}");
    let same = http::send("POST", &rotate, &[("Cookie", &cookie), ("Origin", &own_origin)], None, TIMEOUT).unwrap();
    assert_eq!(same.status, 200, "{}", same.text());
    let fetched = http::send("POST", &rotate, &[("Cookie", &cookie), ("Sec-Fetch-Site", "same-origin")], None, TIMEOUT);
    assert_eq!(fetched.unwrap().status, 200);
    // Reading with a foreign Origin changes nothing and stays allowed (CORS keeps the answer from the page).
    let read = http::send(
        "GET",
        &server.url("/api/v1/auth/me"),
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        None,
        TIMEOUT,
    );
    assert_eq!(read.unwrap().status, 200);
    // A login form posted from another site is refused too.
    let password = server.admin_password.clone().unwrap();
    let login_body = serde_json::json!({"username": "admin", "password": password}).to_string();
    let login_csrf = http::send(
        "POST",
        &server.url("/api/v1/auth/login"),
        &[("Origin", "http://evil.example")],
        Some(&login_body),
        TIMEOUT,
    );
    assert_eq!(login_csrf.unwrap().status, 403);

    // Behind a TLS-terminating proxy the cookie is Secure.
    let proxied = http::send(
        "POST",
        &server.url("/api/v1/auth/login"),
        &[("X-Forwarded-Proto", "https")],
        Some(&login_body),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(proxied.status, 200);
    assert!(proxied.header("set-cookie").is_some_and(|cookie| cookie.ends_with("; Secure")), "{:?}", proxied.headers);
    let plain = http::send("POST", &server.url("/api/v1/auth/login"), &[], Some(&login_body), TIMEOUT).unwrap();
    assert!(plain.header("set-cookie").is_some_and(|cookie| !cookie.contains("Secure")), "plain HTTP: no Secure");

    // Changing your own password needs the current one, even with a valid session.
    let me = json(&http::send("GET", &server.url("/api/v1/auth/me"), &[("Cookie", &cookie)], None, TIMEOUT).unwrap());
    let own = server.url(&format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap()));
    let auth = [("Cookie", cookie.as_str())];
    let without = http::send("PATCH", &own, &auth, Some(r#"{"password": "a brand new password"}"#), TIMEOUT).unwrap();
    assert_eq!(without.status, 422, "{}", without.text());
    assert_eq!(json(&without)["fields"][0]["field"], "current_password");
    let wrong = r#"{"password": "a brand new password", "current_password": "not the password at all"}"#;
    assert_eq!(http::send("PATCH", &own, &auth, Some(wrong), TIMEOUT).unwrap().status, 422);
    let right = serde_json::json!({"password": "a brand new password", "current_password": password}).to_string();
    let changed = http::send("PATCH", &own, &auth, Some(&right), TIMEOUT).unwrap();
    assert_eq!(changed.status, 200, "{}", changed.text());

    // The database holds stream keys and secrets: only the server's user may read it.
    use std::os::unix::fs::PermissionsExt;
    for file in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let mode = std::fs::metadata(server.data_dir().join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

#[test]
fn tokens_outside_their_time_rules_are_refused_and_never_logged() {
    let _turn = common::exclusive();
    // Request spans and their events at debug, and the access log: every request's URI reaches the log.
    let server = Server::start_with_env(&[
        ("RUST_LOG", "info,tower_http=debug,origin=debug".to_owned()),
        ("RELAY_HTTP_ACCESS_LOG", "true".to_owned()),
    ]);
    let cookie = common::admin_cookie(&server);
    let auth = [("Cookie", cookie.as_str())];
    let streams = json(&http::send("GET", &server.url("/api/v1/streams"), &auth, None, TIMEOUT).unwrap());
    let stream = &streams[0];
    let (id, name) = (stream["id"].as_str().unwrap().to_owned(), stream["name"].as_str().unwrap().to_owned());
    let policy_url = server.url(&format!("/api/v1/streams/{id}/policy"));
    assert_eq!(http::send("PUT", &policy_url, &auth, Some(r#"{"kind": "token"}"#), TIMEOUT).unwrap().status, 200);

    // The API refuses to issue a token above the longest lifetime.
    let tokens_url = server.url(&format!("/api/v1/streams/{id}/tokens"));
    let too_long = http::send("POST", &tokens_url, &auth, Some(r#"{"expires_in_secs": 86401}"#), TIMEOUT).unwrap();
    assert_eq!(too_long.status, 422, "{}", too_long.text());
    let issued = http::send("POST", &tokens_url, &auth, Some(r#"{"expires_in_secs": 600}"#), TIMEOUT).unwrap();
    assert_eq!(issued.status, 201, "{}", issued.text());
    let issued = json(&issued);
    let token = issued["token"].as_str().unwrap().to_owned();

    // Tokens made with the real signing key, but outside the rules.
    let rotated = json(&http::send("POST", &server.url("/api/v1/signing-keys/rotate"), &auth, None, TIMEOUT).unwrap());
    let key = SigningKey::new(rotated["kid"].as_str().unwrap(), rotated["secret"].as_str().unwrap()).unwrap();
    let signer = TokenSigner::new(&key);
    let scope = format!("live/{name}/");
    let hour = Duration::from_secs(3600);
    // Bound to the stream's id, as the API's tokens are: the origin refuses tokens without it.
    let base = PlaybackClaims::new(scope.clone(), hour).for_stream(id.clone());
    let valid = signer.issue(&base).unwrap();
    let not_yet = signer.issue(&PlaybackClaims { nbf: Some(base.iat + 600), ..base.clone() }).unwrap();
    let future_iat =
        signer.issue(&PlaybackClaims { iat: base.iat + 600, exp: base.exp + 600, ..base.clone() }).unwrap();
    let year =
        signer.issue(&PlaybackClaims::new(scope, Duration::from_secs(365 * 24 * 3600)).for_stream(id.clone())).unwrap();
    let play =
        |token: &str| http::get(&server.url(&format!("/t/{token}/live/{name}/index.m3u8")), TIMEOUT).unwrap().status;
    // A valid token passes the gate (the stream is not live: 404).
    assert_eq!(play(&valid), 404);
    assert_eq!(play(&token), 404);
    for (what, refused) in
        [("nbf in the future", &not_yet), ("iat in the future", &future_iat), ("a year's lifetime", &year)]
    {
        assert_eq!(play(refused), 403, "{what}");
    }

    // A 60 KB stream name: a quiet 404, and the log keeps no 60 KB line.
    let huge = "a".repeat(60_000);
    let answer = http::get(&server.url(&format!("/live/{huge}/seg1.m4s")), TIMEOUT).unwrap();
    assert_eq!(answer.status, 404, "{}", answer.text());
    // Tokens in the path and in the query string.
    let in_query = http::get(&server.url(&format!("/live/{name}/index.m3u8?token={token}")), TIMEOUT).unwrap();
    assert_eq!(in_query.status, 401, "no token in the path: refused");
    assert_eq!(play(&token), 404);
    std::thread::sleep(Duration::from_millis(500));

    let log = server.stderr_tail();
    assert!(log.contains("/t/-/live/"), "request spans reach the log (else this test proves nothing):\n{log}");
    assert!(log.contains("index.m3u8?-"), "the query-string request was logged:\n{log}");
    let refused = format!(
        "access: client=\"127.0.0.1\" method=GET route=\"media\" path=\"/t/-/live/{name}/index.m3u8\" status=403"
    );
    assert!(log.contains(&refused), "the access log has the refused request, without its token:\n{log}");
    for secret in [&token, &valid, &not_yet, &year] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token reached the log:\n{log}");
    }
    assert!(!log.contains(&huge[..1000]), "the 60 KB name reached the log");
    assert!(!log.contains("ERROR"), "nothing here is an error:\n{log}");
}
