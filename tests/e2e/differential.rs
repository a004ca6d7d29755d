//! kubectl as the oracle: on the same cluster (kube-sim, and kube-real), our history, undo and
//! status must say what `kubectl rollout history|undo|status` says.

use kube_sim::{Scenario, SimOptions};
use serde_json::{Value, json};

use super::backend::{Backend, TestCluster};
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

on_both_backends!(history_matches_kubectl_for_each_kind_and_kubectl_version);
async fn history_matches_kubectl_for_each_kind_and_kubectl_version(backend: Backend) {
    // The sim's /version picks the kubectl the dispatcher runs; kube-real is one release, with
    // its own kubectl.
    let minors = match backend {
        Backend::Sim => vec![27, 30, 33],
        Backend::Real => match super::backend::real() {
            Some(real) => vec![real.minor().await],
            None => return,
        },
    };
    for minor in minors {
        let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
        options.sim = SimOptions::new().kube_version(minor);
        let host = Host::start_with(Scenario::demo(), options).await;
        let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
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

/// What kubectl's pod template printout says, as sorted `field value` facts: labels, and per
/// container its image, ports, resources, env names and mounts.
fn printed_facts(text: &str) -> Vec<String> {
    let mut facts = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        let (key, value) = trimmed
            .split_once(':')
            .map_or((trimmed, ""), |(k, v)| (k.trim(), v.trim()));
        match (indent, key) {
            _ if line.starts_with('\t') && section == "label" => {
                facts.push(format!("label {trimmed}"))
            }
            (2, "Labels") => {
                section = "label".into();
                facts.push(format!("label {value}"));
            }
            (4, "Image") => facts.push(format!("image {value}")),
            (4, "Port") => facts.push(format!("port {value}")),
            (4, "Limits" | "Requests" | "Environment" | "Mounts") => section = key.to_lowercase(),
            (6, _) if section == "limits" || section == "requests" => {
                facts.push(format!("{section} {key}={value}"))
            }
            (6, _) if section == "environment" => facts.push(format!("env {key}")),
            (6, _) if section == "mounts" => facts.push(format!("mount {trimmed}")),
            _ if indent <= 4 => section.clear(),
            _ => {}
        }
    }
    facts.retain(|fact| {
        !fact.starts_with("label pod-template-hash=") && fact != "label " && fact != "port <none>"
    });
    facts.sort();
    facts
}

/// The same facts from a template we return.
fn our_facts(template: &Value) -> Vec<String> {
    let mut facts: Vec<String> = template["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("label {key}={}", value.as_str().unwrap()))
        .collect();
    for container in template["spec"]["containers"].as_array().unwrap() {
        facts.push(format!("image {}", container["image"].as_str().unwrap()));
        for port in container["ports"].as_array().into_iter().flatten() {
            facts.push(format!(
                "port {}/{}",
                port["containerPort"],
                port["protocol"].as_str().unwrap_or("TCP")
            ));
        }
        for group in ["limits", "requests"] {
            for (key, value) in container["resources"][group]
                .as_object()
                .into_iter()
                .flatten()
            {
                facts.push(format!("{group} {key}={}", value.as_str().unwrap()));
            }
        }
        for variable in container["env"].as_array().into_iter().flatten() {
            facts.push(format!("env {}", variable["name"].as_str().unwrap()));
        }
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let mode = if mount["readOnly"] == true {
                "ro"
            } else {
                "rw"
            };
            facts.push(format!(
                "mount {} from {} ({mode})",
                mount["mountPath"].as_str().unwrap(),
                mount["name"].as_str().unwrap()
            ));
        }
    }
    facts.sort();
    facts
}

on_both_backends!(a_revision_in_full_shows_kubectls_template);
async fn a_revision_in_full_shows_kubectls_template(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
        return;
    };
    let mut seen = Vec::new();
    for (resource_type, name) in WORKLOADS {
        for revision in [1, 2, 3] {
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
            let mut request = arguments(resource_type, name);
            request["revision"] = json!(revision);
            let result = host.call("k8s_rollout_history", request).await;
            let ours = our_facts(&structured(&result)["detail"]["template"]);
            assert_eq!(
                ours,
                printed_facts(&printed),
                "{resource_type}/{name} #{revision}: {printed}"
            );
            seen.extend(ours);
        }
    }
    for kind in ["env ", "port ", "limits ", "requests ", "mount ", "label "] {
        assert!(
            seen.iter().any(|fact| fact.starts_with(kind)),
            "the demo covers {kind:?}"
        );
    }
}

// kube-sim only: on a real cluster the garbage collector deletes the ReplicaSet whose owner
// does not exist while the test looks (kube-sim has no garbage collector; see sim/README.md).
#[tokio::test]
async fn revisions_kubectl_ignores_are_ignored_and_unnumbered_ones_are_zero() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
        return;
    };
    let deployment = host.sim().get("deployments", "shop", "api-server").unwrap();
    let template = host.sim().list("replicasets", "shop")[0]["spec"]["template"].clone();
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
        host.sim()
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
async fn state(cluster: &TestCluster, resource: &str, name: &str) -> (Value, Value) {
    let workload = cluster.get(resource, "shop", name).await.unwrap();
    let mut annotations = workload["metadata"]["annotations"].clone();
    if let Some(annotations) = annotations.as_object_mut() {
        // The stamp: who approved it, and which call wrote it.
        annotations.remove("kubernetes.io/change-cause");
        annotations.remove("k8s-rollout-mcp.io/call-id");
    }
    (workload["spec"]["template"].clone(), annotations)
}

on_both_backends!(an_approved_undo_leaves_what_kubectls_undo_leaves);
async fn an_approved_undo_leaves_what_kubectls_undo_leaves(backend: Backend) {
    // The three kinds side by side, each on clusters of its own.
    let kinds = [
        ("deployment", "api-server", 2),
        ("daemonset", "node-agent", 1),
        ("statefulset", "orders-db", 2),
    ];
    futures::future::join_all(kinds.map(|(resource_type, name, target)| async move {
        let resource = format!("{resource_type}s");
        let (ours, theirs) = tokio::join!(
            Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake),
            TestCluster::seed(backend, Scenario::demo(), SimOptions::new())
        );
        let Some(kubectl) = Kubectl::for_cluster(&theirs) else {
            return;
        };
        let Some(ours_kubectl) = Kubectl::for_cluster(&ours.cluster) else {
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
        theirs.settle(&resource, "shop", name).await;
        ours.cluster.settle(&resource, "shop", name).await;

        let (our_template, our_annotations) = state(&ours.cluster, &resource, name).await;
        let (their_template, their_annotations) = state(&theirs, &resource, name).await;
        assert_eq!(
            our_template, their_template,
            "{resource_type}: the same template is live"
        );
        assert_eq!(
            our_annotations, their_annotations,
            "{resource_type}: the same annotations besides the stamp (change-cause, call id)"
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
    }))
    .await;
}

on_both_backends!(undo_refusals_use_kubectls_words);
async fn undo_refusals_use_kubectls_words(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
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
            .await
            .iter()
            .all(|write| write.path.ends_with("/api-server") && write.query.contains("kubectl")),
        "only kubectl wrote: {:?}",
        host.writes().await
    );
}

// kube-real only, as a difference between kubectl minors: on an undo of a DaemonSet or
// StatefulSet to the live template, the dispatcher's kubectl 1.32 prints "rolled back" (and
// writes nothing) where the cluster's own kubectl says it skipped; the cluster's minor is the
// oracle, and we say what it says.
#[tokio::test]
async fn a_no_op_undo_of_a_daemon_set_or_stateful_set_is_skipped_in_the_clusters_kubectls_words() {
    if super::backend::real().is_none() {
        return;
    }
    let host = Host::start_on(Backend::Real, Scenario::demo(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
        return;
    };
    for (resource_type, name) in [("daemonset", "node-agent"), ("statefulset", "orders-db")] {
        let history = host
            .call("k8s_rollout_history", arguments(resource_type, name))
            .await;
        let live = structured(&history)["live_revision"].as_i64().unwrap();
        let printed = kubectl.ok(&[
            "rollout",
            "undo",
            &format!("{resource_type}/{name}"),
            "-n",
            "shop",
            &format!("--to-revision={live}"),
        ]);
        let mut request = arguments(resource_type, name);
        request["to_revision"] = json!(live);
        let ours = refusal(&host.call("k8s_rollout_undo", request).await);
        let words = format!("skipped rollback (current template already matches revision {live})");
        assert!(
            printed.contains(&words) && ours.contains(&words),
            "{resource_type}: kubectl: {printed} ours: {ours}"
        );
    }
    let writes = host.writes().await;
    assert!(writes.is_empty(), "neither wrote: {writes:?}");
}

on_both_backends!(status_messages_are_kubectls);
async fn status_messages_are_kubectls(backend: Backend) {
    // Rollouts held mid-way by images whose pods never become ready, so both backends stand
    // still while kubectl and we look.
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
    let demo = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    cases.push((
        demo,
        vec![
            ("deployment", "api-server", "shop"),
            ("daemonset", "node-agent", "shop"),
            ("statefulset", "orders-db", "shop"),
            ("deployment", "api-server", "staging"),
        ],
    ));
    let rolling = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    for (resource, name, image) in [
        ("deployments", "web", "web:2-notready"),
        ("daemonsets", "agent", "agent:2-notready"),
        ("statefulsets", "db", "db:2-notready"),
        ("statefulsets", "split", "split:2-notready"),
    ] {
        rolling
            .cluster
            .update(resource, "shop", name, |w| {
                w["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
            })
            .await;
        rolling.cluster.settle(resource, "shop", name).await;
    }
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
        let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
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

// kube-real only: the release it was built at is what kubectl must see, and the oracle is
// kubectl of that same release (the sim's /version is a setting of its own).
#[tokio::test]
async fn kubectl_sees_the_kubernetes_release_kube_real_was_built_at() {
    let Some(super::backend::RealCluster::Local(cluster)) = super::backend::real() else {
        return;
    };
    let host = Host::start_on(Backend::Real, Scenario::empty(), Lifecycle::Handshake).await;
    let Some(kubectl) = Kubectl::for_cluster(&host.cluster) else {
        return;
    };
    let version: Value = serde_json::from_str(&kubectl.ok(&["version", "-o", "json"]))
        .expect("kubectl version -o json");
    assert_eq!(
        version["serverVersion"]["gitVersion"],
        cluster.endpoint().version.as_str()
    );
    assert_eq!(
        version["clientVersion"]["gitVersion"],
        cluster.endpoint().version.as_str()
    );
    assert_eq!(
        cluster.endpoint().version,
        kube_real::build::requested_version()
    );
}
