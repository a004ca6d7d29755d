//! The error paths kubectl users see: 404, 409 (already exists, stale resourceVersion), 403 from
//! the deny list, 422 validation, and injected server errors, each with the API server's wording.

mod common;

use common::Kubectl;
use kube_sim::{Fault, Scenario, Sim, Verb};
use serde_json::json;

const NS: &str = "shop";

fn web() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.revision(|t| t.image("web", "nginx:1.0").days_ago(1))
        })
        .build()
}

fn manifest(name: &str, labels: serde_json::Value) -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    .to_string()
}

#[tokio::test]
async fn not_found() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let out = k.run(&["-n", NS, "get", "deployment", "nope"]).failed();
    assert_eq!(
        out.stderr,
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
    let out = k
        .run(&["-n", NS, "rollout", "undo", "deployment/nope"])
        .failed();
    assert_eq!(
        out.stderr,
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
    let out = k.run(&["-n", "missing", "get", "pods"]).ok();
    assert_eq!(out.stderr, "No resources found in missing namespace.\n");
}

#[tokio::test]
async fn conflicts() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let file = k.file("web.json", &manifest("web", json!({"app": "web"})));
    let out = k
        .run(&["create", "-f", file.to_str().unwrap(), "--validate=false"])
        .failed();
    assert_eq!(
        out.stderr,
        format!(
            "Error from server (AlreadyExists): error when creating \"{}\": deployments.apps \"web\" already exists\n",
            file.display()
        )
    );
    // A replace carrying a resourceVersion someone else has moved past.
    let mut stale = k
        .run(&["-n", NS, "get", "deployment", "web", "-o", "json"])
        .ok()
        .json();
    sim.update("deployments", NS, "web", |d| {
        d["spec"]["replicas"] = json!(2)
    })
    .unwrap();
    stale["spec"]["replicas"] = json!(5);
    let stale_file = k.file("stale.json", &stale.to_string());
    let out = k
        .run(&[
            "replace",
            "-f",
            stale_file.to_str().unwrap(),
            "--validate=false",
        ])
        .failed();
    assert_eq!(
        out.stderr,
        format!(
            "Error from server (Conflict): error when replacing \"{}\": Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again\n",
            stale_file.display()
        )
    );
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["replicas"],
        2
    );
}

#[tokio::test]
async fn forbidden() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    sim.deny_in(Verb::Patch, "deployments", NS);
    sim.deny(Verb::List, "replicasets");
    let out = k
        .run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:2"])
        .failed();
    assert_eq!(
        out.stderr,
        "error: failed to patch image update to pod template: deployments.apps \"web\" is forbidden: User \"kubernetes-admin\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\"\n"
    );
    let out = k.run(&["-n", NS, "get", "replicasets"]).failed();
    assert_eq!(
        out.stderr,
        "Error from server (Forbidden): replicasets.apps is forbidden: User \"kubernetes-admin\" cannot list resource \"replicasets\" in API group \"apps\" in the namespace \"shop\"\n"
    );
    sim.clear_denials();
    k.run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:2"])
        .ok();
}

#[tokio::test]
async fn invalid() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    let file = k.file("bad.json", &manifest("bad", json!({"app": "other"})));
    let out = k
        .run(&["create", "-f", file.to_str().unwrap(), "--validate=false"])
        .failed();
    assert_eq!(
        out.stderr,
        "The Deployment \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n"
    );
    let out = k.run(&["-n", NS, "patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}"#]).failed();
    assert!(out.stderr.contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"), "{}", out.stderr);
}

#[tokio::test]
async fn injected_server_errors_and_dropped_connections() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    sim.inject_fault(
        Fault::on(Verb::Get, "deployments")
            .named("web")
            .status(500)
            .once(),
    );
    let out = k.run(&["-n", NS, "get", "deployment", "web"]).failed();
    assert_eq!(
        out.stderr,
        "Error from server (InternalError): injected fault: InternalError (500)\n"
    );
    k.run(&["-n", NS, "get", "deployment", "web"]).ok();
    sim.inject_fault(
        Fault::on(Verb::Patch, "deployments")
            .drop_connection()
            .once(),
    );
    let out = k
        .run(&["-n", NS, "scale", "deployment/web", "--replicas=2"])
        .ok();
    assert_eq!(
        out.stdout, "deployment.apps/web scaled\n",
        "a different resource (deployments/scale) is not affected"
    );
    let out = k
        .run(&["-n", NS, "set", "image", "deployment/web", "web=nginx:3"])
        .failed();
    assert!(out.stderr.contains("EOF"), "{}", out.stderr);
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.0"
    );
    let dropped = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.status == 0)
        .count();
    assert_eq!(dropped, 1);
}
