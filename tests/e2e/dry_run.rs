//! The dry run validates the very patch the write sends: the sim's request log shows the two
//! bodies equal but for the approver's name in the change-cause.

use k8s_rollout_mcp::rollout::template::sha256_hex;
use k8s_rollout_mcp::rollout::workload::CALL_ID;
use kube_sim::Scenario;
use serde_json::{Value, json};

use super::backend::Backend;
use super::host::{Answer, Host, Lifecycle, structured, text};

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
