//! The record in the cluster: an approved undo leaves a `RollbackApproved` Event on the
//! workload that `kubectl get events` shows; a decline leaves none; an Event the credentials
//! may not write leaves the rollback intact and the result says it is missing.

use kube_sim::{Scenario, Verb};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, Lifecycle, is_event_write, refusal, structured};
use super::kubectl::Kubectl;

fn api_server_undo() -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 3, "reason": "checkout errors"})
}

/// The `RollbackApproved` events in `shop`, as `kubectl get events -o json` lists them.
fn rollback_events(host: &Host) -> Option<Vec<Value>> {
    let kubectl = Kubectl::for_cluster(&host.cluster)?;
    let out = kubectl.ok(&["get", "events", "-n", "shop", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
    Some(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == "RollbackApproved")
            .cloned()
            .collect(),
    )
}

on_both_backends!(an_approved_undo_leaves_an_event_kubectl_shows);
async fn an_approved_undo_leaves_an_event_kubectl_shows(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let result = host.call("k8s_rollout_undo", api_server_undo()).await;
    let report = structured(&result);
    let events_posted = host
        .cluster
        .mutating_requests()
        .await
        .into_iter()
        .filter(is_event_write)
        .count();
    assert_eq!(events_posted, 1, "one Event, after the write");
    let name = report["cluster_event"]["created"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("an event name: {report}"))
        .to_string();
    let Some(events) = rollback_events(&host) else {
        return;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["metadata"]["name"], name);
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["action"], "Rollback");
    assert_eq!(event["reportingComponent"], "k8s-rollout-mcp");
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    assert_eq!(event["involvedObject"]["name"], "api-server");
    let workload = host
        .cluster
        .get("deployments", "shop", "api-server")
        .await
        .unwrap();
    assert_eq!(event["involvedObject"]["uid"], workload["metadata"]["uid"]);
    assert_eq!(
        event["message"],
        "rolled back to revision 3 (new revision 5), approved by alice via e2e-host 9.9.9: checkout errors"
    );
}

on_both_backends!(a_declined_undo_leaves_no_event);
async fn a_declined_undo_leaves_no_event(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::Decline);
    refusal(&host.call("k8s_rollout_undo", api_server_undo()).await);
    if let Some(events) = rollback_events(&host) {
        assert!(events.is_empty(), "{events:?}");
    }
    assert!(host.writes().await.is_empty());
    let posted = host.cluster.mutating_requests().await;
    assert!(!posted.iter().any(is_event_write), "{posted:?}");
}

/// Sim only: the deny list forbids exactly the Event write; on kube-real this needs RBAC for
/// a ServiceAccount that may patch workloads but not create events (not set up here).
#[tokio::test]
async fn a_forbidden_event_leaves_the_rollback_intact_and_says_it_is_missing() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.sim().deny(Verb::Create, "events");
    host.answer(Answer::approve("alice"));
    let result = host.call("k8s_rollout_undo", api_server_undo()).await;
    let report = structured(&result);
    assert_eq!(report["outcome"], "rolled_back");
    assert_eq!(report["new_revision"], 5);
    let missing = report["cluster_event"]["missing"]["reason"]
        .as_str()
        .unwrap();
    assert!(missing.contains("forbidden"), "{missing}");
    let warned = report["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .contains("RollbackApproved Event recording this rollback in the cluster is missing")
    });
    assert!(warned, "{report}");
    assert_eq!(host.audit().last().unwrap()["event"], "read_back");
}
