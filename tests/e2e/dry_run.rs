//! The dry run validates the very patch the write sends: the sim's request log shows the two
//! bodies equal but for the approver's name in the change-cause.

use kube_sim::Scenario;
use serde_json::json;

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
        let [dry_run, before_asking, write] = writes.as_slice() else {
            panic!("{resource_type}: two dry runs and a write: {writes:?}")
        };
        assert!(before_asking.dry_run, "{resource_type}");
        assert_eq!(
            before_asking.body, dry_run.body,
            "{resource_type}: the same patch"
        );
        assert!(dry_run.dry_run && !write.dry_run, "{resource_type}");
        assert_eq!(dry_run.content_type, write.content_type, "{resource_type}");
        assert_eq!(
            report["patch"],
            dry_run.json().unwrap(),
            "{resource_type}: the report shows the patch sent"
        );
        assert_eq!(
            dry_run
                .body
                .replace("approved by <approver>", "approved by alice"),
            write.body,
            "{resource_type}: the dry run sent the write's body"
        );
    }
}
