//! `KubeLeaseStore` against a Lease API served over HTTP by `kube_api`.
//!
//! That server is a stand-in for the Kubernetes API server: none can run on
//! the machines these tests run on (no container runtime, no kind, no
//! kube-apiserver or etcd binaries). It implements only the Lease calls the
//! store makes, with the API server's rules for them (resourceVersion
//! checks, AlreadyExists, Conflict, NotFound, Forbidden and Status bodies),
//! and the real `kube` client talks to it over HTTP.

mod kube_api;

use std::time::Duration;

use cluster::{lease_object_name, ClusterError, KubeLeaseStore, LeaseStore};
use kube_api::{FakeApiServer, FORBIDDEN_NAMESPACE};
use serde_json::Value;

const NAMESPACE: &str = "video";

/// The pods' shared wall clock: it moves only when a test says so.
fn clock() -> clock::Clock {
    clock::Clock::manual(1_780_000_000_000)
}

fn store(server: &FakeApiServer, namespace: &str, holder: &str) -> KubeLeaseStore {
    store_on(server, namespace, holder, clock())
}

fn store_on(server: &FakeApiServer, namespace: &str, holder: &str, clock: clock::Clock) -> KubeLeaseStore {
    let config = kube::Config::new(server.url.parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    KubeLeaseStore::new(client, namespace, holder, clock)
}

fn stored_lease(server: &FakeApiServer, lease: &str) -> Value {
    server.object(NAMESPACE, &lease_object_name(lease)).expect("the Lease object exists")
}

fn holder(lease: &Value) -> Option<&str> {
    lease["spec"]["holderIdentity"].as_str()
}

#[tokio::test]
async fn the_holder_keeps_its_lease_while_it_renews_and_loses_it_after() {
    let server = FakeApiServer::start().await;
    let clock = clock();
    let a = store_on(&server, NAMESPACE, "pod-a", clock.clone());
    let b = store_on(&server, NAMESPACE, "pod-b", clock.clone());
    let duration = Duration::from_secs(2);

    assert!(a.acquire("camera:lobby", duration).await.unwrap());
    let taken = stored_lease(&server, "camera:lobby");
    assert_eq!(taken["metadata"]["name"], "relay-camera-lobby");
    assert_eq!(taken["metadata"]["annotations"]["relay/lease-name"], "camera:lobby");
    assert_eq!(holder(&taken), Some("pod-a"));
    assert_eq!(taken["spec"]["leaseDurationSeconds"], 2);
    assert_eq!(taken["spec"]["leaseTransitions"], 0);
    assert!(!b.acquire("camera:lobby", duration).await.unwrap());

    // Renewing moves renewTime on, keeps acquireTime, and keeps b out past
    // the first renewal's expiry.
    clock.advance(Duration::from_millis(1200));
    assert!(a.acquire("camera:lobby", duration).await.unwrap());
    let renewed = stored_lease(&server, "camera:lobby");
    assert_eq!(renewed["spec"]["acquireTime"], taken["spec"]["acquireTime"]);
    assert_ne!(renewed["spec"]["renewTime"], taken["spec"]["renewTime"]);
    assert_ne!(renewed["metadata"]["resourceVersion"], taken["metadata"]["resourceVersion"]);
    clock.advance(Duration::from_millis(1200));
    assert!(!b.acquire("camera:lobby", duration).await.unwrap());
    assert_eq!(a.current_holder("camera:lobby").await.unwrap().as_deref(), Some("pod-a"));

    // a stops renewing: once the duration since its renewal has passed, b
    // takes over.
    clock.advance(Duration::from_millis(799));
    assert_eq!(a.current_holder("camera:lobby").await.unwrap().as_deref(), Some("pod-a"), "not before the duration");
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.current_holder("camera:lobby").await.unwrap(), None);
    assert!(b.acquire("camera:lobby", duration).await.unwrap());
    let moved = stored_lease(&server, "camera:lobby");
    assert_eq!(holder(&moved), Some("pod-b"));
    assert_eq!(moved["spec"]["leaseTransitions"], 1);
    assert_ne!(moved["spec"]["acquireTime"], taken["spec"]["acquireTime"]);
    assert!(!a.acquire("camera:lobby", duration).await.unwrap());
    assert_eq!(server.conflicts(), 0);
}

#[tokio::test]
async fn pods_racing_for_a_free_lease_get_one_holder() {
    let server = FakeApiServer::start().await;
    let a = store(&server, NAMESPACE, "pod-a");
    let b = store(&server, NAMESPACE, "pod-b");
    let duration = Duration::from_secs(30);

    // Both find no object, both create it: one create lands.
    server.hold_next_reads(2);
    let (took_a, took_b) = tokio::join!(a.acquire("camera:gate", duration), b.acquire("camera:gate", duration));
    assert!(took_a.unwrap() ^ took_b.unwrap());
    assert_eq!(server.already_exists(), 1);
    let first = holder(&stored_lease(&server, "camera:gate")).unwrap().to_owned();
    let first_holder = if first == "pod-a" { &a } else { &b };
    first_holder.release("camera:gate").await.unwrap();

    // Both read the released object at one resourceVersion and write it
    // back: the second write is a Conflict and its pod does not hold it.
    server.hold_next_reads(2);
    let (took_a, took_b) = tokio::join!(a.acquire("camera:gate", duration), b.acquire("camera:gate", duration));
    let (took_a, took_b) = (took_a.unwrap(), took_b.unwrap());
    assert!(took_a ^ took_b, "a: {took_a}, b: {took_b}");
    assert_eq!(server.conflicts(), 1);
    let lease = stored_lease(&server, "camera:gate");
    assert_eq!(holder(&lease), Some(if took_a { "pod-a" } else { "pod-b" }));
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    // The loser stays out while the winner holds it.
    let (winner, loser) = if took_a { (&a, &b) } else { (&b, &a) };
    assert!(winner.acquire("camera:gate", duration).await.unwrap());
    assert!(!loser.acquire("camera:gate", duration).await.unwrap());
}

#[tokio::test]
async fn release_frees_the_lease_at_once_and_only_for_its_holder() {
    let server = FakeApiServer::start().await;
    let a = store(&server, NAMESPACE, "pod-a");
    let b = store(&server, NAMESPACE, "pod-b");
    let duration = Duration::from_secs(30);

    // Releasing a lease nobody ever took is a no-op.
    a.release("camera:yard").await.unwrap();
    assert!(server.object(NAMESPACE, &lease_object_name("camera:yard")).is_none());

    assert!(a.acquire("camera:yard", duration).await.unwrap());
    let before = stored_lease(&server, "camera:yard");
    b.release("camera:yard").await.unwrap();
    assert_eq!(stored_lease(&server, "camera:yard"), before, "a non-holder's release wrote the object");
    assert!(!b.acquire("camera:yard", duration).await.unwrap());

    a.release("camera:yard").await.unwrap();
    assert_eq!(holder(&stored_lease(&server, "camera:yard")), None);
    assert!(b.acquire("camera:yard", duration).await.unwrap());
    let taken = stored_lease(&server, "camera:yard");
    assert_eq!(holder(&taken), Some("pod-b"));
    assert_eq!(taken["spec"]["leaseTransitions"], 1);
    assert!(!a.acquire("camera:yard", duration).await.unwrap());
}

#[tokio::test]
async fn leases_of_different_names_are_independent_objects() {
    let server = FakeApiServer::start().await;
    let a = store(&server, NAMESPACE, "pod-a");
    let b = store(&server, NAMESPACE, "pod-b");
    let duration = Duration::from_secs(30);
    // Stream names may hold '_', which object names may not.
    assert!(a.acquire("camera:front_door", duration).await.unwrap());
    assert!(b.acquire("camera:front-door", duration).await.unwrap());
    assert_eq!(holder(&stored_lease(&server, "camera:front_door")), Some("pod-a"));
    assert_eq!(holder(&stored_lease(&server, "camera:front-door")), Some("pod-b"));
    // The same lease name in another namespace is another object.
    let elsewhere = store(&server, "other", "pod-b");
    assert!(elsewhere.acquire("camera:front_door", duration).await.unwrap());
}

#[tokio::test]
async fn api_refusals_are_errors_not_lost_leases() {
    let server = FakeApiServer::start().await;
    let denied = store(&server, FORBIDDEN_NAMESPACE, "pod-a");
    let error = denied.acquire("camera:lobby", Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(&error, ClusterError::Kubernetes(message) if message.contains("forbidden")), "{error}");
    assert!(denied.release("camera:lobby").await.is_err());
}

fn is_dns_subdomain(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[test]
fn clean_camera_names_read_as_they_are() {
    assert_eq!(lease_object_name("camera:lobby"), "relay-camera-lobby");
    assert_eq!(lease_object_name("camera:door-2"), "relay-camera-door-2");
}

#[test]
fn replaced_characters_get_a_hash_so_object_names_stay_distinct() {
    let underscore = lease_object_name("camera:front_door");
    assert!(underscore.starts_with("relay-camera-front-door-"), "{underscore}");
    assert_eq!(underscore.len(), "relay-camera-front-door-".len() + 8);
    let pairs = [
        ("camera:front_door", "camera:front-door"),
        ("camera:Lobby", "camera:lobby"),
        // Only the first ':' separates the kind; a '-' in the kind, or no kind, is hashed.
        ("a-b:c", "a:b-c"),
        ("a-b", "a:b"),
        ("camera:a:b", "camera:a-b"),
    ];
    for (one, other) in pairs {
        assert_ne!(lease_object_name(one), lease_object_name(other), "{one} and {other}");
    }
    for name in
        ["camera:front_door", "camera:Lobby", "a-b:c", "a-b", "camera:a:b", "camera:", "camera:x-", ":", "", "ç:é"]
    {
        let object = lease_object_name(name);
        assert!(is_dns_subdomain(&object), "{name} -> {object}");
    }
}

#[test]
fn long_names_are_cut_and_hashed() {
    let long = format!("camera:{}", "x".repeat(400));
    let object = lease_object_name(&long);
    assert_eq!(object.len(), 253);
    assert!(is_dns_subdomain(&object));
    assert_ne!(object, lease_object_name(&format!("{long}y")));
    let fits = format!("camera:{}", "x".repeat(253 - "relay-camera-".len()));
    assert_eq!(lease_object_name(&fits), format!("relay-{}", fits.replacen(':', "-", 1)));
}
