//! Where camera pull leases live: the database (every deployment, `all`
//! included) or Kubernetes Lease objects.

use std::sync::Arc;

use cluster::{ClusterError, ClusterRegistry, KubeLeaseStore, LeaseStore};
use serde::{Deserialize, Serialize};

/// The store of camera leases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseBackend {
    /// Rows in the database: works anywhere.
    #[default]
    Database,
    /// coordination.k8s.io Lease objects (the pod needs RBAC on leases).
    Kubernetes,
}

/// The lease store for this pod. With Kubernetes, leases are Lease objects
/// held in the name of this pod's cluster name (the pod name in
/// Kubernetes), in `namespace` (none: the pod's own), with the credentials
/// `kube` finds (the service account).
pub async fn lease_store(
    backend: LeaseBackend,
    namespace: Option<&str>,
    cluster: &ClusterRegistry,
) -> Result<Arc<dyn LeaseStore>, ClusterError> {
    match backend {
        LeaseBackend::Kubernetes => {
            let holder = cluster.config().pod.clone();
            let clock = cluster.config().clock.clone();
            Ok(Arc::new(KubeLeaseStore::connect(namespace, holder, clock).await?))
        }
        LeaseBackend::Database => Ok(Arc::new(cluster.clone())),
    }
}

#[cfg(test)]
mod tests {
    use cluster::ClusterConfig;

    use super::*;

    #[tokio::test]
    async fn the_database_backend_is_the_registry() {
        let dir = testkit::TempDir::new("relay-leases");
        let path = dir.path().join("leases.db");
        let pool = cluster::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        let registry = |pod: &str| {
            ClusterRegistry::new(pool.clone(), ClusterConfig { pod: pod.into(), ..ClusterConfig::default() })
        };
        let a = lease_store(LeaseBackend::Database, None, &registry("pod-a")).await.unwrap();
        let b = lease_store(LeaseBackend::Database, None, &registry("pod-b")).await.unwrap();
        let duration = std::time::Duration::from_secs(30);
        assert!(a.acquire("camera:lobby", duration).await.unwrap());
        assert!(!b.acquire("camera:lobby", duration).await.unwrap());
        a.release("camera:lobby").await.unwrap();
        assert!(b.acquire("camera:lobby", duration).await.unwrap());
        assert_eq!(registry("pod-a").lease_holder("camera:lobby").await.unwrap().as_deref(), Some("pod-b"));
        pool.close().await;
    }
}
