//! Named leases as Kubernetes `coordination.k8s.io/v1` Lease objects, taken
//! and renewed the way client-go's leader election does it: read the object,
//! decide, then write it back carrying the resourceVersion that was read. Of
//! two pods racing for one lease the API server lets one write land and
//! answers the other 409 Conflict, so no two pods ever both hold it.
//!
//! Expiry compares the holder's `renewTime` with this pod's clock, so pods
//! need synchronised clocks, as they do for the database leases.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

use crate::lease::{LeaseFuture, LeaseStore};
use crate::ClusterError;

/// Every Lease object this store writes is named `relay-…`.
const OBJECT_PREFIX: &str = "relay-";
/// Longest object name the API server takes (a DNS subdomain).
const MAX_OBJECT_NAME: usize = 253;
/// Hex digits of the hash suffix.
const HASH_DIGITS: usize = 8;
/// Annotation with the lease's own name, since the object name may be hashed.
const LEASE_NAME_ANNOTATION: &str = "relay/lease-name";

/// Leases as Lease objects in one namespace, held in the name of `holder`
/// (the pod name).
#[derive(Clone)]
pub struct KubeLeaseStore {
    api: Api<Lease>,
    holder: String,
    /// renewTime is stamped, and expiry judged, on this wall clock.
    clock: clock::Clock,
}

impl KubeLeaseStore {
    pub fn new(client: kube::Client, namespace: &str, holder: impl Into<String>, clock: clock::Clock) -> Self {
        Self { api: Api::namespaced(client, namespace), holder: holder.into(), clock }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.clock.unix_ms()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// A store with the credentials `kube` finds: the pod's service account
    /// inside a cluster, else KUBECONFIG or ~/.kube/config. The namespace is
    /// `namespace`, else the pod's own (or the kubeconfig context's).
    pub async fn connect(
        namespace: Option<&str>,
        holder: impl Into<String>,
        clock: clock::Clock,
    ) -> Result<Self, ClusterError> {
        let config = kube::Config::infer()
            .await
            .map_err(|error| ClusterError::Kubernetes(format!("no Kubernetes credentials: {error}")))?;
        let namespace = namespace.map(str::to_owned).unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config)?;
        Ok(Self::new(client, &namespace, holder, clock))
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Who holds lease `name` now, if anyone (expired leases hold nothing).
    pub async fn current_holder(&self, name: &str) -> Result<Option<String>, ClusterError> {
        let Some(lease) = self.api.get_opt(&lease_object_name(name)).await? else {
            return Ok(None);
        };
        let spec = lease.spec.unwrap_or_default();
        Ok(holder_of(&spec).filter(|_| !expired(&spec, self.now())).map(str::to_owned))
    }

    async fn try_acquire(&self, name: &str, duration: Duration) -> Result<bool, ClusterError> {
        let object_name = lease_object_name(name);
        let now = MicroTime(self.now());
        let seconds = lease_seconds(duration);
        let Some(mut lease) = self.api.get_opt(&object_name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(object_name),
                    annotations: Some([(LEASE_NAME_ANNOTATION.to_owned(), name.to_owned())].into()),
                    labels: Some([("app.kubernetes.io/managed-by".to_owned(), "relay".to_owned())].into()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.holder.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Another pod created it first.
                Err(kube::Error::Api(status)) if status.is_already_exists() || status.is_conflict() => Ok(false),
                Err(error) => Err(error.into()),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let ours = holder_of(spec) == Some(self.holder.as_str());
        if !ours && holder_of(spec).is_some() && !expired(spec, now.0) {
            return Ok(false);
        }
        if !ours {
            spec.holder_identity = Some(self.holder.clone());
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(seconds);
        // The resourceVersion read above rides along: a write in between makes this a 409.
        match self.api.replace(&object_name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_conflict() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    async fn give_up(&self, name: &str) -> Result<(), ClusterError> {
        let object_name = lease_object_name(name);
        // One retry: a 409 here means the object changed after the read,
        // so read it again to see whether it is still ours to give up.
        for _ in 0..2 {
            let Some(mut lease) = self.api.get_opt(&object_name).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if holder_of(spec) != Some(self.holder.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            match self.api.replace(&object_name, &PostParams::default(), &lease).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.is_conflict() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

impl LeaseStore for KubeLeaseStore {
    fn acquire<'a>(&'a self, name: &'a str, duration: Duration) -> LeaseFuture<'a, bool> {
        Box::pin(self.try_acquire(name, duration))
    }

    fn release<'a>(&'a self, name: &'a str) -> LeaseFuture<'a, ()> {
        Box::pin(self.give_up(name))
    }
}

impl From<kube::Error> for ClusterError {
    fn from(error: kube::Error) -> Self {
        ClusterError::Kubernetes(error.to_string())
    }
}

fn holder_of(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|holder| !holder.is_empty())
}

/// Whether the holder's last renewal is older than the lease duration.
fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    renewed.0.checked_add(duration).map_or(true, |until| until <= now)
}

/// Lease objects count whole seconds: round up, at least one.
fn lease_seconds(duration: Duration) -> i32 {
    let seconds = duration.as_millis().div_ceil(1000).max(1);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// The Lease object name for lease `name`: `relay-` and the name with its
/// first ':' (the kind separator) as '-', e.g. `camera:lobby` →
/// `relay-camera-lobby`. Object names allow only lowercase letters, digits
/// and '-'; when anything else had to be replaced, the name has no kind
/// separator, or it is too long, a hash of the whole name is appended so
/// that distinct leases never share an object.
pub fn lease_object_name(name: &str) -> String {
    let mut body = String::with_capacity(name.len());
    let mut replaced = false;
    let mut separated = false;
    for character in name.chars() {
        match character {
            'a'..='z' | '0'..='9' => body.push(character),
            // A '-' in the kind would make `a-b:c` and `a:b-c` alike.
            '-' => {
                replaced |= !separated;
                body.push('-');
            }
            ':' if !separated => {
                separated = true;
                body.push('-');
            }
            _ => {
                replaced = true;
                body.push('-');
            }
        }
    }
    let lossy = replaced || !separated;
    let too_long = OBJECT_PREFIX.len() + body.len() > MAX_OBJECT_NAME;
    if !lossy && !too_long && !body.ends_with('-') {
        return format!("{OBJECT_PREFIX}{body}");
    }
    body.truncate(MAX_OBJECT_NAME - OBJECT_PREFIX.len() - HASH_DIGITS - 1);
    format!("{OBJECT_PREFIX}{body}-{:0width$x}", short_hash(name), width = HASH_DIGITS)
}

/// FNV-1a folded to 32 bits: stable across builds and platforms, unlike
/// the standard library's hasher, so every pod names a lease alike.
fn short_hash(text: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((hash >> 32) ^ (hash & 0xffff_ffff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable() {
        // Pods built by different compilers must agree on object names.
        // Published FNV-1a 64 vectors: "" is cbf29ce484222325, "a" is af63dc4c8601ec8c.
        assert_eq!(short_hash(""), 0xcbf2_9ce4 ^ 0x8422_2325);
        assert_eq!(short_hash("a"), 0xaf63_dc4c ^ 0x8601_ec8c);
        assert_eq!(lease_object_name("camera:a_b"), format!("relay-camera-a-b-{:08x}", short_hash("camera:a_b")));
    }

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(lease_seconds(Duration::from_millis(6000)), 6);
        assert_eq!(lease_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(lease_seconds(Duration::ZERO), 1);
    }
}
