//! kube-rs with k8s-openapi types (the product's client stack) against the sim: typed reads of
//! every served kind, the patch types, conflicts and dry runs as `kube::Error::Api`, and
//! `Api::watch` delivering the controller's status update after a write returned.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::{Api, Client, Config};
use kube_sim::{ControllerMode, Scenario, Sim, SimOptions};
use serde_json::json;

async fn client(sim: &Sim) -> Client {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

#[tokio::test]
async fn typed_reads_of_every_kind() {
    let sim = Sim::start(Scenario::demo()).await;
    let client = client(&sim).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let d = deployments.get("api-server").await.unwrap();
    let status = d.status.unwrap();
    assert_eq!(status.observed_generation, d.metadata.generation);
    let progressing = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("ProgressDeadlineExceeded")
    );
    let selector = "app=api-server,tier in (backend)";
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    assert_eq!(rs.items.len(), 4);
    let crs = Api::<ControllerRevision>::namespaced(client.clone(), "shop")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(crs.items.len(), 6);
    assert!(crs.items.iter().all(|c| {
        c.data
            .as_ref()
            .is_some_and(|d| d.0["spec"]["template"]["$patch"] == "replace")
    }));
    assert!(
        Api::<DaemonSet>::namespaced(client.clone(), "shop")
            .get("node-agent")
            .await
            .is_ok()
    );
    assert!(
        Api::<StatefulSet>::namespaced(client.clone(), "shop")
            .get("orders-db")
            .await
            .is_ok()
    );
    assert_eq!(
        Api::<Pod>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        4 + 3 + 3 + 2
    );
    assert!(
        Api::<Namespace>::all(client.clone())
            .get("staging")
            .await
            .is_ok()
    );
    assert!(deployments.get_opt("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn patches_conflicts_and_dry_runs() {
    let sim = Sim::start(Scenario::demo()).await;
    let deployments: Api<Deployment> = Api::namespaced(client(&sim).await, "staging");
    let d = deployments.get("api-server").await.unwrap();
    let rv = d.metadata.resource_version.clone().unwrap();

    let dry = deployments
        .patch(
            "api-server",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(dry.spec.unwrap().replicas, Some(5));
    assert_eq!(
        deployments
            .get("api-server")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(2)
    );

    let guarded: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "ghcr.io/example/api-server:1.1.0"}
    ]))
    .unwrap();
    deployments
        .patch(
            "api-server",
            &PatchParams::default(),
            &Patch::Json::<()>(guarded.clone()),
        )
        .await
        .unwrap();
    let err = deployments
        .patch(
            "api-server",
            &PatchParams::default(),
            &Patch::Json::<()>(guarded),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert_eq!(status.code, 422);

    let err = deployments
        .patch(
            "api-server",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 1}})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error")
    };
    assert!(status.is_conflict(), "{status:?}");

    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "ghcr.io/example/api-server:1.2.1"}]}}}});
    let patched = deployments
        .patch(
            "api-server",
            &PatchParams::default(),
            &Patch::Strategic(smp),
        )
        .await
        .unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!(containers.len(), 1);
    assert_eq!(
        containers[0].image.as_deref(),
        Some("ghcr.io/example/api-server:1.2.1")
    );
    assert!(
        containers[0]
            .env
            .as_ref()
            .is_some_and(|e| e.iter().any(|v| v.name == "LOG_LEVEL")),
        "merged by name, not replaced"
    );
}

#[tokio::test]
async fn watch_sees_the_controller_catch_up_after_the_write() {
    let options =
        SimOptions::new().controllers(ControllerMode::Delayed(Duration::from_millis(200)));
    let sim = Sim::start_with(Scenario::demo(), options).await;
    let deployments: Api<Deployment> = Api::namespaced(client(&sim).await, "staging");
    let patched = deployments
        .patch(
            "api-server",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"template": {"metadata": {"annotations": {"restarted": "now"}}}}}),
            ),
        )
        .await
        .unwrap();
    let generation = patched.metadata.generation.unwrap();
    assert!(
        patched
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap()
            < generation,
        "not yet observed"
    );
    let rv = patched.metadata.resource_version.unwrap();
    let stream = deployments
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let observed = tokio::time::timeout(
        Duration::from_secs(10),
        stream
            .try_filter_map(|event| async move {
                Ok(match event {
                    WatchEvent::Modified(d)
                        if d.status.as_ref().and_then(|s| s.observed_generation)
                            == Some(generation) =>
                    {
                        Some(d)
                    }
                    _ => None,
                })
            })
            .boxed()
            .next(),
    )
    .await
    .expect("observed within the bound")
    .expect("stream item")
    .unwrap();
    let revision =
        observed.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"].clone();
    assert_eq!(revision, "3");
}
