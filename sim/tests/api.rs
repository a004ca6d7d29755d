//! API semantics below what kubectl exercises: optimistic concurrency, patch failures, dry runs,
//! list paging and selectors, watches (resume, selector transitions, expiry), subresources,
//! garbage collection, controller timing modes and fault injection.

mod common;

use std::time::{Duration, Instant};

use common::{events, http};
use kube_sim::{ControllerMode, Fault, RolloutModel, Scenario, Sim, SimOptions, Verb};
use serde_json::{Value, json};

const NS: &str = "shop";
const WEB: &str = "/apis/apps/v1/namespaces/shop/deployments/web";

fn web(replicas: i64) -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(replicas)
                .revision(|t| t.image("web", "nginx:1.0").change_cause("v1").days_ago(2))
                .revision(|t| t.image("web", "nginx:1.1").change_cause("v2").days_ago(1))
        })
        .build()
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn writes_with_a_stale_resource_version_conflict() {
    let sim = Sim::start(web(2)).await;
    let current = sim.get("deployments", NS, "web").unwrap();
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 5}}).to_string();
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        &stale,
    );
    assert_eq!(r.status, 409);
    let status = r.json();
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        status["details"],
        json!({"name": "web", "group": "apps", "kind": "deployments"})
    );
    let fresh =
        json!({"metadata": {"resourceVersion": rv(&current)}, "spec": {"replicas": 5}}).to_string();
    assert_eq!(
        http(
            &sim,
            "PATCH",
            WEB,
            Some("application/merge-patch+json"),
            &fresh
        )
        .status,
        200
    );
    let mut put = current.clone();
    put["spec"]["replicas"] = json!(1);
    let r = http(&sim, "PUT", WEB, Some("application/json"), &put.to_string());
    assert_eq!(r.status, 409, "the PUT carries the old resourceVersion");
    put["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(
        http(&sim, "PUT", WEB, Some("application/json"), &put.to_string()).status,
        200,
        "no resourceVersion: unconditional"
    );
}

#[tokio::test]
async fn json_patch_test_failures_are_unprocessable() {
    let sim = Sim::start(web(1)).await;
    let patch = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
                       {"op": "replace", "path": "/spec/replicas", "value": 3}]);
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/json-patch+json"),
        &patch.to_string(),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["reason"], "Invalid");
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "testing value /metadata/resourceVersion failed: test failed"
    );
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["replicas"],
        1
    );
}

#[tokio::test]
async fn malformed_requests_get_client_errors() {
    let sim = Sim::start(web(1)).await;
    for (method, ct, body, code) in [
        (
            "PATCH",
            Some("application/strategic-merge-patch+json"),
            "{not json",
            400,
        ),
        ("PATCH", Some("application/merge-patch+json"), "[1,2]", 400),
        (
            "PATCH",
            Some("application/json-patch+json"),
            "{\"op\":\"add\"}",
            400,
        ),
        (
            "PATCH",
            Some("application/strategic-merge-patch+json"),
            "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}}}",
            400,
        ),
        ("PATCH", Some("text/plain"), "{}", 415),
        (
            "PATCH",
            Some("application/merge-patch+json"),
            "{\"spec\":{\"replicas\":\"three\"}}",
            400,
        ),
        (
            "PATCH",
            Some("application/merge-patch+json"),
            "{\"spec\":{\"replicas\":-1}}",
            422,
        ),
        (
            "PATCH",
            Some("application/merge-patch+json"),
            "{\"spec\":{\"replicas\":100000}}",
            422,
        ),
        ("PUT", Some("application/json"), "", 400),
        ("POST", Some("application/json"), "\u{0}", 400),
        (
            "POST",
            Some("application/json"),
            "{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}",
            400,
        ),
        ("DELETE", None, "{nope", 400),
    ] {
        let path = if method == "POST" {
            "/apis/apps/v1/namespaces/shop/deployments"
        } else {
            WEB
        };
        let r = http(&sim, method, path, ct, body);
        assert_eq!(r.status, code, "{method} {body}: {}", r.body);
        assert_eq!(r.json()["kind"], "Status", "{}", r.body);
    }
    assert_eq!(
        http(&sim, "GET", "/apis/batch/v1/jobs", None, "").status,
        404
    );
    assert_eq!(
        http(&sim, "POST", WEB, Some("application/json"), "{}").status,
        405
    );
    let r = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?labelSelector=a+b",
        None,
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?fieldSelector=spec.replicas%3D1",
        None,
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["replicas"],
        1
    );
}

#[tokio::test]
async fn dry_run_validates_and_stores_nothing() {
    let sim = Sim::start(web(1)).await;
    let before = sim.list("replicasets", NS);
    let r = http(
        &sim,
        "PATCH",
        &format!("{WEB}?dryRun=All"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":4,"template":{"spec":{"containers":[{"name":"web","image":"nginx:9"}]}}}}"#,
    );
    assert_eq!(r.status, 200);
    let would_be = r.json();
    assert_eq!(would_be["spec"]["replicas"], 4);
    assert_eq!(would_be["metadata"]["generation"], 3);
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["replicas"],
        1
    );
    assert_eq!(sim.list("replicasets", NS), before, "no controller ran");
    let bad = http(
        &sim,
        "PATCH",
        &format!("{WEB}?dryRun=All"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":-4}}"#,
    );
    assert_eq!(bad.status, 422, "dry runs are validated");
    let create = json!({"metadata": {"name": "new"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let r = http(
        &sim,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments?dryRun=All",
        Some("application/json"),
        &create.to_string(),
    );
    assert_eq!(r.status, 201);
    assert!(r.json()["metadata"]["uid"].is_string());
    assert!(sim.get("deployments", NS, "new").is_none());
    assert_eq!(
        http(&sim, "DELETE", &format!("{WEB}?dryRun=All"), None, "").status,
        200
    );
    assert!(sim.get("deployments", NS, "web").is_some());
    assert_eq!(
        http(&sim, "DELETE", &format!("{WEB}?dryRun=Sometimes"), None, "").status,
        400
    );
    let flagged: Vec<bool> = sim.mutating_requests().iter().map(|r| r.dry_run).collect();
    assert_eq!(flagged, [true, true, true, true, true]);
}

#[tokio::test]
async fn generation_moves_with_the_spec_and_a_deployments_annotations() {
    let sim = Sim::start(web(1)).await;
    let generation = |sim: &Sim| {
        sim.get("deployments", NS, "web").unwrap()["metadata"]["generation"]
            .as_i64()
            .unwrap()
    };
    let g = generation(&sim);
    http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"metadata":{"labels":{"team":"a"}}}"#,
    );
    assert_eq!(generation(&sim), g, "labels are not the spec");
    // The Deployment strategy compares annotations too (pinned against kube-real by
    // tests/e2e/fidelity.rs).
    http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"metadata":{"annotations":{"team":"a"}}}"#,
    );
    assert_eq!(generation(&sim), g + 1);
    http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":2}}"#,
    );
    assert_eq!(generation(&sim), g + 2);
    let before = rv(&sim.get("deployments", NS, "web").unwrap());
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":2}}"#,
    );
    assert_eq!(rv(&r.json()), before, "a no-op write is not stored");
    // The status subresource changes status only; the main resource ignores status.
    let mut obj = sim.get("deployments", NS, "web").unwrap();
    obj["status"]["replicas"] = json!(42);
    obj["spec"]["replicas"] = json!(9);
    let r = http(
        &sim,
        "PUT",
        &format!("{WEB}/status"),
        Some("application/json"),
        &obj.to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["spec"]["replicas"], 2);
    assert_eq!(r.json()["status"]["replicas"], 42);
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"status":{"replicas":7}}"#,
    );
    assert_ne!(r.json()["status"]["replicas"], 7);
    let scale = http(&sim, "GET", &format!("{WEB}/scale"), None, "").json();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
}

#[tokio::test]
async fn lists_filter_by_selectors_and_page() {
    let sim = Sim::start(web(2)).await;
    let list = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dweb%2Cpod-template-hash",
        None,
        "",
    )
    .json();
    assert_eq!(list["kind"], "ReplicaSetList");
    assert_eq!(list["apiVersion"], "apps/v1");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items[0].get("kind").is_none(),
        "typed list items carry no kind"
    );
    let none = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app+notin+%28web%29",
        None,
        "",
    )
    .json();
    assert!(none["items"].as_array().unwrap().is_empty());
    let pods = http(&sim, "GET", "/api/v1/pods?limit=1", None, "").json();
    assert_eq!(pods["items"].as_array().unwrap().len(), 1);
    assert_eq!(pods["metadata"]["remainingItemCount"], 1);
    let token = pods["metadata"]["continue"].as_str().unwrap();
    let rest = http(
        &sim,
        "GET",
        &format!("/api/v1/pods?limit=1&continue={token}"),
        None,
        "",
    )
    .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["metadata"].get("continue").is_none());
    assert_ne!(
        pods["items"][0]["metadata"]["name"],
        rest["items"][0]["metadata"]["name"]
    );
    let by_name = http(
        &sim,
        "GET",
        "/apis/apps/v1/deployments?fieldSelector=metadata.name%3Dweb",
        None,
        "",
    )
    .json();
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);
    let running = http(
        &sim,
        "GET",
        "/api/v1/namespaces/shop/pods?fieldSelector=status.phase%3DRunning",
        None,
        "",
    )
    .json();
    assert_eq!(running["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn watches_resume_follow_selectors_and_expire() {
    let sim = Sim::start(web(1)).await;
    let start = rv(&sim.get("deployments", NS, "web").unwrap());
    sim.update("deployments", NS, "web", |d| {
        d["metadata"]["labels"] = json!({"tier": "a"})
    })
    .unwrap();
    sim.update("deployments", NS, "web", |d| {
        d["metadata"]["labels"] = json!({"tier": "b"})
    })
    .unwrap();
    let r = http(
        &sim,
        "GET",
        &format!(
            "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion={start}&timeoutSeconds=1&labelSelector=tier%3Da"
        ),
        None,
        "",
    );
    assert_eq!(r.status, 200);
    let types: Vec<String> = events(&r.body)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        ["ADDED", "DELETED"],
        "entering and leaving the selector"
    );
    let initial = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/replicasets?watch=1&resourceVersion=0&timeoutSeconds=1",
        None,
        "",
    );
    let initial = events(&initial.body);
    assert_eq!(initial.len(), 2);
    assert!(
        initial
            .iter()
            .all(|e| e["type"] == "ADDED" && e["object"]["kind"] == "ReplicaSet")
    );
}

#[tokio::test]
async fn watching_from_a_forgotten_resource_version_gets_410() {
    let sim = Sim::start_with(web(1), SimOptions::new().watch_history(5)).await;
    let started = Instant::now();
    let r = http(
        &sim,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion=1&timeoutSeconds=5",
        None,
        "",
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "an expired watch ends at once"
    );
    let evs = events(&r.body);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["type"], "ERROR");
    assert_eq!(evs[0]["object"]["code"], 410);
    assert_eq!(evs[0]["object"]["reason"], "Expired");
    assert!(
        evs[0]["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version: 1 (")
    );
}

#[tokio::test]
async fn live_watch_events_and_bookmarks() {
    let sim = Sim::start(web(1)).await;
    let url = sim.url();
    let from = rv(&sim.get("deployments", NS, "web").unwrap());
    let watcher = std::thread::spawn({
        let sim_url = url.clone();
        move || {
            let path = format!(
                "/apis/apps/v1/namespaces/shop/deployments?watch=true&allowWatchBookmarks=true&resourceVersion={from}&timeoutSeconds=2"
            );
            common::http_url(&sim_url, "GET", &path, None, "")
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    sim.update("deployments", NS, "web", |d| {
        d["spec"]["replicas"] = json!(2)
    })
    .unwrap();
    let r = watcher.join().unwrap();
    let evs = events(&r.body);
    assert!(
        evs.iter()
            .any(|e| e["type"] == "MODIFIED" && e["object"]["spec"]["replicas"] == 2),
        "{}",
        r.body
    );
    assert!(evs.iter().all(|e| e["object"]["metadata"]["name"] == "web"));
}

#[tokio::test]
async fn open_watches_are_counted_until_their_stream_ends() {
    let sim = Sim::start(web(1)).await;
    assert_eq!(sim.open_watches(), 0);
    let url = sim.url();
    let watcher = std::thread::spawn(move || {
        common::http_url(
            &url,
            "GET",
            "/apis/apps/v1/namespaces/shop/deployments?watch=1&timeoutSeconds=1",
            None,
            "",
        )
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.open_watches() == 0 {
        assert!(Instant::now() < deadline, "the watch never opened");
        std::thread::sleep(Duration::from_millis(10));
    }
    watcher.join().unwrap();
    while sim.open_watches() > 0 {
        assert!(Instant::now() < deadline, "the watch never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn deleting_a_deployment_collects_its_replicasets_and_pods() {
    let sim = Sim::start(web(2)).await;
    assert_eq!(sim.list("pods", NS).len(), 2);
    let r = http(&sim, "DELETE", WEB, None, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "Success");
    assert!(sim.list("replicasets", NS).is_empty());
    assert!(sim.list("pods", NS).is_empty());
    assert_eq!(http(&sim, "GET", WEB, None, "").status, 404);
}

#[tokio::test]
async fn orphaning_keeps_dependents_without_owner() {
    let sim = Sim::start(web(1)).await;
    let r = http(
        &sim,
        "DELETE",
        &format!("{WEB}?propagationPolicy=Orphan"),
        None,
        "",
    );
    assert_eq!(r.status, 200);
    let rs = sim.list("replicasets", NS);
    assert_eq!(rs.len(), 2);
    assert!(
        rs.iter()
            .all(|r| r["metadata"].get("ownerReferences").is_none())
    );
}

#[tokio::test]
async fn delayed_controllers_let_the_write_return_first() {
    let options =
        SimOptions::new().controllers(ControllerMode::Delayed(Duration::from_millis(300)));
    let sim = Sim::start_with(web(2), options).await;
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/strategic-merge-patch+json"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}"#,
    );
    let written = r.json();
    assert_eq!(written["metadata"]["generation"], 3);
    assert_eq!(
        written["status"]["observedGeneration"], 2,
        "the response predates the controller"
    );
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["status"]["observedGeneration"],
        2
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = sim.get("deployments", NS, "web").unwrap();
        if d["status"]["observedGeneration"] == 3
            && d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        {
            break;
        }
        assert!(Instant::now() < deadline, "the controller never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn stepwise_rollouts_move_one_replica_per_tick() {
    let scenario = Scenario::builder()
        .rollout(RolloutModel::stepwise())
        .deployment(NS, "web", |d| {
            d.replicas(4)
                .rolling_update(json!(1), json!(0))
                .revision(|t| t.image("web", "nginx:1.0").days_ago(1))
        })
        .build();
    let sim = Sim::start(scenario).await;
    sim.update("deployments", NS, "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2.0")
    })
    .unwrap();
    let updated = |sim: &Sim| {
        let d = sim.get("deployments", NS, "web").unwrap();
        (
            d["status"]["updatedReplicas"].as_i64().unwrap_or(0),
            d["status"]["availableReplicas"].as_i64().unwrap_or(0),
        )
    };
    assert_eq!(updated(&sim), (1, 4), "one surge pod, not ready yet");
    let mut seen = vec![updated(&sim)];
    for _ in 0..6 {
        sim.tick();
        seen.push(updated(&sim));
    }
    assert_eq!(seen.last(), Some(&(4, 4)), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1].0 - w[0].0 <= 1),
        "one replica per tick: {seen:?}"
    );
}

#[tokio::test]
async fn stepwise_daemonsets_and_statefulsets_advance_per_tick() {
    let scenario = Scenario::builder()
        .rollout(RolloutModel::stepwise())
        .daemonset(NS, "agent", |d| {
            d.revision(|t| t.image("agent", "agent:1").days_ago(1))
        })
        .statefulset(NS, "db", |s| {
            s.replicas(3)
                .revision(|t| t.image("db", "pg:1").days_ago(1))
        })
        .build();
    let sim = Sim::start_with(scenario, SimOptions::new().nodes(3)).await;
    sim.update("daemonsets", NS, "agent", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("agent:2")
    })
    .unwrap();
    sim.update("statefulsets", NS, "db", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("pg:2")
    })
    .unwrap();
    let progress = |sim: &Sim| {
        let ds = sim.get("daemonsets", NS, "agent").unwrap();
        let sts = sim.get("statefulsets", NS, "db").unwrap();
        (
            ds["status"]["updatedNumberScheduled"].as_i64().unwrap_or(0),
            ds["status"]["numberAvailable"].as_i64().unwrap_or(0),
            sts["status"]["updatedReplicas"].as_i64().unwrap_or(0),
        )
    };
    let mut seen = vec![progress(&sim)];
    for _ in 0..8 {
        sim.tick();
        seen.push(progress(&sim));
    }
    assert_eq!(seen[0], (1, 2, 1), "one pod replaced at a time: {seen:?}");
    assert_eq!(seen.last(), Some(&(3, 3, 3)), "{seen:?}");
    let sts = sim.get("statefulsets", NS, "db").unwrap();
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
}

#[tokio::test]
async fn faults_delay_fail_after_the_write_or_fire_once() {
    let sim = Sim::start(web(1)).await;
    sim.inject_fault(
        Fault::on(Verb::Get, "deployments")
            .delay(Duration::from_millis(400))
            .once(),
    );
    let started = Instant::now();
    assert_eq!(http(&sim, "GET", WEB, None, "").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    sim.inject_fault(
        Fault::on(Verb::Patch, "deployments")
            .named("web")
            .in_namespace(NS)
            .status(503)
            .after_write()
            .once(),
    );
    let r = http(
        &sim,
        "PATCH",
        WEB,
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["reason"], "ServiceUnavailable");
    assert_eq!(
        sim.get("deployments", NS, "web").unwrap()["spec"]["replicas"],
        3,
        "the write landed"
    );
    assert_eq!(
        http(
            &sim,
            "PATCH",
            WEB,
            Some("application/merge-patch+json"),
            r#"{"spec":{"replicas":1}}"#
        )
        .status,
        200
    );
    let statuses: Vec<u16> = sim.mutating_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 200]);
}

#[tokio::test]
async fn an_injected_status_can_ask_clients_to_retry_after_a_while() {
    let sim = Sim::start(web(1)).await;
    sim.inject_fault(
        Fault::on(Verb::Get, "deployments")
            .status(429)
            .retry_after(2)
            .once(),
    );
    let r = http(&sim, "GET", WEB, None, "");
    assert_eq!(r.status, 429);
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("\r\nretry-after: 2\r\n"),
        "{}",
        r.head
    );
    assert_eq!(r.json()["reason"], "TooManyRequests");
    assert_eq!(r.json()["details"]["retryAfterSeconds"], 2);
    assert_eq!(http(&sim, "GET", WEB, None, "").status, 200);
}

/// The `Progressing` condition of a deployment.
fn progressing(deployment: &Value) -> Value {
    deployment["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|condition| condition["type"] == "Progressing")
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_undo_past_the_deadline_keeps_the_old_condition_until_the_restored_replica_set_progresses()
 {
    // Revision 3 never became available and is past its deadline; revision 1's ReplicaSet was
    // scaled to zero long ago. Like the real controller (progress.go), the sim replaces the
    // ProgressDeadlineExceeded condition only once it sees progress, so for a while after the
    // undo the observed deployment still says the deadline passed.
    let scenario = Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(60)
                .revision(|t| t.image("web", "web:1").days_ago(3))
                .revision(|t| t.image("web", "web:2").days_ago(2))
                .revision(|t| t.image("web", "web:bad-crashloop").hours_ago(3))
        })
        .build();
    let sim = Sim::start_with(
        scenario,
        SimOptions::new().controllers(ControllerMode::OnTick),
    )
    .await;
    let before = sim.get("deployments", NS, "web").unwrap();
    let stale = progressing(&before);
    assert_eq!(stale["reason"], "ProgressDeadlineExceeded", "{before}");
    let undone = sim
        .update("deployments", NS, "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:1");
        })
        .unwrap();
    sim.reconcile();
    let watch = http(
        &sim,
        "GET",
        &format!(
            "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion={}&timeoutSeconds=1",
            rv(&before)
        ),
        None,
        "",
    );
    let generation = undone["metadata"]["generation"].as_i64().unwrap();
    let observed: Vec<Value> = events(&watch.body)
        .into_iter()
        .map(|event| event["object"].clone())
        .filter(|d| d["metadata"]["name"] == "web")
        .filter(|d| d["status"]["observedGeneration"].as_i64() == Some(generation))
        .collect();
    assert_eq!(
        progressing(&observed[0]),
        stale,
        "observed, with the old deadline condition unchanged"
    );
    let last = observed.last().unwrap();
    assert_eq!(
        progressing(last)["reason"],
        "NewReplicaSetAvailable",
        "{last}"
    );
    assert_eq!(last["status"]["updatedReplicas"], 2);
}

#[tokio::test]
async fn bulk_history_seeds_what_the_controller_would_have_left() {
    let scenario = Scenario::builder()
        .deployment(NS, "svc", |d| {
            d.replicas(2).bulk_history(50, |i, t| {
                t.image("svc", &format!("svc:{i}"))
                    .change_cause(&format!("release {i}"))
                    .days_ago(1)
            })
        })
        .build();
    let sim = Sim::start(scenario).await;
    let rs = sim.list("replicasets", NS);
    assert_eq!(rs.len(), 50);
    let live: Vec<&Value> = rs.iter().filter(|r| r["spec"]["replicas"] == 2).collect();
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "50"
    );
    let old = rs
        .iter()
        .find(|r| r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "7")
        .unwrap();
    assert_eq!(
        old["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "release 6"
    );
    assert_eq!(
        old["spec"]["template"]["spec"]["containers"][0]["image"],
        "svc:6"
    );
    let hash = old["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(old["metadata"]["name"], format!("svc-{hash}"));
    // A template from the history, rolled out again, is found and renumbered like any other.
    sim.update("deployments", NS, "svc", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("svc:6")
    })
    .unwrap();
    let again = sim
        .get("replicasets", NS, old["metadata"]["name"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        again["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "51"
    );
    assert_eq!(
        again["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "7"
    );
}

#[tokio::test]
async fn demo_scenario_is_a_realistic_bad_deploy() {
    let sim = Sim::start(Scenario::demo()).await;
    let d = sim.get("deployments", "shop", "api-server").unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "4"
    );
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap()
        .clone();
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    assert_eq!(d["status"]["availableReplicas"], 3);
    assert_eq!(d["status"]["updatedReplicas"], 1);
    assert_eq!(sim.list("controllerrevisions", "shop").len(), 6);
    assert!(sim.get("deployments", "staging", "api-server").is_some());
    assert!(sim.get("namespaces", "", "default").is_some());
}
