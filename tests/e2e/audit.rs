//! The audit trail end to end: the exact records of every decision path, the approval record
//! before the write, and no write at all when the audit log cannot be written.

use kube_sim::{Fault, Scenario, SimOptions, Verb};
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured, tempdir};

const REASON: &str = "checkout errors since 1.3.0";

fn api_server_undo(to_revision: i64) -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": to_revision, "reason": REASON})
}

/// The parts of an audit record that differ between decision paths.
#[derive(Debug, PartialEq)]
struct Outline {
    event: String,
    approval_path: Option<String>,
    approver: Option<String>,
    resulting_revision: Option<i64>,
    has_error: bool,
}

fn outline(host: &Host) -> Vec<Outline> {
    host.audit()
        .iter()
        .map(|record| Outline {
            event: record["event"].as_str().unwrap().to_string(),
            approval_path: record["approval_path"].as_str().map(str::to_string),
            approver: record["approver"].as_str().map(str::to_string),
            resulting_revision: record["resulting_revision"].as_i64(),
            has_error: !record["error"].is_null(),
        })
        .collect()
}

fn event(
    name: &str,
    path: Option<&str>,
    approver: Option<&str>,
    resulting: Option<i64>,
    has_error: bool,
) -> Outline {
    Outline {
        event: name.to_string(),
        approval_path: path.map(str::to_string),
        approver: approver.map(str::to_string),
        resulting_revision: resulting,
        has_error,
    }
}

on_both_backends!(an_approved_undo_records_plan_request_approval_and_write_with_every_fact);
async fn an_approved_undo_records_plan_request_approval_and_write_with_every_fact(
    backend: Backend,
) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    structured(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("dry_run", None, None, None, false),
            event("approval_requested", Some("elicitation"), None, None, false),
            event("approved", Some("elicitation"), Some("alice"), None, false),
            event("written", Some("elicitation"), Some("alice"), None, false),
            event(
                "read_back",
                Some("elicitation"),
                Some("alice"),
                Some(5),
                false
            ),
        ]
    );
    let record = &host.audit()[3];
    let uid = host
        .cluster
        .get("deployments", "shop", "api-server")
        .await
        .unwrap()["metadata"]["uid"]
        .clone();
    for (field, value) in [
        ("client_name", json!("e2e-host")),
        ("client_version", json!("9.9.9")),
        ("protocol_version", json!("2025-11-25")),
        ("reason", json!(REASON)),
        ("context", json!(host.context())),
        ("cluster_server", json!(host.cluster.url())),
        ("namespace", json!("shop")),
        ("kind", json!("Deployment")),
        ("name", json!("api-server")),
        ("uid", uid),
        ("live_revision", json!(4)),
        ("target_revision", json!(3)),
    ] {
        assert_eq!(record[field], value, "{field}");
    }
    let time = record["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.contains('T'),
        "RFC 3339 UTC: {time}"
    );
}

on_both_backends!(a_stateless_approval_records_both_rounds);
async fn a_stateless_approval_records_both_rounds(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
    host.answer(Answer::approve("bob"));
    structured(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("dry_run", None, None, None, false),
            event(
                "approval_requested",
                Some("input_required"),
                None,
                None,
                false
            ),
            event("planned", None, None, None, false),
            event("approved", Some("input_required"), Some("bob"), None, false),
            event("written", Some("input_required"), Some("bob"), None, false),
            event(
                "read_back",
                Some("input_required"),
                Some("bob"),
                Some(5),
                false
            ),
        ]
    );
    assert_eq!(host.audit()[4]["protocol_version"], "2026-07-28");
    let calls: std::collections::BTreeSet<String> = host
        .audit()
        .iter()
        .map(|record| record["call_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "both rounds of one approval are one call on the record: {calls:?}"
    );
}

on_both_backends!(each_refusal_is_recorded_with_its_decision);
async fn each_refusal_is_recorded_with_its_decision(backend: Backend) {
    let cases = [
        (Answer::Decline, "declined"),
        (Answer::Cancel, "cancelled"),
        (Answer::Accept(json!({"approve": false})), "declined"),
        (Answer::Accept(json!({"approve": 1})), "declined"),
    ];
    for (answer, decision) in cases {
        let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
        host.answer(answer);
        refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
        assert_eq!(
            outline(&host),
            vec![
                event("planned", None, None, None, false),
                event("dry_run", None, None, None, false),
                event("approval_requested", Some("elicitation"), None, None, false),
                event(decision, Some("elicitation"), None, None, true),
            ]
        );
        assert!(host.writes().await.is_empty());
    }
}

on_both_backends!(a_timeout_an_unsupported_client_and_a_rejected_state_are_recorded);
async fn a_timeout_an_unsupported_client_and_a_rejected_state_are_recorded(backend: Backend) {
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake)
            .on(backend)
            .arg("--approval-timeout")
            .arg("1s"),
    )
    .await;
    host.answer(Answer::Silence);
    refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host).last().unwrap(),
        &event("timed_out", Some("elicitation"), None, None, true)
    );

    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.elicitation = false;
    let host = Host::start_with(Scenario::demo(), options).await;
    refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("not_supported", None, None, None, true)
        ]
    );

    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
    let mut request = super::host::params("k8s_rollout_undo", api_server_undo(3));
    request.request_state = Some("rs2.forged.state".into());
    let rmcp::model::CallToolResponse::Complete(result) = host.call_once(request).await else {
        panic!("a refusal")
    };
    refusal(&result);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("state_rejected", None, None, None, true)
        ]
    );
}

// kube-sim only: the failed write is an injected 500.
#[tokio::test]
async fn dry_runs_conflicts_and_failed_writes_are_recorded() {
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let mut dry = api_server_undo(3);
    dry["dry_run"] = json!(true);
    structured(&host.call("k8s_rollout_undo", dry).await);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("dry_run", None, None, None, false)
        ]
    );

    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    let sim = host.sim().clone();
    host.while_asked(move || {
        sim.update("deployments", "shop", "api-server", |d| {
            d["metadata"]["annotations"]["team"] = json!("payments")
        })
        .unwrap();
    });
    host.answer(Answer::approve("alice"));
    refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host).last().unwrap(),
        &event("conflict", Some("elicitation"), Some("alice"), None, true)
    );

    // A refusal the API server proves (403) is `failed`; a 500 proves nothing either way and,
    // with the re-read showing no change, is `unknown`.
    // (Both after the dry run before asking, which the API server accepted.)
    let host = Host::start(Scenario::demo(), Lifecycle::Handshake).await;
    host.answer(Answer::approve("alice"));
    let sim = host.sim().clone();
    host.while_asked(move || sim.deny(Verb::Patch, "deployments"));
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.starts_with("failed restoring revision 3 of deployment shop/api-server"),
        "{message}"
    );
    assert_eq!(
        outline(&host).last().unwrap(),
        &event("failed", Some("elicitation"), Some("alice"), None, true)
    );
    host.sim().clear_denials();
    let sim = host.sim().clone();
    host.while_asked(move || {
        sim.inject_fault(
            Fault::on(Verb::Patch, "deployments")
                .named("api-server")
                .status(500)
                .once(),
        )
    });
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.starts_with(
            "the outcome of restoring revision 3 of deployment shop/api-server is unknown"
        ),
        "{message}"
    );
    assert_eq!(
        outline(&host).last().unwrap(),
        &event("unknown", Some("elicitation"), Some("alice"), None, true)
    );
    assert!(
        host.audit().last().unwrap()["note"]
            .as_str()
            .unwrap()
            .contains("unchanged since the plan")
    );
}

on_both_backends!(a_rollout_that_fails_while_waiting_is_recorded);
async fn a_rollout_that_fails_while_waiting_is_recorded(backend: Backend) {
    // Revision 2 is a bad image; rolling back to it (by mistake) fails once the simulated
    // progress deadline passes.
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(1)
                .revision(|t| t.image("app", "web:1").days_ago(3))
                .revision(|t| t.image("app", "web:bad-crashloop").days_ago(2))
                .revision(|t| t.image("app", "web:3").days_ago(1))
        })
        .build();
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.sim = SimOptions::new().running_clock();
    let host = Host::start_with(scenario, options).await;
    host.answer(Answer::approve("alice"));
    let result = host
        .call(
            "k8s_rollout_undo",
            json!({"resource_type": "deployment", "name": "web", "namespace": "shop", "to_revision": 2, "wait": true, "timeout_seconds": 30}),
        )
        .await;
    let report = structured(&result);
    assert_eq!(report["status"]["failed"], true, "{report}");
    let records = outline(&host);
    assert_eq!(records[records.len() - 3].event, "written");
    assert_eq!(records[records.len() - 2].event, "read_back");
    assert_eq!(
        records.last().unwrap(),
        &event("failed", Some("elicitation"), Some("alice"), None, true)
    );
    assert!(
        host.audit().last().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("exceeded its progress deadline")
    );
}

on_both_backends!(an_unwritable_audit_log_refuses_the_undo_with_no_write_but_reads_still_work);
async fn an_unwritable_audit_log_refuses_the_undo_with_no_write_but_reads_still_work(
    backend: Backend,
) {
    let dir = tempdir::Dir::new("audit");
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.audit_log = Some(blocker.join("audit.jsonl"));
    let host = Host::start_with(Scenario::demo(), options).await;
    host.answer(Answer::approve("alice"));
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.contains("cannot write the audit log") && message.contains("nothing was written"),
        "{message}"
    );
    assert!(host.writes().await.is_empty(), "{:?}", host.writes().await);
    assert!(
        host.asked().is_empty(),
        "no human is bothered for an undo that cannot be recorded"
    );
    structured(
        &host
            .call(
                "k8s_rollout_history",
                json!({"resource_type": "deploy", "name": "api-server", "namespace": "shop"}),
            )
            .await,
    );
    structured(
        &host
            .call(
                "k8s_rollout_status",
                json!({"resource_type": "deploy", "name": "api-server", "namespace": "shop"}),
            )
            .await,
    );
}

// kube-sim only: about the file, not the cluster.
#[tokio::test]
async fn the_audit_log_is_created_owner_only_at_the_default_path() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempdir::Dir::new("xdg");
    let host = Host::start_with(
        Scenario::demo(),
        HostOptions::new(Lifecycle::Handshake).env("XDG_STATE_HOME", state.path()),
    )
    .await;
    host.answer(Answer::Decline);
    refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    let log = state.path().join("k8s-rollout-mcp").join("audit.jsonl");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o600);
    assert_eq!(mode(log.parent().unwrap()), 0o700);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 4);
    assert_eq!(
        host.audit_events(),
        vec!["planned", "dry_run", "approval_requested", "declined"]
    );
}

// kube-sim only: the PATCH is held by an injected delay.
#[tokio::test]
async fn a_host_that_disconnects_mid_write_still_gets_the_outcome_recorded() {
    let dir = tempdir::Dir::new("drain");
    let log = dir.path().join("audit.jsonl");
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.audit_log = Some(log.clone());
    let host = Host::start_with(Scenario::demo(), options).await;
    // Held once the human is asked: after the dry run, so it holds the write.
    let sim = host.sim().clone();
    host.while_asked(move || {
        sim.inject_fault(
            Fault::on(Verb::Patch, "deployments")
                .named("api-server")
                .delay(std::time::Duration::from_secs(4))
                .once(),
        )
    });
    host.answer(Answer::approve("alice"));
    let peer = host.client.peer().clone();
    let call = tokio::spawn(async move {
        peer.call_tool(super::host::params("k8s_rollout_undo", api_server_undo(3)))
            .await
    });
    let events = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !events().contains("\"approved\"") {
        assert!(
            std::time::Instant::now() < deadline,
            "the undo was approved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        host.sim().get("deployments", "shop", "api-server").unwrap()["spec"]["template"]["spec"]["containers"]
            [0]["image"],
        kube_sim::DEMO_BAD_IMAGE,
        "the approval is on disk before the write is applied"
    );
    // The sim holds the PATCH for 4s. The host goes away meanwhile, as rmcp's stdio client does:
    // stdin closed, SIGTERM 3s later, SIGKILL 3s after that. The server must finish the write
    // and record it in that window rather than die on SIGTERM.
    let cluster = host.disconnect().await;
    call.abort();
    // `written` is recorded as soon as the PATCH answers, before the read-back that SIGKILL
    // may cut short.
    let recorded = events();
    let after_approval = recorded.split("\"approved\"").nth(1).unwrap_or_default();
    assert!(
        after_approval.contains("\"event\":\"written\""),
        "the outcome was recorded before exiting: {recorded}"
    );
    assert_eq!(
        cluster
            .get("deployments", "shop", "api-server")
            .await
            .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/api-server:1.2.0"
    );
}

on_both_backends!(an_approval_that_cannot_be_recorded_writes_nothing);
async fn an_approval_that_cannot_be_recorded_writes_nothing(backend: Backend) {
    let dir = tempdir::Dir::new("audit");
    let log = dir.path().join("audit.jsonl");
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.audit_log = Some(log.clone());
    let host = Host::start_with(Scenario::demo(), options).await;
    // While the human reads the question, the log becomes unwritable (a directory stands
    // where the file was), so the approval itself cannot be recorded.
    host.while_asked(move || {
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap();
    });
    host.answer(Answer::approve("alice"));
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.contains("cannot write the audit log") && message.contains("nothing was written"),
        "{message}"
    );
    assert!(host.writes().await.is_empty(), "{:?}", host.writes().await);
}

/// kube-sim only: it needs a write whose answer is lost (an injected 504) held long enough to
/// break the log between the approval record and the outcome record.
#[tokio::test]
async fn an_unknown_outcome_that_cannot_be_recorded_still_says_it_may_apply() {
    let dir = tempdir::Dir::new("audit");
    let log = dir.path().join("audit.jsonl");
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.audit_log = Some(log.clone());
    let host = Host::start_with(Scenario::demo(), options).await;
    let sim = host.sim().clone();
    // Once the human is asked (after the dry run): the write's answer is lost after a second,
    // and as soon as the approval is on the record the log becomes unwritable.
    host.while_asked(move || {
        sim.inject_fault(
            Fault::on(Verb::Patch, "deployments")
                .named("api-server")
                .delay(std::time::Duration::from_secs(1))
                .status(504)
                .once(),
        );
        let log = log.clone();
        std::thread::spawn(move || {
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("\"event\":\"approved\"")
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            std::fs::remove_file(&log).unwrap();
            std::fs::create_dir(&log).unwrap();
        });
    });
    host.answer(Answer::approve("alice"));
    let message = refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert!(
        message.starts_with(
            "the outcome of restoring revision 3 of deployment shop/api-server is unknown"
        ) && message.contains("Its audit record could not be written"),
        "{message}"
    );
    assert!(
        !message.to_lowercase().contains("nothing was written"),
        "an unknown outcome is never \"nothing was written\": {message}"
    );
    let writes = host.writes().await;
    assert_eq!(
        writes.iter().filter(|write| !write.dry_run).count(),
        1,
        "sent once, not again: {writes:?}"
    );
}

on_both_backends!(a_stateless_decline_is_recorded_on_the_retry);
async fn a_stateless_decline_is_recorded_on_the_retry(backend: Backend) {
    let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Stateless).await;
    host.answer(Answer::Decline);
    refusal(&host.call("k8s_rollout_undo", api_server_undo(3)).await);
    assert_eq!(
        outline(&host),
        vec![
            event("planned", None, None, None, false),
            event("dry_run", None, None, None, false),
            event(
                "approval_requested",
                Some("input_required"),
                None,
                None,
                false
            ),
            event("planned", None, None, None, false),
            event("declined", Some("input_required"), None, None, true),
        ]
    );
    assert_eq!(
        host.audit()[4]["error"],
        "the approver declined the rollback"
    );
}

on_both_backends!(a_failed_rollout_seen_by_a_status_wait_is_recorded);
async fn a_failed_rollout_seen_by_a_status_wait_is_recorded(backend: Backend) {
    let scenario = Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(2)
                .progress_deadline_seconds(1)
                .revision(|t| t.image("app", "web:1").days_ago(1))
        })
        .build();
    let mut options = HostOptions::new(Lifecycle::Handshake).on(backend);
    options.sim = SimOptions::new().running_clock();
    let host = Host::start_with(scenario, options).await;
    host.cluster
        .update("deployments", "shop", "web", |d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:bad-crashloop");
        })
        .await;
    let report = structured(
        &host
            .call(
                "k8s_rollout_status",
                json!({"resource_type": "deployment", "name": "web", "namespace": "shop", "wait": true, "timeout_seconds": 30}),
            )
            .await,
    )
    .clone();
    assert_eq!(report["state"], "failed", "{report}");
    assert_eq!(host.audit_events(), vec!["failed"]);
    let record = &host.audit()[0];
    assert_eq!(
        record["error"],
        "rollout failed: deployment \"web\" exceeded its progress deadline"
    );
    assert_eq!(
        (
            record["kind"].as_str(),
            record["name"].as_str(),
            record["live_revision"].as_i64()
        ),
        (Some("Deployment"), Some("web"), Some(2))
    );

    // A mere revision mismatch is kubectl's error but not a failed rollout: not recorded.
    host.call(
        "k8s_rollout_status",
        json!({"resource_type": "deployment", "name": "web", "namespace": "shop", "revision": 1, "wait": true}),
    )
    .await;
    assert_eq!(host.audit_events(), vec!["failed"]);
}
