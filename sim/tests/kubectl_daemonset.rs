//! DaemonSets driven by unmodified kubectl: ControllerRevision history, undo (including the byte
//! comparison kubectl uses to skip a rollback to the current template), status and the commands
//! kubectl refuses for DaemonSets.

mod common;

use common::Kubectl;
use kube_sim::{Scenario, Sim, SimOptions};
use serde_json::json;

const NS: &str = "ops";

fn agent() -> Scenario {
    Scenario::builder()
        .daemonset(NS, "agent", |d| {
            d.revision(|t| t.image("agent", "agent:1").change_cause("v1").days_ago(3))
                .revision(|t| {
                    t.image("agent", "agent:2")
                        .env("agent", "MODE", "fast")
                        .change_cause("v2")
                        .days_ago(2)
                })
                .revision(|t| t.image("agent", "agent:3").change_cause("v3").days_ago(1))
        })
        .build()
}

fn history(k: &Kubectl, name: &str) -> String {
    k.run(&["-n", NS, "rollout", "history", &format!("daemonset/{name}")])
        .ok()
        .stdout
}

#[tokio::test]
async fn history_undo_and_renumbering() {
    let sim = Sim::start_with(agent(), SimOptions::new().nodes(4)).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        history(&k, "agent"),
        "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         v1\n2         v2\n3         v3\n\n"
    );
    let rev = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "history",
            "daemonset/agent",
            "--revision=2",
        ])
        .ok();
    assert!(
        rev.stdout
            .starts_with("daemonset.apps/agent with revision #2\nPod Template:\n"),
        "{}",
        rev.stdout
    );
    assert!(
        rev.stdout.contains("Image:\tagent:2\n") && rev.stdout.contains("MODE:\tfast"),
        "{}",
        rev.stdout
    );

    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "daemonset/agent",
            "--to-revision=2",
        ])
        .ok();
    assert_eq!(out.stdout, "daemonset.apps/agent rolled back\n");
    assert_eq!(
        history(&k, "agent"),
        "daemonset.apps/agent \nREVISION  CHANGE-CAUSE\n1         v1\n3         v3\n4         v2\n\n"
    );
    let skipped = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "daemonset/agent",
            "--to-revision=4",
        ])
        .ok();
    assert_eq!(
        skipped.stdout,
        "daemonset.apps/agent skipped rollback (current template already matches revision 4)\n"
    );
    let ds = k
        .run(&["-n", NS, "get", "daemonset", "agent", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        "agent:2"
    );
    assert_eq!(ds["status"]["desiredNumberScheduled"], 4);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 4);
    assert_eq!(ds["status"]["numberAvailable"], 4);
    assert_eq!(
        ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"],
        "4"
    );
    let pods = sim.list("pods", NS);
    assert_eq!(pods.len(), 4);
    let cr = sim
        .list("controllerrevisions", NS)
        .into_iter()
        .find(|c| c["revision"] == 4)
        .unwrap();
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["controller-revision-hash"]
                == cr["metadata"]["labels"]["controller-revision-hash"])
    );
    assert_eq!(
        k.run(&["-n", NS, "rollout", "status", "daemonset/agent"])
            .ok()
            .stdout,
        "daemon set \"agent\" successfully rolled out\n"
    );
}

#[tokio::test]
async fn set_image_dry_run_and_unsupported_commands() {
    let sim = Sim::start(agent()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    assert_eq!(
        k.run(&["-n", NS, "set", "image", "daemonset/agent", "agent=agent:4"])
            .ok()
            .stdout,
        "daemonset.apps/agent image updated\n"
    );
    assert!(
        history(&k, "agent").ends_with("4         v3\n\n"),
        "the workload's change-cause at snapshot time: {}",
        history(&k, "agent")
    );
    sim.clear_requests();
    let before = sim.get("daemonsets", NS, "agent").unwrap();
    let dry = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "daemonset/agent",
            "--dry-run=server",
        ])
        .ok();
    assert_eq!(
        dry.stdout,
        "daemonset.apps/agent rolled back (server dry run)\n"
    );
    let writes = sim.mutating_requests();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].dry_run);
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        writes[0].json().unwrap()["spec"]["template"]["$patch"],
        json!("replace")
    );
    assert_eq!(sim.get("daemonsets", NS, "agent").unwrap(), before);
    let pause = k
        .run(&["-n", NS, "rollout", "pause", "daemonset/agent"])
        .failed();
    assert_eq!(
        pause.stderr,
        "error: daemonsets.apps \"agent\" pausing is not supported\n"
    );
    let scale = k
        .run(&["-n", NS, "scale", "daemonset/agent", "--replicas=2"])
        .failed();
    assert_eq!(
        scale.stderr,
        "Error from server (NotFound): the server could not find the requested resource\n"
    );
}

#[tokio::test]
async fn create_apply_and_on_delete() {
    let sim = Sim::start(Scenario::builder().namespace(NS).build()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let manifest = |image: &str, strategy: &str| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "logs", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": "logs"}}, "updateStrategy": {"type": strategy},
                "template": {"metadata": {"labels": {"app": "logs"}}, "spec": {"containers": [{"name": "logs", "image": image}]}}}})
        .to_string()
    };
    let v1 = k.file("v1.json", &manifest("logs:1", "OnDelete"));
    assert_eq!(
        k.run(&["create", "-f", v1.to_str().unwrap(), "--validate=false"])
            .ok()
            .stdout,
        "daemonset.apps/logs created\n"
    );
    let v2 = k.file("v2.json", &manifest("logs:2", "OnDelete"));
    assert_eq!(
        k.run(&["apply", "-f", v2.to_str().unwrap(), "--validate=false"])
            .ok()
            .stdout,
        "daemonset.apps/logs configured\n"
    );
    // OnDelete: the pods keep the old template until deleted.
    let pods = sim.list("pods", NS);
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "logs:1")
    );
    let status = k
        .run(&["-n", NS, "rollout", "status", "daemonset/logs"])
        .failed();
    assert_eq!(
        status.stderr,
        "error: rollout status is only available for RollingUpdate strategy type\n"
    );
    let victim = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    k.run(&["-n", NS, "delete", "pod", &victim]).ok();
    let images: Vec<String> = sim
        .list("pods", NS)
        .iter()
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        images.iter().filter(|i| *i == "logs:2").count(),
        1,
        "{images:?}"
    );
    assert_eq!(history(&k, "logs").lines().count(), 5);
}

/// Shell commands and env values with `&`, `<` and `>` must be escaped the way Go escapes them,
/// or kubectl's byte comparison with the ControllerRevision fails.
#[tokio::test]
async fn html_characters_survive_kubectl_byte_comparison() {
    let scenario = Scenario::builder()
        .daemonset(NS, "shell", |d| {
            d.revision(|t| {
                t.image("sh", "busybox:1.36")
                    .command("sh", &["sh", "-c", "mkdir -p /x && echo ok > /x/ready"])
                    .env("sh", "BANNER", "<b>hello & welcome</b>")
                    .liveness_probe(
                        "sh",
                        json!({"exec": {"command": ["test", "-f", "/x/ready"]}}),
                    )
                    .days_ago(1)
            })
        })
        .build();
    let sim = Sim::start(scenario).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "daemonset/shell",
            "--to-revision=1",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "daemonset.apps/shell skipped rollback (current template already matches revision 1)\n"
    );
}
