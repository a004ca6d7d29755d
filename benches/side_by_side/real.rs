//! kube-real for the bench: the shared control plane, and a Deployment with a long history
//! seeded quickly. Rolling out 1,000 revisions one by one would take most of an hour here, so
//! the Deployment is created and rolled out once (its live revision), and the earlier
//! revisions are created directly as the scaled-down ReplicaSets the controller would have
//! left: owned by the Deployment, revision and change-cause annotated, their own
//! `pod-template-hash`. On the next sync the controller numbers the live ReplicaSet after the
//! highest of them, as it does after a rollout, and keeps them all (`revisionHistoryLimit`).

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_real::replay::{Objects, collection_path, object_path};
use kube_sim::ResourceKind;
use serde_json::{Value, json};

use crate::floor::Sent;

/// The control plane and the harness's client for it.
pub struct Real {
    pub cluster: &'static kube_real::Cluster,
    pub harness: kube::Client,
    pub objects: Objects,
}

impl Real {
    /// The shared cluster, or why there is none (`KUBE_REAL=off`, or it did not start).
    pub async fn start() -> Result<Real, String> {
        if std::env::var("KUBE_REAL").as_deref() == Ok("off") {
            return Err("KUBE_REAL=off".into());
        }
        let cluster = tokio::task::spawn_blocking(kube_real::shared)
            .await
            .expect("the cluster starts or fails")?;
        let harness = cluster.harness_client().await;
        Ok(Real {
            cluster,
            objects: Objects::new(harness.clone()),
            harness,
        })
    }

    /// The admin kubeconfig (the identity the server, the floor and kubectl use).
    pub fn kubeconfig(&self) -> String {
        self.cluster.admin_kubeconfig(None)
    }

    /// A fresh namespace with Deployment `web` of `revisions` revisions, settled.
    pub async fn seed(&self, prefix: &str, revisions: usize) -> String {
        let ns = kube_real::create_namespace(&self.harness, prefix)
            .await
            .expect("a namespace");
        let live = revisions - 1;
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"},
                "annotations": {"kubernetes.io/change-cause": cause(live)}},
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": revisions + 10,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template(live, None),
            },
        });
        let created = self
            .objects
            .send(
                "POST",
                &collection_path(ResourceKind::Deployment, &ns),
                Some(&deployment),
            )
            .await
            .expect("the Deployment is created");
        self.objects
            .settle(ResourceKind::Deployment, &ns, "web")
            .await;
        let uid = created["metadata"]["uid"].clone();
        let path = collection_path(ResourceKind::ReplicaSet, &ns);
        futures::stream::iter(0..live)
            .map(|i| {
                let hash = format!("{:x}", 0x5a0000000u64 + i as u64);
                let replica_set = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": format!("web-{hash}"), "namespace": ns,
                        "labels": {"app": "web", "pod-template-hash": hash},
                        "annotations": {
                            "deployment.kubernetes.io/revision": (i + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": "2",
                            "deployment.kubernetes.io/max-replicas": "3",
                            "kubernetes.io/change-cause": cause(i),
                        },
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                            "name": "web", "uid": uid, "controller": true,
                            "blockOwnerDeletion": true}],
                    },
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}},
                        "template": template(i, Some(&hash)),
                    },
                });
                let (objects, path) = (self.objects.clone(), path.clone());
                async move {
                    objects
                        .send("POST", &path, Some(&replica_set))
                        .await
                        .expect("a ReplicaSet is created");
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        self.wait_for_revision(&ns, revisions).await;
        self.objects
            .settle(ResourceKind::Deployment, &ns, "web")
            .await;
        ns
    }

    /// Until the Deployment's revision annotation reads `revision`.
    async fn wait_for_revision(&self, ns: &str, revision: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let deployment = self
                .objects
                .send(
                    "GET",
                    &object_path(ResourceKind::Deployment, ns, "web"),
                    None,
                )
                .await
                .expect("the Deployment reads");
            let current =
                &deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"];
            if current.as_str() == Some(&revision.to_string()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{ns}/web: its revision is {current}, not {revision}, after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Where the request log is: the position now.
    pub fn mark(&self) -> kube_real::audit::Mark {
        kube_real::audit::mark(&self.cluster.endpoint().audit_log)
    }

    /// The admin's requests in `ns` since `mark` (the server's, the floor's, kubectl's).
    pub async fn requests(&self, mark: kube_real::audit::Mark, ns: &str) -> Vec<Sent> {
        // The audit log is written as requests complete: give the last one a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        kube_real::audit::read(&self.cluster.endpoint().audit_log, mark)
            .into_iter()
            .filter(|record| {
                record.user == kube_real::ADMIN_USER
                    && record.namespace.as_deref() == Some(ns)
                    && !record.user_agent.starts_with(kube_real::HARNESS_AGENT)
            })
            .map(|record| Sent {
                method: if record.verb == "watch" {
                    "WATCH".into()
                } else {
                    record.method
                },
                path: record.path,
                query: record.query,
            })
            .collect()
    }
}

fn cause(i: usize) -> String {
    format!("release 1.{i}.0")
}

/// The pod template of revision `i + 1` (as kube-sim's bench history has it).
fn template(i: usize, hash: Option<&str>) -> Value {
    let mut labels = json!({"app": "web"});
    if let Some(hash) = hash {
        labels["pod-template-hash"] = json!(hash);
    }
    json!({
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "app",
            "image": format!("registry.example.com/team/web:1.{i}.0")}]},
    })
}
