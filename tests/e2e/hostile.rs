//! Hostile cluster data: revision objects written by every tool in existence, and some written
//! around the API server. History degrades to warnings, undo refuses a broken target with a
//! reason, nothing panics, nothing is written, and memory stays bounded however large the
//! numbers in the objects are.
//!
//! kube-sim only: most of these objects are written around the API server (a real one refuses
//! them) and a real garbage collector deletes those with foreign owners.

use k8s_rollout_mcp::cluster::{PAGE_SIZE, REVISION_PAGE_SIZE};
use kube_sim::{Fault, Scenario, SimOptions, Verb};
use serde_json::{Value, json};

use super::host::{Answer, Host, Lifecycle, refusal, structured, text};
use super::raw::{RawServer, call, result_text};

const NS: &str = "shop";

fn web() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(2)
                .revision(|t| t.image("app", "web:1").change_cause("v1").days_ago(3))
                .revision(|t| t.image("app", "web:2").change_cause("v2").days_ago(2))
                .revision(|t| t.image("app", "web:3").change_cause("v3").days_ago(1))
        })
        .build()
}

fn agent() -> Scenario {
    Scenario::builder()
        .daemonset(NS, "agent", |d| {
            d.revision(|t| t.image("agent", "agent:1").days_ago(2))
                .revision(|t| t.image("agent", "agent:2").days_ago(1))
        })
        .build()
}

fn uid(host_sim: &kube_sim::Sim, resource: &str, name: &str) -> String {
    host_sim.get(resource, NS, name).expect("the workload")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}])
}

/// A ReplicaSet the `web` Deployment controls, with these annotations and template.
fn replica_set(name: &str, uid: &str, annotations: Value, template: Option<Value>) -> Value {
    let mut spec = json!({"replicas": 0, "selector": {"matchLabels": {"app": "web"}}});
    if let Some(template) = template {
        spec["template"] = template;
    }
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"},
                     "annotations": annotations, "ownerReferences": owner("Deployment", "web", uid)},
        "spec": spec
    })
}

fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}})
}

fn history(name: &str) -> Value {
    json!({"resource_type": "deployment", "name": name, "namespace": NS})
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

fn numbers(report: &Value) -> Vec<i64> {
    report["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn hostile_revision_annotations_degrade_to_warnings_and_undo_refuses_them() {
    let host = Host::start(web(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let uid = uid(host.sim(), "deployments", "web");
    let revision = |value: &str| json!({"deployment.kubernetes.io/revision": value});
    let hostile = [
        replica_set(
            "web-words",
            &uid,
            revision("seven"),
            Some(template("web:w")),
        ),
        replica_set(
            "web-huge",
            &uid,
            revision(&"9".repeat(4096)),
            Some(template("web:h")),
        ),
        replica_set(
            "web-negative",
            &uid,
            revision("-3"),
            Some(template("web:n")),
        ),
        replica_set("web-twin", &uid, revision("2"), Some(template("web:t"))),
        replica_set(
            "web-history",
            &uid,
            json!({"deployment.kubernetes.io/revision": "9",
                   "deployment.kubernetes.io/revision-history": (1..=700).map(|n| n.to_string()).collect::<Vec<_>>().join(",")[..2000].to_string()}),
            Some(template("web:r")),
        ),
        // Someone else's: matching labels, another controller.
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-foreign", "namespace": NS, "labels": {"app": "web"},
                            "annotations": revision("50"),
                            "ownerReferences": owner("Deployment", "web", "00000000-0000-4000-8000-000000000000")},
               "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": template("evil:1")}}),
    ];
    for object in hostile {
        host.sim()
            .create("replicasets", NS, object)
            .expect("created");
    }
    host.sim().clear_requests();

    let result = host.call("k8s_rollout_history", history("web")).await;
    let report = structured(&result).clone();
    let shown = numbers(&report);
    assert!(shown.contains(&-3) && shown.contains(&9), "{shown:?}");
    assert!(!shown.contains(&50), "another controller's: {shown:?}");
    let warnings = warnings(&report);
    let has = |needle: &str| warnings.iter().any(|w| w.contains(needle));
    assert!(
        has("unable to get revision from replicaset web-words"),
        "{warnings:?}"
    );
    assert!(
        has("unable to get revision from replicaset web-huge"),
        "{warnings:?}"
    );
    assert!(
        has("more characters)"),
        "the 4 KiB number is clipped: {warnings:?}"
    );
    assert!(
        has("revision -3 (web-negative) is negative"),
        "{warnings:?}"
    );
    assert!(
        has("revision 2 is carried by more than one object"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| w.len() < 1024),
        "every warning is bounded: {warnings:?}"
    );
    assert!(text(&result).len() < 64 * 1024, "{}", text(&result).len());

    let message = refusal(
        &host
            .call(
                "k8s_rollout_undo",
                json!({"resource_type": "deployment", "name": "web", "namespace": NS, "to_revision": 2}),
            )
            .await,
    );
    assert!(
        message.contains("revision 2 is carried by more than one object"),
        "{message}"
    );
    let message = refusal(
        &host
            .call(
                "k8s_rollout_undo",
                json!({"resource_type": "deployment", "name": "web", "namespace": NS, "to_revision": -3}),
            )
            .await,
    );
    assert!(
        message.contains("to_revision must be a positive integer"),
        "{message}"
    );
    assert!(host.writes().await.is_empty(), "{:?}", host.writes().await);
    assert!(
        host.asked().is_empty(),
        "nobody is asked about a broken target"
    );
}

#[tokio::test]
async fn revisions_without_a_usable_template_are_listed_but_not_restored() {
    let host = Host::start(web(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let uid = uid(host.sim(), "deployments", "web");
    let revision = |value: &str| json!({"deployment.kubernetes.io/revision": value});
    host.sim()
        .create_unchecked(
            "replicasets",
            NS,
            replica_set("web-empty", &uid, revision("7"), None),
        )
        .expect("stored");
    host.sim()
        .create_unchecked(
            "replicasets",
            NS,
            replica_set(
                "web-hollow",
                &uid,
                revision("8"),
                Some(json!({"metadata": {"labels": {"app": "web"}}, "spec": {}})),
            ),
        )
        .expect("stored");
    host.sim().clear_requests();

    let report = structured(&host.call("k8s_rollout_history", history("web")).await).clone();
    // The controller renumbers the live ReplicaSet above them, as a real one does.
    assert_eq!(numbers(&report), vec![1, 2, 7, 8, 9]);
    assert_eq!(report["live_revision"], 9);
    let warnings = warnings(&report);
    assert!(
        warnings.contains(&"revision 7 cannot be shown in full or restored: replicaset web-empty has no pod template".to_string()),
        "{warnings:?}"
    );
    for (number, reason) in [
        (7, "replicaset web-empty has no pod template"),
        (
            8,
            "replicaset web-hollow has a pod template without containers",
        ),
    ] {
        let message = refusal(
            &host
                .call(
                    "k8s_rollout_undo",
                    json!({"resource_type": "deployment", "name": "web", "namespace": NS, "to_revision": number}),
                )
                .await,
        );
        assert!(
            message.contains(&format!("revision {number} cannot be used: {reason}")),
            "{message}"
        );
        let message = refusal(
            &host
                .call(
                    "k8s_rollout_history",
                    json!({"resource_type": "deployment", "name": "web", "namespace": NS, "revision": number}),
                )
                .await,
        );
        assert!(message.contains(reason), "{message}");
    }
    assert!(host.writes().await.is_empty());
    assert!(host.asked().is_empty());
}

#[tokio::test]
async fn controller_revision_data_of_the_wrong_shape_is_a_broken_revision() {
    let host = Host::start(agent(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let uid = uid(host.sim(), "daemonsets", "agent");
    let broken = |name: &str, revision: Value, data: Value| {
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
               "metadata": {"name": name, "namespace": NS, "labels": {"app": "agent"},
                            "ownerReferences": owner("DaemonSet", "agent", &uid)},
               "revision": revision, "data": data})
    };
    for object in [
        broken("agent-string", json!(5), json!({"spec": "replace me"})),
        broken("agent-list", json!(6), json!([1, 2, 3])),
        broken(
            "agent-empty",
            json!(7),
            json!({"spec": {"template": {"spec": {"containers": []}}}}),
        ),
    ] {
        host.sim()
            .create("controllerrevisions", NS, object)
            .expect("created");
    }
    host.sim()
        .create_unchecked(
            "controllerrevisions",
            NS,
            broken("agent-words", json!("eight"), json!({"spec": {}})),
        )
        .expect("stored");
    host.sim().clear_requests();

    let report = structured(
        &host
            .call(
                "k8s_rollout_history",
                json!({"resource_type": "ds", "name": "agent", "namespace": NS}),
            )
            .await,
    )
    .clone();
    // The controller renumbers the live revision above them, as a real one does.
    assert_eq!(numbers(&report), vec![1, 5, 6, 7, 8], "{report}");
    assert_eq!(report["live_revision"], 8);
    let warnings = warnings(&report);
    assert!(
        warnings.iter().any(|w| w
            == "unable to get revision from controllerrevision agent-words: revision is \"eight\""),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(
            "unable to parse history agent-list: its data has no pod template"
        )),
        "{warnings:?}"
    );
    for number in [5, 6, 7] {
        let message = refusal(
            &host
                .call(
                    "k8s_rollout_undo",
                    json!({"resource_type": "ds", "name": "agent", "namespace": NS, "to_revision": number}),
                )
                .await,
        );
        assert!(
            message.contains(&format!(
                "revision {number} cannot be used: unable to parse history"
            )),
            "{message}"
        );
    }
    assert!(host.writes().await.is_empty());
    assert!(host.asked().is_empty());
}

#[tokio::test]
async fn a_one_mebibyte_template_is_shown_clipped_and_restored_whole() {
    let host = Host::start(web(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let uid = uid(host.sim(), "deployments", "web");
    let big = "x".repeat(1 << 20);
    let mut heavy = template("web:big");
    heavy["spec"]["containers"][0]["env"] = json!([{"name": "BLOB", "value": big}]);
    heavy["metadata"]["annotations"] = json!({"note": "y".repeat(200_000)});
    host.sim()
        .create(
            "replicasets",
            NS,
            replica_set(
                "web-big",
                &uid,
                json!({"deployment.kubernetes.io/revision": "9", "kubernetes.io/change-cause": "z".repeat(100_000)}),
                Some(heavy),
            ),
        )
        .expect("created");

    let listed = host.call("k8s_rollout_history", history("web")).await;
    let listing = text(&listed);
    assert!(listing.len() < 8 * 1024, "{} bytes", listing.len());
    assert!(listing.contains("more characters)"), "{listing}");

    let result = host
        .call(
            "k8s_rollout_history",
            json!({"resource_type": "deployment", "name": "web", "namespace": NS, "revision": 9}),
        )
        .await;
    let detail = &structured(&result)["detail"];
    assert!(
        detail["diff"]["unified"].as_str().unwrap().len() < 70 * 1024,
        "the unified diff is clipped"
    );
    assert!(
        text(&result).len() < 200 * 1024,
        "{} bytes",
        text(&result).len()
    );
    let annotation_change = detail["diff"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "annotation note")
        .expect("the annotation change");
    assert!(annotation_change["after"].as_str().unwrap().len() < 400);

    let undone = host
        .call(
            "k8s_rollout_undo",
            json!({"resource_type": "deployment", "name": "web", "namespace": NS, "to_revision": 9}),
        )
        .await;
    assert_eq!(structured(&undone)["outcome"], "rolled_back");
    assert!(
        host.asked()[0].len() < 8 * 1024,
        "{}",
        host.asked()[0].len()
    );
    let live = host.sim().get("deployments", NS, "web").unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
            .as_str()
            .unwrap()
            .len(),
        1 << 20,
        "restored whole"
    );
}

#[tokio::test]
async fn owner_chains_follow_only_apps_v1_owners() {
    let host = Host::start(web(), Lifecycle::Handshake).await;
    let pod = |name: &str, owners: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": NS, "ownerReferences": owners},
               "spec": {"containers": [{"name": "app", "image": "x:1"}]}})
    };
    let kruise = json!([{"apiVersion": "apps.kruise.io/v1beta1", "kind": "StatefulSet", "name": "web", "uid": "11111111-0000-4000-8000-000000000000", "controller": true}]);
    host.sim().create("pods", NS, pod("web-0", kruise)).unwrap();
    let argo_rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "canary-7d9", "namespace": NS, "labels": {"app": "canary"},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "canary", "uid": "22222222-0000-4000-8000-000000000000", "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "canary"}}, "template": {"metadata": {"labels": {"app": "canary"}}, "spec": {"containers": [{"name": "app", "image": "c:1"}]}}}});
    host.sim().create("replicasets", NS, argo_rs).unwrap();
    host.sim()
        .create(
            "pods",
            NS,
            pod(
                "canary-7d9-abcde",
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "canary-7d9", "uid": "33333333-0000-4000-8000-000000000000", "controller": true}]),
            ),
        )
        .unwrap();
    host.sim().clear_requests();

    let ask = |resource_type: &str, name: &str| json!({"resource_type": resource_type, "name": name, "namespace": NS});
    let message = refusal(&host.call("k8s_rollout_history", ask("pod", "web-0")).await);
    assert_eq!(
        message.lines().next().unwrap(),
        "pod shop/web-0 has no rollout history of its own: it is managed by StatefulSet.apps.kruise.io web, which this server does not roll back; use its own tool"
    );
    let message = refusal(&host.call("k8s_rollout_undo", json!({"resource_type": "pod", "name": "canary-7d9-abcde", "namespace": NS, "to_revision": 1})).await);
    assert_eq!(
        message.lines().next().unwrap(),
        "pod shop/canary-7d9-abcde has no rollout history of its own: it is managed by Rollout.argoproj.io canary, which this server does not roll back; use its own tool"
    );
    assert!(
        host.sim().requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        host.sim().requests()
    );
    assert!(
        !host
            .sim()
            .requests()
            .iter()
            .any(|r| r.path.contains("/statefulsets")),
        "no apps/v1 StatefulSet is looked up for a Kruise one"
    );
}

#[tokio::test]
async fn a_long_history_is_read_in_pages_and_an_expired_continue_restarts_once() {
    let scenario = Scenario::builder()
        .deployment(NS, "web", |d| {
            d.bulk_history(1_200, |i, t| t.image("app", &format!("web:{i}")))
        })
        .build();
    let host = Host::start(scenario, Lifecycle::Handshake).await;
    let report = structured(&host.call("k8s_rollout_history", history("web")).await).clone();
    assert_eq!(report["omitted_older"], 1_180);
    assert_eq!(report["live_revision"], 1_200);
    let lists: Vec<String> = host
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/replicasets"))
        .map(|r| r.query)
        .collect();
    // A first page of 100 learns the objects are small; the rest come 500 to a request.
    assert_eq!(
        lists.len(),
        4,
        "1,200 in pages of 100, 500, 500, 100: {lists:?}"
    );
    let asked = |limit: u32| format!("limit={limit}");
    assert!(lists[0].contains(&asked(REVISION_PAGE_SIZE)), "{lists:?}");
    assert!(
        lists[1..].iter().all(|q| q.contains(&asked(PAGE_SIZE))),
        "{lists:?}"
    );
    assert!(lists[1].contains("continue="), "{lists:?}");

    host.sim().clear_requests();
    host.sim().inject_fault(
        Fault::on(Verb::List, "replicasets")
            .expire_continue()
            .once(),
    );
    let again = structured(&host.call("k8s_rollout_history", history("web")).await).clone();
    let objects = |report: &Value| -> Vec<(i64, String)> {
        report["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_i64().unwrap(),
                    r["object"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(objects(&again), objects(&report), "the same history");
    let statuses: Vec<u16> = host
        .sim()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/replicasets"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 410, 200, 200, 200, 200], "restarted once");

    host.sim().inject_fault(
        Fault::on(Verb::List, "replicasets")
            .expire_continue()
            .times(2),
    );
    let message = refusal(&host.call("k8s_rollout_history", history("web")).await);
    assert!(
        message.contains("410"),
        "a second expiry is reported: {message}"
    );
}

/// Peak memory of a history whose highest revision is numbered 2,000,000,000: before, the
/// deleted-revision warning listed every number below it.
#[tokio::test]
async fn a_revision_numbered_two_billion_costs_no_memory() {
    let mut server = RawServer::start_with(web(), SimOptions::new(), "warn").await;
    let uid = uid(server.sim(), "deployments", "web");
    server
        .sim()
        .create(
            "replicasets",
            NS,
            replica_set(
                "web-far",
                &uid,
                json!({"deployment.kubernetes.io/revision": "2000000000"}),
                Some(template("web:far")),
            ),
        )
        .expect("created");
    server.handshake().await;
    let before = server.peak_rss_kib();
    let response = server
        .request(1, "tools/call", call("k8s_rollout_history", history("web")))
        .await;
    assert_ne!(response["result"]["isError"], true, "{response}");
    let report = &response["result"]["structuredContent"];
    let shown = numbers(report);
    assert!(shown.contains(&2_000_000_000), "{shown:?}");
    let gap = warnings(report)
        .into_iter()
        .find(|w| w.contains("are not in the history"))
        .expect("the gap is named");
    assert!(gap.contains("-1999999999"), "{gap}");
    let after = server.peak_rss_kib();
    println!(
        "peak RSS (VmHWM) of the server for a history with revision 2,000,000,000: {:.1} MiB (before the call {:.1} MiB)",
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );
    assert!(after < 256 * 1024, "bounded: {after} KiB");
    assert!(result_text(&response).len() < 4096);
    server.assert_clean_stdout();
}
