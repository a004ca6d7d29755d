//! `k8s_rollout_status` end to end: kubectl's verdicts per kind, the expected-revision check,
//! and waiting on a watch with progress notifications, a time limit and cancellation.

use std::sync::Arc;
use std::time::Duration;

use kube_sim::{Pace, Scenario, Sim, SimOptions};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{
    Host, HostOptions, Lifecycle, for_each_lifecycle, params, refusal, structured, text,
};

fn status(resource_type: &str, name: &str) -> Value {
    json!({"resource_type": resource_type, "name": name, "namespace": "shop"})
}

/// A host whose deployment `web` has just started rolling out a new image, one pod per tick
/// (seeding completes rollouts at once; the pace applies from then on).
async fn rolling(lifecycle: Lifecycle) -> Host {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(3)
                .revision(|t| t.image("app", "web:1").change_cause("first").days_ago(2))
        })
        .build()
        .with_pace(Pace::Stepwise);
    let host = Host::start(scenario, lifecycle).await;
    host.cluster
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2")
        })
        .await;
    host
}

/// A host whose deployment `web` is rolling out an image whose pods never become ready (and
/// whose progress deadline is far away): in progress for as long as a test runs.
async fn rolling_for_ever(backend: Backend) -> Host {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(3)
                .revision(|t| t.image("app", "web:1").change_cause("first").days_ago(2))
        })
        .build();
    let host = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    host.cluster
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2-notready")
        })
        .await;
    host.cluster.settle("deployments", "shop", "web").await;
    host
}

/// Returns once the server has a watch open on the sim.
async fn watch_opened(host: &Host) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while host.sim().open_watches() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never started watching"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ticks the sim in the background until dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    fn start(sim: Arc<Sim>) -> Self {
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let sim = sim.clone();
                let _ = tokio::task::spawn_blocking(move || sim.tick()).await;
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

on_both_backends!(each_kind_gets_kubectls_verdict_and_the_live_revision);
async fn each_kind_gets_kubectls_verdict_and_the_live_revision(backend: Backend) {
    for_each_lifecycle(|lifecycle| async move {
        let host = Host::start_on(backend, Scenario::demo(), lifecycle).await;
        let stuck = host
            .call("k8s_rollout_status", status("deployment", "api-server"))
            .await;
        let report = structured(&stuck);
        assert_eq!(
            (
                report["done"].as_bool(),
                report["failed"].as_bool(),
                report["state"].as_str()
            ),
            (Some(false), Some(true), Some("failed"))
        );
        assert_eq!(
            report["message"],
            "deployment \"api-server\" exceeded its progress deadline"
        );
        assert_eq!(report["live_revision"], 4);
        assert!(
            report["hint"]
                .as_str()
                .unwrap()
                .contains("k8s_rollout_undo"),
            "{report}"
        );

        for (resource_type, name) in [("daemonset", "node-agent"), ("statefulset", "orders-db")] {
            let report = structured(
                &host
                    .call("k8s_rollout_status", status(resource_type, name))
                    .await,
            )
            .clone();
            assert_eq!(
                (report["done"].as_bool(), report["state"].as_str()),
                (Some(true), Some("complete")),
                "{report}"
            );
            assert_eq!(report["live_revision"], 3);
            assert_eq!(report["counts"]["desired"], 3);
        }
        let staging = host
            .call(
                "k8s_rollout_status",
                json!({"resource_type": "deploy", "name": "api-server", "namespace": "staging"}),
            )
            .await;
        assert_eq!(
            structured(&staging)["message"],
            "deployment \"api-server\" successfully rolled out"
        );
    })
    .await;
}

on_both_backends!(a_revision_other_than_the_live_one_is_a_failure);
async fn a_revision_other_than_the_live_one_is_a_failure(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    for (resource_type, name, expected, live) in [
        ("deployment", "api-server", 3, 4),
        ("daemonset", "node-agent", 2, 3),
        ("sts", "orders-db", 1, 3),
    ] {
        let mut arguments = status(resource_type, name);
        arguments["revision"] = json!(expected);
        let report = structured(&host.call("k8s_rollout_status", arguments).await).clone();
        assert_eq!(report["failed"], true);
        assert_eq!(
            report["message"],
            format!(
                "desired revision ({expected}) is different from the running revision ({live})"
            )
        );
    }
    let message = refusal(&host.call("k8s_rollout_status", json!({"resource_type": "deploy", "name": "api-server", "namespace": "shop", "revision": -1})).await);
    assert_eq!(message, "revision must be a positive integer: -1");
}

on_both_backends!(on_delete_has_no_rollout_to_watch);
async fn on_delete_has_no_rollout_to_watch(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .daemonset("shop", "agent", |d| {
            d.on_delete().revision(|t| t.image("agent", "agent:1"))
        })
        .build();
    let host = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    let mut arguments = status("daemonset", "agent");
    arguments["wait"] = json!(true);
    let report = structured(&host.call("k8s_rollout_status", arguments).await).clone();
    assert_eq!(report["state"], "unsupported");
    assert_eq!(
        report["message"],
        "rollout status is only available for RollingUpdate strategy type"
    );
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("only when deleted")
    );
    assert_eq!(report["waited_seconds"], 0, "nothing to wait for");
}

on_both_backends!(a_paused_deployment_is_in_progress_with_a_hint_to_resume);
async fn a_paused_deployment_is_in_progress_with_a_hint_to_resume(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .revision(|t| t.image("app", "web:1").days_ago(2))
                .paused(true)
                .revision(|t| t.image("app", "web:2").hours_ago(1))
        })
        .build();
    let host = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    let result = host
        .call("k8s_rollout_status", status("deployment", "web"))
        .await;
    let report = structured(&result);
    assert_eq!(report["state"], "progressing");
    assert_eq!(
        report["message"],
        "Waiting for deployment \"web\" rollout to finish: 0 out of 2 new replicas have been updated..."
    );
    assert!(
        report["hint"].as_str().unwrap().contains("paused"),
        "{}",
        text(&result)
    );
}

// kube-sim only: pods become ready one per tick, so every step of the rollout is seen in order.
#[tokio::test]
async fn waiting_follows_the_rollout_and_reports_progress_in_order() {
    for_each_lifecycle(|lifecycle| async move {
        let host = rolling(lifecycle).await;
        let first = structured(
            &host
                .call("k8s_rollout_status", status("deployment", "web"))
                .await,
        )
        .clone();
        assert_eq!(
            first["state"], "progressing",
            "stepwise: not done before ticks"
        );
        let mut arguments = status("deployment", "web");
        arguments["wait"] = json!(true);
        arguments["timeout_seconds"] = json!(60);
        // Pods become ready only once the server watches, so its first message is where the
        // rollout stood when the wait began, however slow the machine.
        host.sim().clear_requests();
        let ticking = async {
            watch_opened(&host).await;
            Ticker::start(host.sim().clone())
        };
        let (result, _ticker) = tokio::join!(
            host.call_with_progress("k8s_rollout_status", arguments),
            ticking
        );
        let report = structured(&result);
        assert_eq!(report["done"], true, "{}", text(&result));
        assert_eq!(
            report["message"],
            "deployment \"web\" successfully rolled out"
        );
        let progress = host.progress();
        assert!(
            progress.len() >= 2,
            "a notification per change: {progress:?}"
        );
        let messages: Vec<String> = progress
            .iter()
            .map(|p| p.message.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            messages[0],
            first["message"].as_str().unwrap(),
            "the first is where it started"
        );
        assert!(
            messages.windows(2).all(|pair| pair[0] != pair[1]),
            "only changes are sent: {messages:?}"
        );
        assert!(
            progress
                .windows(2)
                .all(|pair| pair[0].progress < pair[1].progress),
            "progress increases"
        );
        assert!(
            messages
                .iter()
                .all(|m| m.starts_with("Waiting for deployment \"web\"")
                    || m.contains("successfully")),
            "{messages:?}"
        );
        let requests: Vec<_> = host
            .sim()
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect();
        assert!(
            requests.iter().any(|r| r.query.contains("watch=true")),
            "a watch, not a poll"
        );
        // One GET to start, one LIST for the live revision at the end (and the pods and events
        // of the evidence): nothing polls.
        assert!(
            requests
                .iter()
                .filter(|r| r.method == "GET" && !r.query.contains("watch"))
                .filter(|r| !r.path.ends_with("/pods") && !r.path.ends_with("/events"))
                .count()
                <= 2,
            "no busy polling: {requests:?}"
        );
    })
    .await;
}

on_both_backends!(waiting_stops_at_the_time_limit_with_the_last_message);
async fn waiting_stops_at_the_time_limit_with_the_last_message(backend: Backend) {
    let host = rolling_for_ever(backend).await;
    let mut arguments = status("deployment", "web");
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(1);
    let started = std::time::Instant::now();
    let result = host.call("k8s_rollout_status", arguments).await;
    let report = structured(&result);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        (report["done"].as_bool(), report["timed_out"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .starts_with("Waiting for deployment \"web\" rollout to finish")
    );
    assert!(text(&result).contains("stopped waiting after"));
}

// kube-sim only: it counts the watches open on the API server.
#[tokio::test]
async fn cancelling_a_wait_ends_it() {
    let host = rolling(Lifecycle::Handshake).await;
    let mut arguments = status("deployment", "web");
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(300);
    let waiting = host
        .client
        .call_tool(params("k8s_rollout_status", arguments));
    tokio::select! {
        _ = waiting => panic!("the wait ended by itself"),
        () = watch_opened(&host) => {}
    }
    // Dropping the call sent notifications/cancelled; the server must stop watching promptly.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host.sim().open_watches() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch is still open after cancellation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session is still usable.
    assert_eq!(
        structured(
            &host
                .call("k8s_rollout_status", status("deployment", "web"))
                .await
        )["state"],
        "progressing"
    );
}

on_both_backends!(waiting_ends_complete_when_a_new_deploy_is_rolled_out);
async fn waiting_ends_complete_when_a_new_deploy_is_rolled_out(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(3)
                .revision(|t| t.image("app", "web:1").change_cause("first").days_ago(2))
        })
        .build();
    let host = Host::start_on(backend, scenario, Lifecycle::Handshake).await;
    host.cluster
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2")
        })
        .await;
    let mut arguments = status("deployment", "web");
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(120);
    let result = host.call("k8s_rollout_status", arguments).await;
    let report = structured(&result);
    assert_eq!(
        (report["done"].as_bool(), report["state"].as_str()),
        (Some(true), Some("complete")),
        "{}",
        text(&result)
    );
    assert_eq!(
        report["message"],
        "deployment \"web\" successfully rolled out"
    );
    assert_eq!(report["live_revision"], 2);
}

on_both_backends!(a_crash_looping_deploy_is_watched_until_its_progress_deadline);
async fn a_crash_looping_deploy_is_watched_until_its_progress_deadline(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(5)
                .revision(|t| t.image("app", "web:1").change_cause("first").minutes_ago(5))
        })
        .build();
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.sim = SimOptions::new().running_clock();
    let host = Host::start_with(scenario, options).await;
    host.cluster
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2-crashloop")
        })
        .await;
    let mut arguments = status("deployment", "web");
    arguments["wait"] = json!(true);
    arguments["timeout_seconds"] = json!(120);
    let result = host.call("k8s_rollout_status", arguments).await;
    let report = structured(&result);
    assert_eq!(
        (report["failed"].as_bool(), report["state"].as_str()),
        (Some(true), Some("failed")),
        "{}",
        text(&result)
    );
    assert_eq!(
        report["message"],
        "deployment \"web\" exceeded its progress deadline"
    );
    assert_eq!(report["live_revision"], 2);
}
