//! What a server dry run's answer proves, beyond accepted or refused.
//!
//! A dry run (`dryRun=All`) runs admission and validation and stores nothing, so its answer is
//! the object as the write would store it, still at the resourceVersion the plan was made from
//! (the patch's precondition). Two things are read from it:
//! - **its resourceVersion**: a different one means the request was *stored*. Something
//!   between this server and the API server (a proxy) dropped `dryRun=All`, and the patch was
//!   written without approval. That is an alarm: logged, audited, and the undo refused with
//!   that truth.
//! - **its template**: a mutating admission webhook or policy may store a template other than
//!   the target revision's. The difference is shown to the approver (and in a dry run's
//!   result), because the restored revision is then not exactly the one they picked.

use crate::cluster::ClusterError;
use crate::rollout::diff::{self, TemplateDiff};
use crate::rollout::plan::RollbackPlan;
use crate::rollout::template;
use crate::rollout::workload::Workload;

/// What a dry run's answer proves.
#[derive(Debug)]
pub enum DryRunVerdict {
    /// The API server accepted the patch; `admission` is how the template it would store
    /// differs from the target revision's (admission changed it), if it does.
    Accepted { admission: Option<TemplateDiff> },
    /// 409 Conflict on the precondition: the workload's resourceVersion moved since the plan
    /// (status updates do), so the dry run proves nothing either way.
    Inconclusive(ClusterError),
    /// The API server refused the patch (admission, validation, RBAC).
    Refused(ClusterError),
    /// The answer carries a resourceVersion other than the planned one: it was stored.
    Stored { resource_version: String },
}

/// Judges the answer to a dry run of `plan`'s patch.
pub fn judge(
    plan: &RollbackPlan,
    answer: Result<Workload, ClusterError>,
    show_env_values: bool,
) -> DryRunVerdict {
    let stored = match answer {
        Ok(stored) => stored,
        Err(error @ ClusterError::Conflict { .. }) => return DryRunVerdict::Inconclusive(error),
        Err(error) => return DryRunVerdict::Refused(error),
    };
    if stored.resource_version() != plan.resource_version {
        return DryRunVerdict::Stored {
            resource_version: stored.resource_version().to_string(),
        };
    }
    let admission = (template::digest(stored.template()) != plan.template_digest).then(|| {
        diff::diff(
            &format!("revision {}", plan.target_revision()),
            &plan.target.template(),
            "as the API server would store it",
            stored.template(),
            show_env_values,
        )
    });
    DryRunVerdict::Accepted { admission }
}

/// The alarm for a stored dry run: what happened, that it was written without approval, and
/// what to do.
pub fn stored_message(plan: &RollbackPlan, resource_version: &str) -> String {
    format!(
        "the server dry run of the rollback of {kind} {namespace}/{name} to revision {target} was STORED: the API server answered with resourceVersion {resource_version}, not the planned {planned}, so something between this server and the API server (a proxy?) dropped dryRun=All. Revision {target}'s template was written WITHOUT approval, with \"<approver>\" in its change-cause. Nothing more was sent and nobody was asked. Check the workload with k8s_rollout_history, and fix the path to the API server before any further undo.",
        kind = plan.kind,
        namespace = plan.namespace,
        name = plan.name,
        target = plan.target_revision(),
        planned = plan.resource_version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::undo::outcome::tests::planned;
    use serde_json::json;

    /// The workload as a dry run of the plan answers it: the target template, same version.
    fn answered(live: &Workload, plan: &RollbackPlan) -> Workload {
        let mut answer = live.clone();
        answer.object.data["spec"]["template"] = plan.target.template();
        answer
    }

    #[test]
    fn an_answer_at_the_planned_version_with_the_target_template_is_accepted() {
        let (live, plan) = planned();
        let verdict = judge(&plan, Ok(answered(&live, &plan)), false);
        assert!(matches!(
            verdict,
            DryRunVerdict::Accepted { admission: None }
        ));
    }

    #[test]
    fn an_answer_at_a_new_version_was_stored() {
        let (live, plan) = planned();
        let mut answer = answered(&live, &plan);
        answer.object.metadata.resource_version = Some("43".into());
        let verdict = judge(&plan, Ok(answer), false);
        assert!(
            matches!(&verdict, DryRunVerdict::Stored { resource_version } if resource_version == "43"),
            "{verdict:?}"
        );
        let message = stored_message(&plan, "43");
        assert!(message.contains("WITHOUT approval") && message.contains("not the planned 42"));
    }

    #[test]
    fn a_template_changed_by_admission_is_shown_with_values_redacted() {
        let (live, plan) = planned();
        let mut answer = answered(&live, &plan);
        answer.object.data["spec"]["template"]["metadata"]["annotations"] =
            json!({"sidecar.example.com/injected": "true"});
        answer.object.data["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "TOKEN", "value": "s3cret"}]);
        let DryRunVerdict::Accepted {
            admission: Some(admission),
        } = judge(&plan, Ok(answer), false)
        else {
            panic!("admission changes expected")
        };
        let described = admission.describe_changes();
        assert!(
            described.contains("annotation sidecar.example.com/injected: added true"),
            "{described}"
        );
        assert!(!admission.unified.contains("s3cret") && !described.contains("s3cret"));
    }
}
