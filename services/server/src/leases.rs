//! The store of camera pull leases `camera_lease_backend` names: the
//! database (every deployment, `all` included) or Kubernetes Lease objects.

use std::sync::Arc;

use cluster::{ClusterRegistry, KubeLeaseStore, LeaseStore};

use crate::config::Config;

/// The lease store for this pod. With `kubernetes`, leases are Lease
/// objects held in the name of this pod's cluster name (the pod name in
/// Kubernetes), with the credentials `kube` finds (the service account).
pub async fn lease_store(config: &Config, cluster: &ClusterRegistry) -> Result<Arc<dyn LeaseStore>, String> {
    match config.camera_lease_backend.as_str() {
        "kubernetes" => {
            let holder = cluster.config().pod.clone();
            let store = KubeLeaseStore::connect(config.kubernetes_namespace.as_deref(), holder)
                .await
                .map_err(|error| format!("camera_lease_backend = \"kubernetes\": {error}"))?;
            Ok(Arc::new(store))
        }
        _ => Ok(Arc::new(cluster.clone())),
    }
}

#[cfg(test)]
mod tests {
    use cluster::ClusterConfig;

    use super::*;

    #[tokio::test]
    async fn the_database_backend_is_the_registry() {
        let path = std::env::temp_dir().join(format!("relay-leases-{}.db", std::process::id()));
        let pool = cluster::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        let registry = |pod: &str| {
            ClusterRegistry::new(pool.clone(), ClusterConfig { pod: pod.into(), ..ClusterConfig::default() })
        };
        let config = Config::default();
        let a = lease_store(&config, &registry("pod-a")).await.unwrap();
        let b = lease_store(&config, &registry("pod-b")).await.unwrap();
        let duration = std::time::Duration::from_secs(30);
        assert!(a.acquire("camera:lobby", duration).await.unwrap());
        assert!(!b.acquire("camera:lobby", duration).await.unwrap());
        a.release("camera:lobby").await.unwrap();
        assert!(b.acquire("camera:lobby", duration).await.unwrap());
        assert_eq!(registry("pod-a").lease_holder("camera:lobby").await.unwrap().as_deref(), Some("pod-b"));
        drop(pool);
        let _ = std::fs::remove_file(path);
    }
}
