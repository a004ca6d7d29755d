//! Events served in both versions from one store (`events.k8s.io/v1` and core `v1`), with field
//! selectors, watches, the deny list and kubectl; `SelfSubjectReview`; the request log's
//! `User-Agent`.

mod common;

use common::{Kubectl, events, http};
use kube_sim::{Scenario, Sim, SimOptions, Verb};
use serde_json::{Value, json};

const NS: &str = "shop";
const EVENTS_V1: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
const CORE: &str = "/api/v1/namespaces/shop/events";
const SSR: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

fn web() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.revision(|t| t.image("web", "nginx:1.0").days_ago(1))
        })
        .build()
}

fn rollback_event(name: &str, kind: &str, event_type: &str) -> String {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": NS},
        "eventTime": "2024-05-01T12:00:00.000000Z",
        "reportingController": "k8s-rollout-mcp", "reportingInstance": "laptop",
        "action": "Rollback", "reason": "RollbackApproved", "type": event_type,
        "regarding": {"apiVersion": "apps/v1", "kind": kind, "name": "web", "namespace": NS},
        "note": "rolled back to revision 1",
    })
    .to_string()
}

fn create(sim: &Sim, body: &str) -> Value {
    let r = http(sim, "POST", EVENTS_V1, Some("application/json"), body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_event_created_as_events_v1_reads_back_in_both_versions() {
    let sim = Sim::start(web()).await;
    let created = create(&sim, &rollback_event("web.1", "Deployment", "Normal"));
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    assert_eq!(created["regarding"]["name"], "web");
    assert_eq!(created["note"], "rolled back to revision 1");

    let core = http(&sim, "GET", &format!("{CORE}/web.1"), None, "").json();
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["involvedObject"]["kind"], "Deployment");
    assert_eq!(core["message"], "rolled back to revision 1");
    assert_eq!(core["reportingComponent"], "k8s-rollout-mcp");
    assert_eq!(
        core["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let list = http(&sim, "GET", EVENTS_V1, None, "").json();
    assert_eq!(list["kind"], "EventList");
    assert_eq!(list["apiVersion"], "events.k8s.io/v1");
    assert_eq!(list["items"][0]["note"], "rolled back to revision 1");

    let gone = http(&sim, "DELETE", &format!("{EVENTS_V1}/web.1"), None, "");
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(
        http(&sim, "GET", &format!("{CORE}/web.1"), None, "").status,
        404
    );
}

#[tokio::test]
async fn events_v1_refuses_what_the_api_server_refuses() {
    let sim = Sim::start(web()).await;
    let mut long: Value =
        serde_json::from_str(&rollback_event("a", "Deployment", "Normal")).unwrap();
    long["note"] = json!("x".repeat(1025));
    let r = http(
        &sim,
        "POST",
        EVENTS_V1,
        Some("application/json"),
        &long.to_string(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("note"), "{}", r.body);
    let r = http(
        &sim,
        "POST",
        EVENTS_V1,
        Some("application/json"),
        &rollback_event("b", "Deployment", "Loud"),
    );
    assert_eq!(r.status, 422, "{}", r.body);
}

#[tokio::test]
async fn field_selectors_pick_warnings_and_the_involved_object() {
    let sim = Sim::start(web()).await;
    create(&sim, &rollback_event("dep", "Deployment", "Normal"));
    create(&sim, &rollback_event("warn", "Deployment", "Warning"));
    create(&sim, &rollback_event("rs", "ReplicaSet", "Warning"));
    let core = |selector: &str| {
        http(
            &sim,
            "GET",
            &format!("{CORE}?fieldSelector={selector}"),
            None,
            "",
        )
        .json()
    };
    assert_eq!(names(&core("type%3DWarning")), ["rs", "warn"]);
    assert_eq!(
        names(&core("involvedObject.kind%3DDeployment,type%3DWarning")),
        ["warn"]
    );
    assert_eq!(
        names(&core("involvedObject.name%3Dweb,reason%3DRollbackApproved")).len(),
        3
    );
    let v1 = http(
        &sim,
        "GET",
        &format!("{EVENTS_V1}?fieldSelector=regarding.kind%3DReplicaSet"),
        None,
        "",
    )
    .json();
    assert_eq!(names(&v1), ["rs"]);
    let bad = http(
        &sim,
        "GET",
        &format!("{CORE}?fieldSelector=note%3Dx"),
        None,
        "",
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn a_watch_on_events_v1_sees_events_in_its_version() {
    let sim = Sim::start(web()).await;
    create(&sim, &rollback_event("web.1", "Deployment", "Normal"));
    let r = http(
        &sim,
        "GET",
        &format!("{EVENTS_V1}?watch=1&timeoutSeconds=0"),
        None,
        "",
    );
    let lines = events(&r.body);
    assert_eq!(lines[0]["type"], "ADDED");
    assert_eq!(lines[0]["object"]["regarding"]["name"], "web");
}

#[tokio::test]
async fn the_deny_list_forbids_event_writes_in_both_groups() {
    let sim = Sim::start(web()).await;
    sim.deny(Verb::Create, "events");
    let r = http(
        &sim,
        "POST",
        EVENTS_V1,
        Some("application/json"),
        &rollback_event("a", "Deployment", "Normal"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "events.events.k8s.io is forbidden: User \"kubernetes-admin\" cannot create resource \"events\" in API group \"events.k8s.io\" in the namespace \"shop\""
    );
    let core = json!({"metadata": {"name": "b"}, "involvedObject": {"name": "web"}}).to_string();
    assert_eq!(
        http(&sim, "POST", CORE, Some("application/json"), &core).status,
        403
    );
}

#[tokio::test]
async fn a_self_subject_review_names_the_configured_user() {
    let sim = Sim::start_with(
        web(),
        SimOptions::new()
            .user("jane")
            .groups(&["devs", "system:authenticated"]),
    )
    .await;
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let r = http(
        &sim,
        "POST",
        SSR,
        Some("application/json"),
        &body.to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json()["status"]["userInfo"],
        json!({"username": "jane", "groups": ["devs", "system:authenticated"]})
    );
    assert_eq!(http(&sim, "GET", SSR, None, "").status, 405);
    sim.deny(Verb::Create, "selfsubjectreviews");
    assert_eq!(
        http(
            &sim,
            "POST",
            SSR,
            Some("application/json"),
            &body.to_string()
        )
        .status,
        403
    );
}

#[tokio::test]
async fn the_request_log_records_the_user_agent() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    k.run(&["-n", NS, "get", "deployments"]).ok();
    let requests = sim.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let agent = r.user_agent.as_deref().unwrap_or("");
        assert!(
            agent.starts_with("kubectl"),
            "{} {}: {agent:?}",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn kubectl_gets_events_from_the_sim() {
    let sim = Sim::start(web()).await;
    let Some(k) = Kubectl::for_sim(&sim) else {
        return;
    };
    create(&sim, &rollback_event("web.1", "Deployment", "Normal"));
    let out = k.run(&["-n", NS, "get", "events"]).ok();
    let header = out.stdout.lines().next().unwrap_or("");
    assert!(header.starts_with("LAST SEEN"), "{}", out.stdout);
    assert!(
        out.stdout.contains("RollbackApproved") && out.stdout.contains("deployment/web"),
        "{}",
        out.stdout
    );
    let json = k
        .run(&["-n", NS, "get", "events", "-o", "json"])
        .ok()
        .json();
    assert_eq!(json["items"][0]["reason"], "RollbackApproved");
    assert_eq!(json["items"][0]["involvedObject"]["name"], "web");
    let v1 = k
        .run(&["-n", NS, "get", "events.events.k8s.io", "-o", "json"])
        .ok()
        .json();
    assert_eq!(v1["items"][0]["regarding"]["name"], "web");
}
