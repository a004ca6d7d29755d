//! StatefulSets driven by unmodified kubectl: revision history and undo through
//! ControllerRevisions, ordered rolling updates, partitions, scaling, and `OnDelete`.

mod common;

use common::Kubectl;
use kube_sim::{ControllerMode, Scenario, Sim, SimOptions};

const NS: &str = "data";

/// `db` with three revisions; `then` shapes it after the last one.
fn db(then: impl FnOnce(kube_sim::WorkloadBuilder) -> kube_sim::WorkloadBuilder) -> Scenario {
    Scenario::builder()
        .statefulset(NS, "db", |s| {
            then(
                s.replicas(3)
                    .revision(|t| t.image("db", "pg:15.4").change_cause("v1").days_ago(3))
                    .revision(|t| t.image("db", "pg:15.5").change_cause("v2").days_ago(2))
                    .revision(|t| t.image("db", "pg:15.6").change_cause("v3").days_ago(1)),
            )
        })
        .build()
}

fn history(k: &Kubectl) -> String {
    k.run(&["-n", NS, "rollout", "history", "statefulset/db"])
        .ok()
        .stdout
}

fn pod_images(sim: &Sim) -> Vec<String> {
    (0..3)
        .map(|i| {
            sim.get("pods", NS, &format!("db-{i}"))
                .map(|p| {
                    p["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn history_undo_and_status() {
    let sim = Sim::start(db(|s| s)).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        history(&k),
        "statefulset.apps/db \nREVISION  CHANGE-CAUSE\n1         v1\n2         v2\n3         v3\n\n"
    );
    let rev = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "history",
            "statefulset/db",
            "--revision=1",
        ])
        .ok();
    assert!(rev.stdout.contains("Image:\tpg:15.4\n"), "{}", rev.stdout);
    assert_eq!(
        k.run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "statefulset/db",
            "--to-revision=1"
        ])
        .ok()
        .stdout,
        "statefulset.apps/db rolled back\n"
    );
    assert_eq!(
        history(&k),
        "statefulset.apps/db \nREVISION  CHANGE-CAUSE\n2         v2\n3         v3\n4         v1\n\n"
    );
    assert_eq!(pod_images(&sim), ["pg:15.4", "pg:15.4", "pg:15.4"]);
    let sts = k
        .run(&["-n", NS, "get", "statefulset", "db", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    assert_eq!(sts["status"]["updatedReplicas"], 3);
    assert_eq!(sts["status"]["collisionCount"], 0);
    let pod = sim.get("pods", NS, "db-1").unwrap();
    assert_eq!(
        pod["metadata"]["labels"]["controller-revision-hash"],
        sts["status"]["updateRevision"]
    );
    assert_eq!(
        pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
        "db-1"
    );
    let skipped = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "statefulset/db",
            "--to-revision=4",
        ])
        .ok();
    assert_eq!(
        skipped.stdout,
        "statefulset.apps/db skipped rollback (current template already matches revision 4)\n"
    );
    let dry = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "statefulset/db",
            "--dry-run=server",
        ])
        .ok();
    assert_eq!(
        dry.stdout,
        "statefulset.apps/db rolled back (server dry run)\n"
    );
    assert_eq!(pod_images(&sim), ["pg:15.4", "pg:15.4", "pg:15.4"]);
    // The defaulted partition (0) makes kubectl report a partitioned roll out, as on a real cluster.
    let status = k
        .run(&["-n", NS, "rollout", "status", "statefulset/db"])
        .ok();
    assert_eq!(
        status.stdout,
        "partitioned roll out complete: 3 new pods have been updated...\n"
    );
}

#[tokio::test]
async fn partition_holds_lower_ordinals_on_the_current_revision() {
    let sim = Sim::start(db(|s| s.partition(2))).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    k.run(&["-n", NS, "set", "image", "statefulset/db", "db=pg:16.0"])
        .ok();
    assert_eq!(pod_images(&sim), ["pg:15.6", "pg:15.6", "pg:16.0"]);
    let sts = sim.get("statefulsets", NS, "db").unwrap();
    assert_ne!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    assert_eq!(sts["status"]["updatedReplicas"], 1);
    assert_eq!(sts["status"]["currentReplicas"], 2);
    let status = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "status",
            "statefulset/db",
            "--watch=false",
        ])
        .ok();
    assert_eq!(
        status.stdout,
        "partitioned roll out complete: 1 new pods have been updated...\n"
    );
    k.run(&[
        "-n",
        NS,
        "patch",
        "statefulset/db",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ])
    .ok();
    assert_eq!(pod_images(&sim), ["pg:16.0", "pg:16.0", "pg:16.0"]);
}

#[tokio::test]
async fn rolling_update_goes_from_the_highest_ordinal_down() {
    let sim = Sim::start_with(
        db(|s| s),
        SimOptions::new().controllers(ControllerMode::OnTick),
    )
    .await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    k.run(&["-n", NS, "set", "image", "statefulset/db", "db=pg:16.0"])
        .ok();
    assert_eq!(
        pod_images(&sim),
        ["pg:15.6", "pg:15.6", "pg:15.6"],
        "controllers have not run yet"
    );
    let observed = |sim: &Sim| {
        let s = sim.get("statefulsets", NS, "db").unwrap();
        (
            s["metadata"]["generation"].clone(),
            s["status"]["observedGeneration"].clone(),
        )
    };
    let (generation, seen) = observed(&sim);
    assert_ne!(generation, seen);
    sim.reconcile();
    assert_eq!(pod_images(&sim), ["pg:16.0", "pg:16.0", "pg:16.0"]);
    let (generation, seen) = observed(&sim);
    assert_eq!(generation, seen);
    // The order of replacement, from the pods' creation order: db-2 first, db-0 last.
    let created = |i: usize| {
        sim.get("pods", NS, &format!("db-{i}")).unwrap()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(created(2) < created(1) && created(1) < created(0));
}

#[tokio::test]
async fn scale_and_on_delete() {
    let sim = Sim::start(db(|s| s.on_delete())).await;
    assert_eq!(pod_images(&sim), ["pg:15.6", "pg:15.6", "pg:15.6"]);
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        k.run(&["-n", NS, "scale", "statefulset/db", "--replicas=5"])
            .ok()
            .stdout,
        "statefulset.apps/db scaled\n"
    );
    assert!(sim.get("pods", NS, "db-4").is_some());
    k.run(&["-n", NS, "scale", "statefulset/db", "--replicas=3"])
        .ok();
    assert!(sim.get("pods", NS, "db-3").is_none());
    k.run(&["-n", NS, "set", "image", "statefulset/db", "db=pg:16.0"])
        .ok();
    assert_eq!(
        pod_images(&sim),
        ["pg:15.6", "pg:15.6", "pg:15.6"],
        "OnDelete leaves pods alone"
    );
    k.run(&["-n", NS, "delete", "pod", "db-1"]).ok();
    assert_eq!(pod_images(&sim), ["pg:15.6", "pg:16.0", "pg:15.6"]);
    let status = k
        .run(&["-n", NS, "rollout", "status", "statefulset/db"])
        .failed();
    assert_eq!(
        status.stderr,
        "error: rollout status is only available for RollingUpdate strategy type\n"
    );
    let created = k.run(&["-n", NS, "get", "pods", "-o", "json"]).ok().json();
    assert_eq!(created["items"].as_array().unwrap().len(), 3);
}

/// kubectl decides "already matches" by comparing its own Go encoding of the live template with
/// the revision's bytes, so this passes only if the stored templates are in Go's normal form
/// (defaults, `resources: {}`, probe timings, `hostPath.type: ""`, escaping, key order).
#[tokio::test]
async fn demo_templates_round_trip_through_kubectl_byte_for_byte() {
    let sim = Sim::start(Scenario::demo()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    for (workload, current) in [("statefulset/orders-db", 3), ("daemonset/node-agent", 3)] {
        let out = k
            .run(&[
                "-n",
                "shop",
                "rollout",
                "undo",
                workload,
                &format!("--to-revision={current}"),
            ])
            .ok();
        assert!(
            out.stdout.ends_with(&format!(
                "skipped rollback (current template already matches revision {current})\n"
            )),
            "{workload}: {}",
            out.stdout
        );
    }
}
