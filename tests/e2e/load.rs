//! Load on one server: tool calls in flight at once (history and status across 20 namespaces)
//! while an undo waits for its human, 500 on kube-sim and 50 on kube-real (where each call is
//! two to four real API requests). Every call is answered, each answer is about its own
//! workload, nothing is written until the human answers and then exactly one PATCH, and the
//! server's peak memory is printed (a figure, not an assertion on time).

use std::collections::HashMap;
use std::time::Instant;

use kube_sim::Scenario;
use serde_json::{Value, json};

use super::backend::Backend;
use super::raw::{RawServer, call, is_response};

const NAMESPACES: usize = 20;
const UNDO_ID: i64 = 10_000;

/// Calls in flight at once.
fn calls(backend: Backend) -> i64 {
    match backend {
        Backend::Sim => 500,
        Backend::Real => 50,
    }
}

fn namespace(index: usize) -> String {
    format!("team-{index:02}")
}

/// Twenty namespaces, each with a Deployment `web` whose images name the namespace.
fn teams() -> Scenario {
    (0..NAMESPACES)
        .fold(Scenario::builder(), |builder, index| {
            let ns = namespace(index);
            builder.deployment(&ns, "web", |d| {
                d.replicas(2)
                    .revision(|t| t.image("app", &format!("web:{ns}-1")).days_ago(2))
                    .revision(|t| t.image("app", &format!("web:{ns}-2")).days_ago(1))
            })
        })
        .build()
}

/// What call `id` asks and what its answer must be about.
fn request(id: i64) -> (&'static str, String) {
    let ns = namespace(id as usize % NAMESPACES);
    let tool = if id % 2 == 0 {
        "k8s_rollout_history"
    } else {
        "k8s_rollout_status"
    };
    (tool, ns)
}

/// Checks that an answer is about the workload its call named (`ns` maps a scenario namespace
/// to the cluster's).
fn about_its_own_workload(id: i64, response: &Value, ns: impl Fn(&str) -> String) {
    let (tool, logical) = request(id);
    let ns = ns(&logical);
    let report = &response["result"]["structuredContent"];
    assert_ne!(response["result"]["isError"], true, "call {id}: {response}");
    assert_eq!(report["namespace"], ns, "call {id}");
    assert_eq!(report["name"], "web", "call {id}");
    assert_eq!(report["live_revision"], 2, "call {id}");
    if tool == "k8s_rollout_history" {
        let images: Vec<&str> = report["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["images"][0]["image"].as_str().unwrap())
            .collect();
        assert_eq!(
            images,
            vec![format!("web:{logical}-1"), format!("web:{logical}-2")],
            "call {id}"
        );
    } else {
        assert_eq!(report["done"], true, "call {id}: {report}");
    }
}

on_both_backends!(concurrent_calls_are_answered_each_about_its_own_workload);
async fn concurrent_calls_are_answered_each_about_its_own_workload(backend: Backend) {
    let calls = calls(backend);
    let mut server = RawServer::start_on(backend, teams(), "warn").await;
    let cluster = server.cluster.clone();
    let ns = |logical: &str| cluster.ns(logical);
    let team_0 = ns(&namespace(0));
    server.handshake().await;
    let resting = server.peak_rss_kib();

    // An undo asks its human and waits for the answer during all the load.
    server
        .send(&json!({"jsonrpc": "2.0", "id": UNDO_ID, "method": "tools/call",
            "params": call("k8s_rollout_undo", json!({"resource_type": "deployment", "name": "web", "namespace": team_0, "to_revision": 1}))}))
        .await;
    let ask = server
        .wait_for(|message| message["method"] == "elicitation/create")
        .await;

    let started = Instant::now();
    let mut burst = Vec::new();
    for id in 1..=calls {
        let (tool, logical) = request(id);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": call(tool, json!({"resource_type": "deployment", "name": "web", "namespace": ns(&logical)}))});
        burst.extend(serde_json::to_vec(&message).unwrap());
        burst.push(b'\n');
    }
    server.send_bytes(&burst).await;
    let mut answers: HashMap<i64, Value> = HashMap::new();
    while answers.len() < calls as usize {
        let message = server
            .wait_for(|message| is_response(message) && message["id"] != json!(UNDO_ID))
            .await;
        let id = message["id"].as_i64().expect("a numeric id");
        assert!(
            answers.insert(id, message).is_none(),
            "call {id} answered twice"
        );
    }
    let elapsed = started.elapsed();
    for (id, response) in &answers {
        about_its_own_workload(*id, response, ns);
    }
    assert!(
        server
            .cluster
            .mutating_requests()
            .await
            .iter()
            .all(|request| request.dry_run),
        "nothing is written while the undo waits"
    );

    server
        .send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"approve": true, "approver": "load-test"}}}))
        .await;
    let undone = server.response(UNDO_ID).await;
    assert_eq!(
        undone["result"]["structuredContent"]["outcome"], "rolled_back",
        "{undone}"
    );
    assert_eq!(undone["result"]["structuredContent"]["namespace"], team_0);
    let patches: Vec<String> = server
        .cluster
        .mutating_requests()
        .await
        .into_iter()
        .filter(|r| !r.dry_run)
        .filter(|r| !super::host::is_event_write(r))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        patches,
        vec![format!("/apis/apps/v1/namespaces/{team_0}/deployments/web")]
    );
    let peak = server.peak_rss_kib();
    println!(
        "{backend:?}: {calls} concurrent calls across {NAMESPACES} namespaces with an undo approval in flight: all answered in {:.2} s; server peak RSS (VmHWM) {:.1} MiB (after the handshake {:.1} MiB)",
        elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        resting as f64 / 1024.0
    );
    server.assert_clean_stdout();
}
