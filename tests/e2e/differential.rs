//! kubectl as the oracle: on the same simulated cluster, our history, undo and status must say
//! what `kubectl rollout history|undo|status` says.

use kube_sim::{Pace, Scenario, Sim, SimOptions};
use serde_json::{Value, json};

use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured};
use super::kubectl::Kubectl;

/// resource_type, name, namespace.
type Workload = (&'static str, &'static str, &'static str);

const WORKLOADS: [(&str, &str); 3] = [
    ("deployment", "api-server"),
    ("daemonset", "node-agent"),
    ("statefulset", "orders-db"),
];

fn arguments(resource_type: &str, name: &str) -> Value {
    json!({"resource_type": resource_type, "name": name, "namespace": "shop"})
}

/// Our history as kubectl's rows: (revision, change-cause or `<none>`).
async fn our_rows(host: &Host, resource_type: &str, name: &str) -> Vec<(i64, String)> {
    let result = host
        .call("k8s_rollout_history", arguments(resource_type, name))
        .await;
    structured(&result)["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|revision| {
            (
                revision["revision"].as_i64().unwrap(),
                revision["change_cause"]
                    .as_str()
                    .unwrap_or("<none>")
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn history_matches_kubectl_for_each_kind_and_kubectl_version() {
    for minor in [27, 30, 33] {
        let mut options = HostOptions::new(Lifecycle::Handshake);
        options.sim = SimOptions::new().kube_version(minor);
        let host = Host::start_with(Scenario::demo(), options).await;
        let Some(kubectl) = Kubectl::for_sim(&host.sim) else {
            return;
        };
        for (resource_type, name) in WORKLOADS {
            let theirs = kubectl.history("shop", &format!("{resource_type}/{name}"));
            assert_eq!(
                our_rows(&host, resource_type, name).await,
                theirs,
                "1.{minor} {resource_type}/{name}"
            );
        }
    }
}

/// `Image:` and `Labels:` of kubectl's pod template printout.
fn printed_template(text: &str) -> (Vec<String>, Vec<String>) {
    let images = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Image:"))
        .map(|image| image.trim().to_string())
        .collect();
    let mut labels = Vec::new();
    let mut lines = text
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("Labels:"));
    if let Some(first) = lines.next() {
        labels.push(
            first
                .trim()
                .trim_start_matches("Labels:")
                .trim()
                .to_string(),
        );
        labels.extend(
            lines
                .take_while(|line| line.starts_with("\t") || line.starts_with("          "))
                .map(|line| line.trim().to_string()),
        );
    }
    labels.retain(|label| !label.is_empty() && !label.starts_with("pod-template-hash="));
    labels.sort();
    (images, labels)
}

#[tokio::test]
async fn a_revision_in_full_shows_kubectls_template() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_sim(&host.sim) else {
        return;
    };
    for (resource_type, name) in WORKLOADS {
        for revision in [1, 2] {
            let printed = kubectl.ok(&[
                "rollout",
                "history",
                &format!("{resource_type}/{name}"),
                "-n",
                "shop",
                &format!("--revision={revision}"),
            ]);
            assert!(
                printed.contains(&format!("with revision #{revision}")),
                "{printed}"
            );
            let (images, labels) = printed_template(&printed);
            let mut request = arguments(resource_type, name);
            request["revision"] = json!(revision);
            let result = host.call("k8s_rollout_history", request).await;
            let template = &structured(&result)["detail"]["template"];
            let ours: Vec<String> = template["spec"]["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["image"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ours, images, "{resource_type}/{name} #{revision}");
            let mut our_labels: Vec<String> = template["metadata"]["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            our_labels.sort();
            assert_eq!(
                our_labels, labels,
                "{resource_type}/{name} #{revision}: {printed}"
            );
        }
    }
}

#[tokio::test]
async fn revisions_kubectl_ignores_are_ignored_and_unnumbered_ones_are_zero() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_sim(&host.sim) else {
        return;
    };
    let deployment = host.sim.get("deployments", "shop", "api-server").unwrap();
    let template = host.sim.list("replicasets", "shop")[0]["spec"]["template"].clone();
    let replica_set = |name: &str, owner: Value, annotations: Value| {
        let mut template = template.clone();
        template["metadata"]["labels"]["pod-template-hash"] = json!(name);
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("api-server-{name}"), "namespace": "shop", "labels": template["metadata"]["labels"],
                         "annotations": annotations, "ownerReferences": owner},
            "spec": {"replicas": 0, "selector": deployment["spec"]["selector"], "template": template}
        })
    };
    let owned = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api-server", "uid": deployment["metadata"]["uid"], "controller": true}]);
    let foreign = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "other", "uid": "0000-foreign", "controller": true}]);
    for object in [
        replica_set(
            "foreign",
            foreign,
            json!({"deployment.kubernetes.io/revision": "7", "kubernetes.io/change-cause": "not ours"}),
        ),
        replica_set(
            "unnumbered",
            owned.clone(),
            json!({"kubernetes.io/change-cause": "hand made"}),
        ),
        replica_set(
            "garbled",
            owned,
            json!({"deployment.kubernetes.io/revision": "two"}),
        ),
    ] {
        host.sim
            .create("replicasets", "shop", object)
            .expect("a hand-made replicaset");
    }
    let theirs = kubectl.history("shop", "deployment/api-server");
    assert_eq!(
        theirs.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "kubectl's view: {theirs:?}"
    );
    assert_eq!(our_rows(&host, "deployment", "api-server").await, theirs);
    let result = host
        .call("k8s_rollout_history", arguments("deployment", "api-server"))
        .await;
    let warnings = structured(&result)["warnings"].to_string();
    assert!(
        warnings.contains("api-server-garbled"),
        "the skipped one is named: {warnings}"
    );
}

/// A workload's template and its annotations besides the change-cause.
fn state(sim: &Sim, resource: &str, name: &str) -> (Value, Value) {
    let workload = sim.get(resource, "shop", name).unwrap();
    let mut annotations = workload["metadata"]["annotations"].clone();
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.remove("kubernetes.io/change-cause");
    }
    (workload["spec"]["template"].clone(), annotations)
}

#[tokio::test]
async fn an_approved_undo_leaves_what_kubectls_undo_leaves() {
    for (resource_type, name, target) in [
        ("deployment", "api-server", 2),
        ("daemonset", "node-agent", 1),
        ("statefulset", "orders-db", 2),
    ] {
        let resource = format!("{resource_type}s");
        let ours = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
        let theirs = Sim::start(Scenario::demo()).await;
        let Some(kubectl) = Kubectl::for_sim(&theirs) else {
            return;
        };
        let Some(ours_kubectl) = Kubectl::for_sim(&ours.sim) else {
            return;
        };

        ours.answer(Answer::approve("alice"));
        let mut request = arguments(resource_type, name);
        request["to_revision"] = json!(target);
        structured(&ours.call("k8s_rollout_undo", request).await);
        let printed = kubectl.ok(&[
            "rollout",
            "undo",
            &format!("{resource_type}/{name}"),
            "-n",
            "shop",
            &format!("--to-revision={target}"),
        ]);
        assert!(printed.contains("rolled back"), "{printed}");

        let (our_template, our_annotations) = state(&ours.sim, &resource, name);
        let (their_template, their_annotations) = state(&theirs, &resource, name);
        assert_eq!(
            our_template, their_template,
            "{resource_type}: the same template is live"
        );
        assert_eq!(
            our_annotations, their_annotations,
            "{resource_type}: the same annotations besides the change-cause"
        );

        let our_history = ours_kubectl.history("shop", &format!("{resource_type}/{name}"));
        let their_history = kubectl.history("shop", &format!("{resource_type}/{name}"));
        assert_eq!(
            our_rows(&ours, resource_type, name).await,
            our_history,
            "{resource_type}: after an undo (renumbered revisions) our history is still kubectl's"
        );
        let numbers = |rows: &[(i64, String)]| rows.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        assert_eq!(
            numbers(&our_history),
            numbers(&their_history),
            "{resource_type}: the same renumbering"
        );
        let restored = our_history.last().unwrap();
        if resource_type == "deployment" {
            assert_eq!(
                restored.1, "rollback to revision 2 approved by alice via k8s-rollout-mcp",
                "kubectl rollout history shows who rolled back"
            );
        } else {
            assert_eq!(
                restored,
                their_history.last().unwrap(),
                "{resource_type}: the reused ControllerRevision keeps its change-cause"
            );
        }
    }
}

#[tokio::test]
async fn undo_refusals_use_kubectls_words() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_sim(&host.sim) else {
        return;
    };
    let undo = |to_revision: i64| {
        let mut request = arguments("deployment", "api-server");
        request["to_revision"] = json!(to_revision);
        request
    };
    let (_, printed, _) = kubectl.run(&[
        "rollout",
        "undo",
        "deployment/api-server",
        "-n",
        "shop",
        "--to-revision=4",
        "--dry-run=server",
    ]);
    let ours = refusal(&host.call("k8s_rollout_undo", undo(4)).await);
    let kubectl_words = "skipped rollback (current template already matches revision 4)";
    assert!(
        printed.contains(kubectl_words) && ours.contains(kubectl_words),
        "kubectl: {printed} ours: {ours}"
    );

    let (ok, _, error) = kubectl.run(&[
        "rollout",
        "undo",
        "deployment/api-server",
        "-n",
        "shop",
        "--to-revision=9",
    ]);
    let ours = refusal(&host.call("k8s_rollout_undo", undo(9)).await);
    assert!(
        !ok && error.contains("unable to find specified revision 9 in history")
            && ours.contains("unable to find specified revision 9 in history")
    );

    kubectl.ok(&["rollout", "pause", "deployment/api-server", "-n", "shop"]);
    let (ok, _, error) = kubectl.run(&[
        "rollout",
        "undo",
        "deployment/api-server",
        "-n",
        "shop",
        "--to-revision=2",
    ]);
    let kubectl_message = error.trim().trim_start_matches("error: ");
    let ours = refusal(&host.call("k8s_rollout_undo", undo(2)).await);
    assert!(
        !ok && ours.contains(kubectl_message),
        "kubectl: {kubectl_message:?} ours: {ours}"
    );
    assert!(
        host.writes()
            .iter()
            .all(|write| write.path.ends_with("/api-server") && write.query.contains("kubectl")),
        "only kubectl wrote: {:?}",
        host.writes()
    );
}

#[tokio::test]
async fn status_messages_are_kubectls() {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(3)
                .revision(|t| t.image("app", "web:1").days_ago(1))
        })
        .deployment("shop", "held", |d| {
            d.replicas(2)
                .revision(|t| t.image("app", "held:1").days_ago(2))
                .paused(true)
                .revision(|t| t.image("app", "held:2").hours_ago(1))
        })
        .daemonset("shop", "agent", |d| {
            d.revision(|t| t.image("agent", "agent:1").days_ago(1))
        })
        .daemonset("shop", "manual", |d| {
            d.on_delete()
                .revision(|t| t.image("agent", "manual:1").days_ago(1))
        })
        .statefulset("shop", "db", |s| {
            s.replicas(3)
                .revision(|t| t.image("db", "db:1").days_ago(1))
        })
        .statefulset("shop", "split", |s| {
            s.replicas(3)
                .partition(2)
                .revision(|t| t.image("db", "split:1").days_ago(1))
        })
        .build();
    let mut cases: Vec<(Host, Vec<Workload>)> = Vec::new();
    let demo = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    cases.push((
        demo,
        vec![
            ("deployment", "api-server", "shop"),
            ("daemonset", "node-agent", "shop"),
            ("statefulset", "orders-db", "shop"),
            ("deployment", "api-server", "staging"),
        ],
    ));
    let rolling = Host::start(scenario.with_pace(Pace::Stepwise), Lifecycle::Handshake).await;
    for (resource, name, image) in [
        ("deployments", "web", "web:2"),
        ("daemonsets", "agent", "agent:2"),
        ("statefulsets", "db", "db:2"),
        ("statefulsets", "split", "split:2"),
    ] {
        rolling
            .sim
            .update(resource, "shop", name, |w| {
                w["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
            })
            .unwrap();
    }
    rolling.sim.tick();
    cases.push((
        rolling,
        vec![
            ("deployment", "web", "shop"),
            ("deployment", "held", "shop"),
            ("daemonset", "agent", "shop"),
            ("daemonset", "manual", "shop"),
            ("statefulset", "db", "shop"),
            ("statefulset", "split", "shop"),
        ],
    ));
    let mut compared = Vec::new();
    for (host, workloads) in &cases {
        let Some(kubectl) = Kubectl::for_sim(&host.sim) else {
            return;
        };
        for (resource_type, name, namespace) in workloads {
            let (_, printed, error) = kubectl.run(&[
                "rollout",
                "status",
                &format!("{resource_type}/{name}"),
                "-n",
                namespace,
                "--watch=false",
            ]);
            let kubectl_says = if printed.trim().is_empty() {
                error.trim().trim_start_matches("error: ").to_string()
            } else {
                printed.trim().to_string()
            };
            let result = host
                .call(
                    "k8s_rollout_status",
                    json!({"resource_type": resource_type, "name": name, "namespace": namespace}),
                )
                .await;
            assert_eq!(
                structured(&result)["message"],
                kubectl_says,
                "{resource_type}/{name} in {namespace}"
            );
            compared.push(kubectl_says);
        }
    }
    for situation in [
        "exceeded its progress deadline",
        "successfully rolled out",
        "Waiting for deployment \"web\" rollout to finish",
        "Waiting for daemon set \"agent\" rollout to finish",
        "only available for RollingUpdate strategy type",
        "pods to be ready",
        "partitioned roll out complete",
    ] {
        assert!(
            compared.iter().any(|message| message.contains(situation)),
            "no case covered {situation:?}: {compared:#?}"
        );
    }
}
