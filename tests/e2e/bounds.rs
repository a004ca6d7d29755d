//! Memory and time the cluster drives, bounded: ReplicaSets of someone else's that match a
//! workload's selector are read past without being copied, and past 64 MiB of list responses
//! the call is refused naming them; a `continue` chain that never ends stops at the page cap; a
//! watch that something ends as soon as it opens is given up after a few, with pauses between;
//! a watch event past 16 MiB ends the wait with an error. Peak memory is printed (figures, not
//! assertions on time).

use std::time::Duration;

use k8s_rollout_mcp::cluster::{MAX_EVENT_LINE, MAX_LIST_OBJECTS, PAGE_SIZE, REVISION_PAGE_SIZE};
use kube_sim::{ControllerMode, Fault, Scenario, SimOptions, Verb};
use serde_json::{Value, json};

use super::backend::{Backend, TestCluster};
use super::host::{Host, HostOptions, Lifecycle, refusal};
use super::raw::{RawServer, call, result_text};

const NS: &str = "shop";
const MIB: usize = 1 << 20;
/// Foreign ReplicaSets of 1 MiB that fit within what a call reads.
const WITHIN_THE_CAP: usize = 40;
/// Foreign ReplicaSets of 1 MiB that hold more than a call reads (64 MiB);
/// `FOREIGN_REPLICA_SETS` sets another number (BENCHMARKS.md measures 500).
const PAST_THE_CAP: usize = 70;
/// How long a test waits for a call that must end.
const PATIENCE: Duration = Duration::from_secs(60);

fn web() -> Scenario {
    Scenario::builder()
        .deployment(NS, "web", |d| {
            d.replicas(1)
                .revision(|t| t.image("app", "web:1").days_ago(3))
                .revision(|t| t.image("app", "web:2").days_ago(2))
                .revision(|t| t.image("app", "web:3").days_ago(1))
        })
        .build()
}

fn arguments(cluster: &TestCluster) -> Value {
    json!({"resource_type": "deployment", "name": "web", "namespace": cluster.ns(NS)})
}

/// `count` ReplicaSets with a template of `bytes` that match web's selector but are someone
/// else's: the namespace controls them, so a real garbage collector keeps them and no
/// Deployment adopts them.
async fn foreign_replica_sets(cluster: &TestCluster, count: usize, bytes: usize) {
    let namespace = cluster
        .get("namespaces", "", &cluster.ns(NS))
        .await
        .expect("the namespace");
    let owner = json!([{"apiVersion": "v1", "kind": "Namespace", "controller": true,
        "name": namespace["metadata"]["name"], "uid": namespace["metadata"]["uid"]}]);
    let labels = json!({"app": "web", "owner": "someone-else"});
    let blob = "x".repeat(bytes);
    for index in 0..count {
        cluster
            .create(
                "replicasets",
                NS,
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": format!("foreign-{index:03}"), "labels": labels, "ownerReferences": owner},
                    "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                            {"name": "app", "image": "other:1", "env": [{"name": "BLOB", "value": blob}]}]}}}}),
            )
            .await;
    }
}

fn numbers(response: &Value) -> Vec<i64> {
    response["result"]["structuredContent"]["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("a history: {}", result_text(response)))
        .iter()
        .map(|revision| revision["revision"].as_i64().unwrap())
        .collect()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

on_both_backends!(foreign_replica_sets_are_read_past_without_being_copied);
async fn foreign_replica_sets_are_read_past_without_being_copied(backend: Backend) {
    let mut server = RawServer::start_on(backend, web(), "warn").await;
    foreign_replica_sets(&server.cluster, WITHIN_THE_CAP, MIB).await;
    server.handshake().await;
    let before = server.peak_rss_kib();
    let response = server
        .request(
            1,
            "tools/call",
            call("k8s_rollout_history", arguments(&server.cluster)),
        )
        .await;
    assert_eq!(numbers(&response), [1, 2, 3], "only web's own");
    let grown = server.peak_rss_kib() - before;
    let foreign = (WITHIN_THE_CAP * MIB / 1024) as u64;
    println!(
        "{backend:?}: history past {WITHIN_THE_CAP} foreign ReplicaSets of 1 MiB ({:.0} MiB): server peak RSS (VmHWM) grew {:.1} MiB, to {:.1} MiB",
        mib(foreign),
        mib(grown),
        mib(before + grown)
    );
    // The page that holds them is read whole; a copy of each object would double that.
    assert!(
        grown < foreign * 3 / 2,
        "the foreign objects were copied: {:.1} MiB for {:.0} MiB of them",
        mib(grown),
        mib(foreign)
    );
    server.assert_clean_stdout();
}

on_both_backends!(foreign_replica_sets_past_the_byte_cap_refuse_the_history_naming_them);
async fn foreign_replica_sets_past_the_byte_cap_refuse_the_history_naming_them(backend: Backend) {
    let count = std::env::var("FOREIGN_REPLICA_SETS")
        .map(|count| count.parse().expect("FOREIGN_REPLICA_SETS is a number"))
        .unwrap_or(PAST_THE_CAP);
    let mut server = RawServer::start_on(backend, web(), "warn").await;
    foreign_replica_sets(&server.cluster, count, MIB).await;
    server.handshake().await;
    let before = server.peak_rss_kib();
    let response = server
        .request(
            1,
            "tools/call",
            call("k8s_rollout_history", arguments(&server.cluster)),
        )
        .await;
    let message = result_text(&response);
    println!(
        "{backend:?}: history of a Deployment whose selector matches {count} foreign ReplicaSets of 1 MiB: {}; server peak RSS (VmHWM) {:.1} MiB (after the handshake {:.1} MiB)",
        if response["result"]["isError"] == true {
            "refused"
        } else {
            "answered"
        },
        mib(server.peak_rss_kib()),
        mib(before)
    );
    assert_eq!(response["result"]["isError"], true, "{message}");
    let listed = format!(
        "`kubectl --context {} get replicasets.apps -n {} -l 'app=web'`",
        server.cluster.context(),
        server.cluster.ns(NS)
    );
    for part in [
        listed.as_str(),
        "more than the 64 MiB of list responses one call reads: stopped after",
        "delete or relabel those that are not this workload's (they match its selector), or lower its revisionHistoryLimit",
    ] {
        assert!(message.contains(part), "{part:?} in: {message}");
    }
    server.assert_clean_stdout();
}

/// kube-sim only: a real API server ends every continue chain.
#[tokio::test]
async fn a_continue_chain_that_never_ends_stops_at_the_page_cap() {
    let host = Host::start(web(), Lifecycle::Handshake).await;
    host.sim()
        .inject_fault(Fault::on(Verb::List, "replicasets").endless_continue());
    host.sim().clear_requests();
    let result = tokio::time::timeout(
        PATIENCE,
        host.call("k8s_rollout_history", arguments(&host.cluster)),
    )
    .await
    .expect("the call ends");
    let message = refusal(&result);
    assert!(
        message.contains(&format!("past the {MAX_LIST_OBJECTS} one call asks for")),
        "{message}"
    );
    // The first page asks for 100 objects and, with none listed, each later one for 500.
    let pages = 1 + (MAX_LIST_OBJECTS - REVISION_PAGE_SIZE).div_ceil(PAGE_SIZE);
    assert!(
        message.contains(&format!("still had more after {pages} pages")),
        "{message}"
    );
    let lists = host
        .sim()
        .requests()
        .iter()
        .filter(|request| request.path.ends_with("/replicasets"))
        .count();
    assert_eq!(lists, pages as usize);
}

/// A host whose sim runs the controllers only when told, with web's template changed: a
/// rollout that `wait` waits for.
async fn rollout_waiting() -> Host {
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.sim = SimOptions::new().controllers(ControllerMode::OnTick);
    let host = Host::start_with(web(), options).await;
    host.sim()
        .update("deployments", NS, "web", |deployment| {
            deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:4");
        })
        .expect("updated");
    host.sim().clear_requests();
    host
}

fn waiting(seconds: u64) -> Value {
    json!({"resource_type": "deployment", "name": "web", "namespace": NS, "wait": true, "timeout_seconds": seconds})
}

/// kube-sim only: a real API server ends a watch only after its `timeoutSeconds`.
#[tokio::test]
async fn watches_ended_at_once_are_given_up_after_five_with_pauses_between() {
    let host = rollout_waiting().await;
    host.sim()
        .inject_fault(Fault::on(Verb::Watch, "deployments").end_at_once());
    let result = tokio::time::timeout(PATIENCE, host.call("k8s_rollout_status", waiting(20)))
        .await
        .expect("the call ends");
    let message = refusal(&result);
    assert!(
        message.contains(&format!(
            "the watch of deployments.apps \"{NS}/web\" on the API server at {} (context \"kube-sim\") ended 5 times in a row within a second of being opened, with nothing sent",
            host.sim().url()
        )),
        "{message}"
    );
    let watches = host
        .sim()
        .requests()
        .iter()
        .filter(|request| request.query.contains("watch=true"))
        .count();
    assert_eq!(watches, 5);
}

/// kube-sim only: a real API server stores no object near 16 MiB.
#[tokio::test]
async fn a_watch_event_longer_than_the_limit_ends_the_wait_with_an_error() {
    let host = rollout_waiting().await;
    let oversized = async {
        while host.sim().open_watches() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        host.sim()
            .update("deployments", NS, "web", |deployment| {
                deployment["metadata"]["annotations"]["note"] = json!("x".repeat(MAX_EVENT_LINE));
            })
            .expect("updated");
    };
    let (result, ()) = tokio::join!(
        tokio::time::timeout(PATIENCE, host.call("k8s_rollout_status", waiting(20))),
        oversized
    );
    let message = refusal(&result.expect("the call ends"));
    assert!(
        message.contains(&format!(
            "the API server at {} sent an event on the watch of deployments.apps \"{NS}/web\" longer than 16 MiB",
            host.sim().url()
        )),
        "{message}"
    );
}
