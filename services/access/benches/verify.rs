//! Cost of one token verification on the origin's hot path (target: <= 5 µs).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use access::{AccessControl, AccessPolicy, AccessRequest, PlaybackClaims, SigningKey, TokenSigner, TokenVerifier};
use criterion::{criterion_group, criterion_main, Criterion};

fn verification(c: &mut Criterion) {
    let current = SigningKey::generate("2026-09").unwrap();
    let previous = SigningKey::generate("2026-08").unwrap();
    let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    let claims = PlaybackClaims::new("live/main/", Duration::from_secs(3600)).bound_to(client);
    let token = TokenSigner::new(&current).issue(&claims).unwrap();
    let verifier = TokenVerifier::with_keys([&current, &previous]);
    let path = "live/main/seg1234.3.m4s";

    c.bench_function("verify_token", |b| {
        b.iter(|| verifier.verify(black_box(&token), black_box(path), black_box(client)).unwrap())
    });

    let control = AccessControl::public();
    control.add_key(&current);
    control.set_policy("main", AccessPolicy::Token);
    let request = AccessRequest { stream: "main", path, client, token: Some(&token) };
    c.bench_function("access_check_token_policy", |b| b.iter(|| control.check(black_box(&request)).unwrap()));

    let public = AccessRequest { stream: "other", token: None, ..request };
    c.bench_function("access_check_public", |b| b.iter(|| control.check(black_box(&public)).unwrap()));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = verification
}
criterion_main!(benches);
