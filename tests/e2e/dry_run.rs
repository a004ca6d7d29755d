//! The dry run validates the very patch the write sends: the request log shows the two bodies
//! equal but for the approver's name in the change-cause and the call id. What it shows of the
//! patch has env values and applied manifests redacted, beside the digest of the exact body;
//! what its answer proves is judged: a template admission changed is shown, a dry run that came
//! back stored is an alarm.

use k8s_rollout_mcp::rollout::template::sha256_hex;
use k8s_rollout_mcp::rollout::workload::{CALL_ID, LAST_APPLIED};
use kube_sim::{Fault, ResourceKind, Scenario, Verb};
use serde_json::{Value, json};

use super::admission;
use super::backend::Backend;
use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured, text};

on_both_backends!(the_dry_run_sends_the_writes_patch_with_a_placeholder_for_the_approver);
async fn the_dry_run_sends_the_writes_patch_with_a_placeholder_for_the_approver(backend: Backend) {
    for (resource_type, name, target) in [
        ("deployment", "api-server", 3),
        ("daemonset", "node-agent", 1),
        ("statefulset", "orders-db", 2),
    ] {
        let host = Host::start_on(backend, Scenario::demo(), Lifecycle::Handshake).await;
        let arguments = json!({"resource_type": resource_type, "name": name, "namespace": "shop",
                               "to_revision": target, "reason": "errors since the deploy"});
        let mut dry = arguments.clone();
        dry["dry_run"] = json!(true);
        let result = host.call("k8s_rollout_undo", dry).await;
        let report = structured(&result).clone();
        let cause = format!(
            "rollback to revision {target} approved by <approver> via k8s-rollout-mcp: errors since the deploy"
        );
        assert_eq!(report["change_cause"], cause.as_str(), "{resource_type}");
        assert!(text(&result).contains(&cause), "shown: {}", text(&result));

        host.answer(Answer::approve("alice"));
        structured(&host.call("k8s_rollout_undo", arguments).await);
        // The dry run asked for, the one before asking, and the write.
        let writes = host.writes_and_dry_runs().await;
        // Each call stamps its own call id; the write's is the one of the call that asked.
        let call_id = |body: &str| {
            let at = body.find(CALL_ID).unwrap() + CALL_ID.len() + 3;
            body[at..at + 32].to_string()
        };
        let [dry_run, before_asking, write] = writes.as_slice() else {
            panic!("{resource_type}: two dry runs and a write: {writes:?}")
        };
        assert!(before_asking.dry_run, "{resource_type}");
        assert_eq!(
            before_asking.body,
            dry_run
                .body
                .replace(&call_id(&dry_run.body), &call_id(&before_asking.body)),
            "{resource_type}: the same patch, but for the call id"
        );
        assert!(dry_run.dry_run && !write.dry_run, "{resource_type}");
        assert_eq!(dry_run.content_type, write.content_type, "{resource_type}");
        let mut sent = dry_run.json().unwrap();
        redact_env_values(&mut sent);
        assert_eq!(
            report["patch"], sent,
            "{resource_type}: the report shows the patch sent, env values redacted"
        );
        assert_eq!(
            report["patch_sha256"],
            sha256_hex(dry_run.body.as_bytes()),
            "{resource_type}: the digest of the exact body"
        );
        let audit = host.audit();
        let written = audit.iter().find(|r| r["event"] == "written").unwrap();
        assert_eq!(call_id(&write.body), written["call_id"], "{resource_type}");
        assert_eq!(written["patch_sha256"], sha256_hex(write.body.as_bytes()));
        assert_eq!(
            dry_run
                .body
                .replace("approved by <approver>", "approved by alice")
                .replace(&call_id(&dry_run.body), &call_id(&write.body)),
            write.body,
            "{resource_type}: the dry run sent the write's body"
        );
    }
}

/// Every literal env value in `value` replaced as the server redacts it.
fn redact_env_values(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if key == "env" {
                    for variable in field.as_array_mut().into_iter().flatten() {
                        if let Some(value) = variable.get_mut("value") {
                            *value = json!("<redacted>");
                        }
                    }
                } else {
                    redact_env_values(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_env_values),
        _ => {}
    }
}

/// A deployment whose revisions carry env values, the second applied with kubectl (its whole
/// manifest, the value included, in `last-applied-configuration`).
fn with_secrets() -> Scenario {
    Scenario::builder()
        .namespace("shop")
        .deployment("shop", "web", |d| {
            d.replicas(1)
                .revision(|t| {
                    t.image("app", "web:1")
                        .env("app", "API_MODE", "s3cr3t-one")
                        .days_ago(2)
                })
                .revision(|t| {
                    t.image("app", "web:2")
                        .env("app", "API_MODE", "s3cr3t-two")
                        .annotation(
                            LAST_APPLIED,
                            r#"{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"API_MODE","value":"s3cr3t-applied"}]}]}}}}"#,
                        )
                        .days_ago(1)
                })
        })
        .build()
}

fn web_undo(dry_run: bool) -> Value {
    json!({"resource_type": "deployment", "name": "web", "namespace": "shop",
           "to_revision": 1, "dry_run": dry_run, "reason": "errors"})
}

/// Everything the agent receives from a call: structured content and text.
fn everything(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(result).unwrap()
}

on_both_backends!(a_dry_run_shows_no_env_value_or_applied_manifest_unless_the_operator_opts_in);
async fn a_dry_run_shows_no_env_value_or_applied_manifest_unless_the_operator_opts_in(
    backend: Backend,
) {
    let host = Host::start_on(backend, with_secrets(), Lifecycle::Handshake).await;
    let result = host.call("k8s_rollout_undo", web_undo(true)).await;
    let report = structured(&result);
    let shown = everything(&result);
    assert!(
        !shown.contains("s3cr3t"),
        "a value reached the agent: {shown}"
    );
    assert!(
        shown.contains("<redacted manifest") && shown.contains("<redacted>"),
        "{shown}"
    );
    // The exact body went to the API server, and the digest shown is that body's.
    let sent = host.writes_and_dry_runs().await;
    let [dry_run] = sent.as_slice() else {
        panic!("one dry run: {sent:?}")
    };
    assert!(dry_run.body.contains("s3cr3t-one") && dry_run.body.contains("s3cr3t-applied"));
    assert_eq!(report["patch_sha256"], sha256_hex(dry_run.body.as_bytes()));
    let audit = host.audit();
    assert_eq!(
        audit.last().unwrap()["patch_sha256"],
        report["patch_sha256"],
        "and on the record"
    );
    assert!(
        !serde_json::to_string(&audit).unwrap().contains("s3cr3t"),
        "nor in the audit log"
    );

    let showing = Host::start_with(
        with_secrets(),
        HostOptions::new(Lifecycle::Handshake)
            .on(backend)
            .arg("--show-env-values"),
    )
    .await;
    let result = showing.call("k8s_rollout_undo", web_undo(true)).await;
    let shown = everything(&result);
    assert!(
        shown.contains("s3cr3t-one") && shown.contains("s3cr3t-applied"),
        "the operator opted in: {shown}"
    );
}

on_both_backends!(a_template_that_admission_changes_is_shown_in_the_dry_run_and_the_question);
async fn a_template_that_admission_changes_is_shown_in_the_dry_run_and_the_question(
    backend: Backend,
) {
    let host = Host::start_on(backend, with_secrets(), Lifecycle::Handshake).await;
    let injected = json!({"spec": {"template": {"metadata": {"annotations": {"sidecar.example.com/injected": "true"}}}}});
    let webhook = admission::mutate(
        &host.cluster,
        ResourceKind::Deployment,
        "shop",
        "web",
        CALL_ID,
        injected,
    )
    .await;

    let result = host.call("k8s_rollout_undo", web_undo(true)).await;
    let report = structured(&result);
    let changes = report["admission_changes"]["changes"].to_string();
    assert!(
        changes.contains("annotation sidecar.example.com/injected") && changes.contains("true"),
        "{report}"
    );
    assert!(
        report["warnings"]
            .to_string()
            .contains("admission (a mutating webhook or policy) changes the restored template"),
        "{report}"
    );

    host.answer(Answer::Decline);
    refusal(&host.call("k8s_rollout_undo", web_undo(false)).await);
    let question = &host.asked()[0];
    assert!(
        question.contains("Admission (a mutating webhook or policy) changes the restored template")
            && question.contains("  - annotation sidecar.example.com/injected: added true"),
        "{question}"
    );
    assert!(host.writes().await.is_empty(), "declined: nothing written");
    webhook.remove().await;
}

/// kube-sim only: a real API server honours dryRun=All; only an intermediary that drops it
/// stores a dry run, which the sim's fault plays.
#[tokio::test]
async fn a_dry_run_that_comes_back_stored_is_an_alarm_and_nobody_is_asked() {
    for dry_run in [true, false] {
        let host = Host::start(with_secrets(), Lifecycle::Handshake).await;
        host.answer(Answer::approve("alice"));
        host.sim().inject_fault(
            Fault::on(Verb::Patch, "deployments")
                .named("web")
                .ignore_dry_run()
                .once(),
        );
        let message = refusal(&host.call("k8s_rollout_undo", web_undo(dry_run)).await);
        assert!(
            message.contains("was STORED") && message.contains("WITHOUT approval"),
            "{message}"
        );
        assert!(host.asked().is_empty(), "nobody was asked");
        let events = host.audit_events();
        assert_eq!(events.last().map(String::as_str), Some("dry_run_stored"));
        assert!(!events.iter().any(|event| event == "approval_requested"));
        // The truth: it was written, by the one request sent as a dry run; no write followed.
        let sent = host.sim().mutating_requests();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].dry_run);
        let live = host.sim().get("deployments", "shop", "web").unwrap();
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][0]["image"],
            "web:1"
        );
    }
}
