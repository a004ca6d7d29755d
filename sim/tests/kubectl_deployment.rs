//! Deployments driven by unmodified kubectl: every command prints what it prints against a real
//! cluster for the same sequence, and the revision bookkeeping behind `rollout history` and
//! `rollout undo` matches the real controller's.

mod common;

use std::time::Duration;

use common::Kubectl;
use kube_sim::{Scenario, Sim, Verb};
use serde_json::json;

const NS: &str = "shop";

/// `web` with three revisions (images 1.0, 1.1, 1.2) and change-causes.
fn three_revisions() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(3)
                .revision(|t| t.image("web", "nginx:1.0").change_cause("v1").days_ago(3))
                .revision(|t| t.image("web", "nginx:1.1").change_cause("v2").days_ago(2))
                .revision(|t| t.image("web", "nginx:1.2").change_cause("v3").days_ago(1))
        })
        .build()
}

fn history(k: &Kubectl) -> String {
    k.run(&["-n", NS, "rollout", "history", "deployment/web"])
        .ok()
        .stdout
}

fn image(sim: &Sim) -> String {
    let d = sim.get("deployments", NS, "web").unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn history_lists_revisions_with_change_causes() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        history(&k),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         v1\n2         v2\n3         v3\n\n"
    );
    let rev = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "history",
            "deployment/web",
            "--revision",
            "2",
        ])
        .ok();
    assert!(
        rev.stdout
            .starts_with("deployment.apps/web with revision #2\nPod Template:\n"),
        "{}",
        rev.stdout
    );
    assert!(rev.stdout.contains("Image:\tnginx:1.1\n"), "{}", rev.stdout);
    assert!(rev.stdout.contains("pod-template-hash="), "{}", rev.stdout);
    let missing = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "history",
            "deployment/web",
            "--revision",
            "9",
        ])
        .failed();
    assert_eq!(
        missing.stderr,
        "error: unable to find the specified revision\n"
    );
}

#[tokio::test]
async fn undo_to_revision_two_renumbers_it_as_four() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=2",
        ])
        .ok();
    assert_eq!(out.stdout, "deployment.apps/web rolled back\n");
    assert_eq!(
        history(&k),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         v1\n3         v3\n4         v2\n\n"
    );
    assert_eq!(image(&sim), "nginx:1.1");
    let rs: Vec<_> = sim
        .list("replicasets", NS)
        .into_iter()
        .filter(|rs| rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4")
        .collect();
    assert_eq!(rs.len(), 1);
    assert_eq!(
        rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "2"
    );
    assert_eq!(rs[0]["spec"]["replicas"], 3);
    let d = sim.get("deployments", NS, "web").unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "4"
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "v2"
    );

    // Undo without a revision goes back to the previous one (3), which becomes 5.
    k.run(&["-n", NS, "rollout", "undo", "deployment/web"]).ok();
    assert_eq!(
        history(&k),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         v1\n4         v2\n5         v3\n\n"
    );
    assert_eq!(image(&sim), "nginx:1.2");
}

#[tokio::test]
async fn undo_to_the_current_template_is_skipped() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    sim.clear_requests();
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=3",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "deployment.apps/web skipped rollback (current template already matches revision 3)\n"
    );
    assert!(sim.mutating_requests().is_empty());
    let missing = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=7",
        ])
        .failed();
    assert_eq!(
        missing.stderr,
        "error: unable to find specified revision 7 in history\n"
    );
}

#[tokio::test]
async fn server_dry_run_undo_writes_nothing() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let before = sim.get("deployments", NS, "web").unwrap();
    sim.clear_requests();
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=1",
            "--dry-run=server",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "deployment.apps/web rolled back (server dry run)\n"
    );
    let writes = sim.mutating_requests();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "PATCH");
    assert!(writes[0].dry_run, "{:?}", writes[0]);
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(sim.get("deployments", NS, "web").unwrap(), before);
    assert_eq!(history(&k).lines().count(), 6);
}

#[tokio::test]
async fn paused_deployment_refuses_undo_until_resumed() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        k.run(&["-n", NS, "rollout", "pause", "deployment/web"])
            .ok()
            .stdout,
        "deployment.apps/web paused\n"
    );
    let refused = k
        .run(&["-n", NS, "rollout", "undo", "deployment/web"])
        .failed();
    assert_eq!(
        refused.stderr,
        "error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again\n"
    );
    // A template change while paused creates no new revision.
    k.run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:2.0"])
        .ok();
    assert_eq!(history(&k).lines().count(), 6);
    let d = sim.get("deployments", NS, "web").unwrap();
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["reason"], "DeploymentPaused");
    assert_eq!(
        k.run(&["-n", NS, "rollout", "resume", "deployment/web"])
            .ok()
            .stdout,
        "deployment.apps/web resumed\n"
    );
    assert_eq!(history(&k).lines().count(), 7);
    let status = k
        .run(&["-n", NS, "rollout", "status", "deployment/web"])
        .ok();
    assert_eq!(
        status.stdout,
        "deployment \"web\" successfully rolled out\n"
    );
}

#[tokio::test]
async fn set_image_annotate_and_scale_send_the_patches_kubectl_sends() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    sim.clear_requests();
    assert_eq!(
        k.run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:1.3"])
            .ok()
            .stdout,
        "deployment.apps/web image updated\n"
    );
    let patch = sim.mutating_requests().pop().unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        patch.json().unwrap(),
        json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}], "containers": [{"image": "nginx:1.3", "name": "web"}]}}}})
    );
    assert_eq!(
        k.run(&[
            "-n",
            NS,
            "annotate",
            "deployment/web",
            "kubernetes.io/change-cause=v4",
            "--overwrite"
        ])
        .ok()
        .stdout,
        "deployment.apps/web annotated\n"
    );
    let patch = sim.mutating_requests().pop().unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    // The controller copies the new change-cause onto the current ReplicaSet.
    assert!(history(&k).ends_with("4         v4\n\n"), "{}", history(&k));

    assert_eq!(
        k.run(&["-n", NS, "scale", "deployment/web", "--replicas=5"])
            .ok()
            .stdout,
        "deployment.apps/web scaled\n"
    );
    let scale = sim.mutating_requests().pop().unwrap();
    assert_eq!(
        scale.path,
        "/apis/apps/v1/namespaces/shop/deployments/web/scale"
    );
    let d = k
        .run(&["-n", NS, "get", "deployment", "web", "-o", "json"])
        .ok()
        .json();
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["status"]["readyReplicas"], 5);
    assert_eq!(d["status"]["updatedReplicas"], 5);
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    // A scale is not a new revision.
    assert_eq!(history(&k).lines().count(), 7);
}

#[tokio::test]
async fn create_apply_and_get_json() {
    let sim = Sim::start(Scenario::builder().namespace(NS).build()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let manifest = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": NS},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
                    {"name": "api", "image": image, "env": [{"name": "A", "value": "1"}]}]}}}})
        .to_string()
    };
    let v1 = k.file("v1.json", &manifest("api:1"));
    let out = k
        .run(&["create", "-f", v1.to_str().unwrap(), "--validate=false"])
        .ok();
    assert_eq!(out.stdout, "deployment.apps/api created\n");
    let v2 = k.file("v2.json", &manifest("api:2"));
    let out = k
        .run(&["apply", "-f", v2.to_str().unwrap(), "--validate=false"])
        .ok();
    assert_eq!(out.stdout, "deployment.apps/api configured\n");
    assert!(
        out.stderr
            .contains("missing the kubectl.kubernetes.io/last-applied-configuration annotation"),
        "{}",
        out.stderr
    );
    let out = k
        .run(&["apply", "-f", v2.to_str().unwrap(), "--validate=false"])
        .ok();
    assert_eq!(out.stdout, "deployment.apps/api unchanged\n");
    let d = k
        .run(&["-n", NS, "get", "deployment", "api", "-o", "json"])
        .ok()
        .json();
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "api:2"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}])
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["creationTimestamp"],
        serde_json::Value::Null
    );
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["status"]["availableReplicas"], 2);
    let pods = k
        .run(&["-n", NS, "get", "pods", "-l", "app=api", "-o", "json"])
        .ok()
        .json();
    assert_eq!(pods["items"].as_array().unwrap().len(), 2);
    // A fresh apply (create path) records last-applied-configuration.
    let v3 = k.file("v3.json", &manifest("api:3").replace("\"api\"", "\"api2\""));
    assert_eq!(
        k.run(&["apply", "-f", v3.to_str().unwrap(), "--validate=false"])
            .ok()
            .stdout,
        "deployment.apps/api2 created\n"
    );
    let d = sim.get("deployments", NS, "api2").unwrap();
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
}

#[tokio::test]
async fn rollout_status_reports_success_and_an_exceeded_deadline() {
    let scenario = Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(3)
                .progress_deadline_seconds(120)
                .revision(|t| t.image("web", "nginx:1.0").days_ago(1))
                .revision(|t| t.image("web", "nginx:broken-unpullable").minutes_ago(1))
        })
        .build();
    let sim = Sim::start(scenario).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let waiting = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--watch=false",
        ])
        .ok();
    assert_eq!(
        waiting.stdout,
        "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
    );
    sim.clock().advance(Duration::from_secs(121));
    let d = sim.get("deployments", NS, "web").unwrap();
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert_eq!(progressing["status"], "False");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .ends_with("has timed out progressing.")
    );
    let stuck = k
        .run(&["-n", NS, "rollout", "status", "deployment/web"])
        .failed();
    assert_eq!(
        stuck.stderr,
        "error: deployment \"web\" exceeded its progress deadline\n"
    );
    // Rolling back to the good template finishes the rollout.
    k.run(&["-n", NS, "rollout", "undo", "deployment/web"]).ok();
    let done = k
        .run(&["-n", NS, "rollout", "status", "deployment/web"])
        .ok();
    assert_eq!(done.stdout, "deployment \"web\" successfully rolled out\n");
}

#[tokio::test]
async fn replicasets_owned_by_something_else_are_not_history() {
    let foreign = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-foreign", "namespace": NS, "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "99", "kubernetes.io/change-cause": "not mine"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "other", "uid": "5a3e7c0e-0000-4000-8000-000000000000", "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "evil:1"}]}}}});
    let scenario = Scenario::builder()
        .deployment(NS, "web", |d| {
            d.revision(|t| t.image("web", "nginx:1.0").change_cause("v1").days_ago(2))
                .revision(|t| t.image("web", "nginx:1.1").change_cause("v2").days_ago(1))
        })
        .object("replicasets", foreign, Duration::from_secs(3600))
        .build();
    let sim = Sim::start(scenario).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        history(&k),
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         v1\n2         v2\n\n"
    );
    let err = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=99",
        ])
        .failed();
    assert_eq!(
        err.stderr,
        "error: unable to find specified revision 99 in history\n"
    );
}

#[tokio::test]
async fn forbidden_patch_is_reported_by_kubectl() {
    let sim = Sim::start(three_revisions()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    sim.deny(Verb::Patch, "deployments");
    let out = k
        .run(&["-n", NS, "rollout", "undo", "deployment/web"])
        .failed();
    assert_eq!(
        out.stderr,
        // kubectl reports the revision it was asked for: 0 means "the previous one".
        "error: failed restoring revision 0: deployments.apps \"web\" is forbidden: User \"kubernetes-admin\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\"\n"
    );
    assert_eq!(image(&sim), "nginx:1.2");
}

#[tokio::test]
async fn status_waits_until_the_controller_observes_the_change() {
    let options = kube_sim::SimOptions::new().controllers(kube_sim::ControllerMode::OnTick);
    let sim = Sim::start_with(three_revisions(), options).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    k.run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:2.0"])
        .ok();
    let waiting = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--watch=false",
        ])
        .ok();
    assert_eq!(
        waiting.stdout,
        "Waiting for deployment spec update to be observed...\n"
    );
    assert_eq!(
        history(&k).lines().count(),
        6,
        "no new ReplicaSet before the controller runs"
    );
    sim.reconcile();
    let done = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "status",
            "deployment/web",
            "--watch=false",
        ])
        .ok();
    assert_eq!(done.stdout, "deployment \"web\" successfully rolled out\n");
    assert_eq!(history(&k).lines().count(), 7);
}
