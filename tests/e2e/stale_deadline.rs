//! The stale deadline: right after an undo of a deploy past its progress deadline, the
//! Deployment controller still shows `ProgressDeadlineExceeded` (it replaces the condition only
//! once the restored ReplicaSet makes progress). `wait` must see through that window and end
//! `complete`, naming the ReplicaSet it is about.

use std::time::Duration;

use kube_sim::{ControllerMode, Scenario, SimOptions};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, HostOptions, Lifecycle, structured, text};

fn progressing(deployment: &Value) -> Value {
    deployment["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|condition| condition["type"] == "Progressing")
        .cloned()
        .unwrap_or(Value::Null)
}

on_both_backends!(an_undo_of_a_deploy_past_its_deadline_with_wait_ends_complete);
async fn an_undo_of_a_deploy_past_its_deadline_with_wait_ends_complete(backend: Backend) {
    // Revision 3 crash-loops past its deadline; revision 1's ReplicaSet was scaled to zero long
    // ago, so the controller sees no progress at first. (kube-sim's controllers lag the write
    // on purpose; kube-real's always do.)
    let scenario = Scenario::builder()
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(5)
                .revision(|t| t.image("app", "web:1").days_ago(3))
                .revision(|t| t.image("app", "web:2").days_ago(2))
                .revision(|t| t.image("app", "web:3-crashloop").hours_ago(3))
        })
        .build();
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.sim =
        SimOptions::new().controllers(ControllerMode::Delayed(Duration::from_millis(300)));
    let host = Host::start_with(scenario, options).await;
    let before = host
        .cluster
        .get("deployments", "shop", "web")
        .await
        .unwrap();
    let stale = progressing(&before);
    assert_eq!(stale["reason"], "ProgressDeadlineExceeded");

    host.answer(Answer::approve("alice"));
    let result = host
        .call(
            "k8s_rollout_undo",
            json!({"resource_type": "deployment", "name": "web", "namespace": "shop",
                   "to_revision": 1, "wait": true, "timeout_seconds": 30}),
        )
        .await;
    let report = structured(&result);
    let status = &report["status"];
    assert_eq!(
        (status["state"].as_str(), status["done"].as_bool()),
        (Some("complete"), Some(true)),
        "{}",
        text(&result)
    );
    assert_eq!(report["new_revision"], 4);
    let restored = report["new_revision_object"].as_str().unwrap();
    assert!(restored.starts_with("web-"), "{restored}");
    assert_eq!(
        status["live_revision_object"], restored,
        "the status names the ReplicaSet it is about"
    );
    assert!(
        text(&result).contains(&format!("revision: 4 ({restored})")),
        "{}",
        text(&result)
    );
    assert_eq!(
        host.audit_events(),
        vec![
            "planned",
            "dry_run",
            "approval_requested",
            "approved",
            "written",
            "read_back"
        ],
        "no failure on the record"
    );

    // The window was there: the controller observed the undo and kept the old condition. Only
    // the sim keeps every event for a replay from the plan's resourceVersion.
    if backend != Backend::Sim {
        return;
    }
    let generation =
        host.sim().get("deployments", "shop", "web").unwrap()["metadata"]["generation"]
            .as_i64()
            .unwrap();
    let url = format!(
        "{}/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion={}&timeoutSeconds=1",
        host.sim().url(),
        before["metadata"]["resourceVersion"].as_str().unwrap()
    );
    let replay = tokio::task::spawn_blocking(move || watch_replay(&url))
        .await
        .unwrap();
    assert!(
        replay.iter().any(|d| {
            d["status"]["observedGeneration"].as_i64() == Some(generation)
                && progressing(d) == stale
        }),
        "the controller kept the stale deadline condition after observing the undo"
    );
}

/// The objects of a finished watch, read over plain HTTP/1.1 (the sim sends one event per
/// chunk, so chunk-size lines are the only other lines).
fn watch_replay(url: &str) -> Vec<Value> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .map(|event| event["object"].clone())
        .filter(Value::is_object)
        .collect()
}

/// A rollback by anyone (here kubectl's own patch) to an existing ReplicaSet, seen by a plain
/// `k8s_rollout_status` between the controller observing it and the restored ReplicaSet's
/// first progress: kubectl says the deadline was exceeded; the condition names the ReplicaSet
/// of the rollout before, so this is "progressing", with the left-over condition named.
///
/// kube-sim only: its controllers can be held inside that window, which real controllers
/// close within a sync or two.
#[tokio::test]
async fn a_status_in_the_window_names_the_left_over_deadline_instead_of_failing() {
    let scenario = Scenario::builder()
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(5)
                .revision(|t| t.image("app", "web:1").days_ago(3))
                .revision(|t| t.image("app", "web:2-crashloop").hours_ago(3))
        })
        .build();
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.sim = SimOptions::new().controllers(ControllerMode::OnTick);
    let host = Host::start_with(scenario, options).await;
    let sim = host.sim();
    let stale = progressing(&sim.get("deployments", "shop", "web").unwrap());
    let replica_sets = sim.list("replicasets", "shop");
    let by_image = |image: &str| {
        replica_sets
            .iter()
            .find(|rs| rs["spec"]["template"]["spec"]["containers"][0]["image"] == image)
            .unwrap()
            .clone()
    };
    let (good, bad) = (by_image("web:1"), by_image("web:2-crashloop"));
    assert_eq!(
        stale["message"],
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            bad["metadata"]["name"].as_str().unwrap()
        )
    );
    // The rollback: revision 1's template, observed by the controller, no progress yet.
    let mut template = good["spec"]["template"].clone();
    template["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("pod-template-hash");
    let rolled_back = sim
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"] = template;
        })
        .unwrap();
    sim.update_status("deployments", "shop", "web", |d| {
        d["status"]["observedGeneration"] = rolled_back["metadata"]["generation"].clone();
        d["status"]["updatedReplicas"] = json!(0);
    })
    .unwrap();

    let result = host
        .call(
            "k8s_rollout_status",
            json!({"resource_type": "deployment", "name": "web", "namespace": "shop"}),
        )
        .await;
    let report = structured(&result);
    assert_eq!(
        (report["state"].as_str(), report["message"].as_str()),
        (
            Some("progressing"),
            Some(
                "Waiting for deployment \"web\" rollout to finish: 0 out of 2 new replicas have been updated..."
            )
        ),
        "{}",
        text(&result)
    );
    assert_eq!(report["live_revision_object"], good["metadata"]["name"]);
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains(stale["message"].as_str().unwrap())
            && hint.contains("left over from the rollout before this one"),
        "{hint}"
    );
    if let Some(kubectl) = super::kubectl::Kubectl::for_cluster(&host.cluster) {
        let (_, printed, error) = kubectl.run(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "shop",
            "--watch=false",
        ]);
        assert!(
            format!("{printed}{error}").contains("exceeded its progress deadline"),
            "kubectl's verdict, which this departs from: {printed}{error}"
        );
    }
}
