//! The same rollout workflow through every installed kubectl minor version: `/version` steers the
//! kubectl dispatcher, so each sim below is served to a different `kubectl.1.NN`.

mod common;

use common::Kubectl;
use kube_sim::{Scenario, Sim, SimOptions};

const NS: &str = "shop";

fn scenario() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(2)
                .revision(|t| t.image("web", "nginx:1.0").change_cause("v1").days_ago(3))
                .revision(|t| t.image("web", "nginx:1.1").change_cause("v2").days_ago(2))
                .revision(|t| {
                    t.image("web", "nginx:broken-unpullable")
                        .change_cause("v3")
                        .hours_ago(1)
                })
        })
        .daemonset(NS, "agent", |d| {
            d.revision(|t| t.image("agent", "agent:1").change_cause("a1").days_ago(3))
                .revision(|t| t.image("agent", "agent:2").change_cause("a2").days_ago(1))
        })
        .statefulset(NS, "db", |s| {
            s.revision(|t| t.image("db", "pg:1").change_cause("d1").days_ago(3))
                .revision(|t| t.image("db", "pg:2").change_cause("d2").days_ago(1))
        })
        .build()
}

async fn workflow(minor: u32) {
    let sim = Sim::start_with(scenario(), SimOptions::new().kube_version(minor)).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let version = k.run(&["version", "-o", "json"]).ok().json();
    // The dispatcher is itself a 1.32 build (minor "32+"), so compare the release line.
    let client = version["clientVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        client.starts_with(&format!("v1.{minor}.")),
        "the dispatcher picked {client} for 1.{minor}"
    );
    assert_eq!(version["serverVersion"]["minor"], minor.to_string());

    let stuck = k
        .run(&["-n", NS, "rollout", "status", "deployment/web"])
        .failed();
    assert_eq!(
        stuck.stderr, "error: deployment \"web\" exceeded its progress deadline\n",
        "kubectl 1.{minor}"
    );
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--dry-run=server",
        ])
        .ok();
    assert_eq!(
        out.stdout, "deployment.apps/web rolled back (server dry run)\n",
        "kubectl 1.{minor}"
    );
    let out = k.run(&["-n", NS, "rollout", "undo", "deployment/web"]).ok();
    assert_eq!(
        out.stdout, "deployment.apps/web rolled back\n",
        "kubectl 1.{minor}"
    );
    let out = k
        .run(&["-n", NS, "rollout", "history", "deployment/web"])
        .ok();
    assert_eq!(
        out.stdout,
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         v1\n3         v3\n4         v2\n\n",
        "kubectl 1.{minor}"
    );
    let out = k
        .run(&["-n", NS, "rollout", "status", "deployment/web"])
        .ok();
    assert_eq!(
        out.stdout, "deployment \"web\" successfully rolled out\n",
        "kubectl 1.{minor}"
    );
    let out = k
        .run(&[
            "-n",
            NS,
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=4",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "deployment.apps/web skipped rollback (current template already matches revision 4)\n",
        "kubectl 1.{minor}"
    );

    for (kind, first) in [("daemonset/agent", "a1"), ("statefulset/db", "d1")] {
        let out = k.run(&["-n", NS, "rollout", "undo", kind]).ok();
        assert!(
            out.stdout.ends_with(" rolled back\n"),
            "kubectl 1.{minor} {kind}: {}",
            out.stdout
        );
        let out = k.run(&["-n", NS, "rollout", "history", kind]).ok();
        assert!(
            out.stdout.ends_with(&format!("3         {first}\n\n")),
            "kubectl 1.{minor} {kind}: {}",
            out.stdout
        );
        let out = k
            .run(&["-n", NS, "rollout", "undo", kind, "--to-revision=3"])
            .ok();
        assert!(
            out.stdout
                .ends_with("skipped rollback (current template already matches revision 3)\n"),
            "kubectl 1.{minor} {kind}: {}",
            out.stdout
        );
    }
    let out = k
        .run(&["-n", NS, "rollout", "status", "daemonset/agent"])
        .ok();
    assert_eq!(
        out.stdout, "daemon set \"agent\" successfully rolled out\n",
        "kubectl 1.{minor}"
    );
    let out = k.run(&["-n", NS, "get", "deployments"]).ok();
    assert!(out.stdout.starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    2/2     2            2           3d"), "kubectl 1.{minor}: {}", out.stdout);
}

#[tokio::test]
async fn kubectl_1_27() {
    workflow(27).await;
}

#[tokio::test]
async fn kubectl_1_28() {
    workflow(28).await;
}

#[tokio::test]
async fn kubectl_1_29() {
    workflow(29).await;
}

#[tokio::test]
async fn kubectl_1_30() {
    workflow(30).await;
}

#[tokio::test]
async fn kubectl_1_31() {
    workflow(31).await;
}

#[tokio::test]
async fn kubectl_1_32() {
    workflow(32).await;
}

#[tokio::test]
async fn kubectl_1_33() {
    workflow(33).await;
}
