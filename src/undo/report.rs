//! What an undo reports: the structured result (the tool's `outputSchema`) and the same data as
//! compact text.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::approval::ApprovalPath;
use crate::audit::Detail;
use crate::rollout::clip;
use crate::rollout::diff::{Change, TemplateDiff};
use crate::rollout::kind::WorkloadKind;
use crate::rollout::plan::RollbackPlan;
use crate::rollout::template::ContainerImage;
use crate::verify::{self, StatusReport};

use super::event::ClusterEvent;

/// What stands for the approver's name in a dry run's change-cause.
pub const APPROVER_PLACEHOLDER: &str = "<approver>";

/// What an undo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UndoOutcome {
    /// The approved patch was written.
    RolledBack,
    /// Server-side dry run only; nothing was written.
    DryRun,
}

/// Who approved, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ApprovalSummary {
    pub path: ApprovalPath,
    /// The approver's name as given in the form.
    pub approver: Option<String>,
}

impl ApprovalSummary {
    /// The approval a dry run writes its change-cause for: the path the real call would take,
    /// with [`APPROVER_PLACEHOLDER`] for the name nobody has given yet.
    pub fn placeholder(path: ApprovalPath) -> Self {
        Self {
            path,
            approver: Some(APPROVER_PLACEHOLDER.into()),
        }
    }

    /// The audit detail every record from the approval on repeats.
    pub fn detail(&self) -> Detail {
        Detail {
            approval_path: Some(self.path),
            approver: self.approver.clone(),
            ..Default::default()
        }
    }

    /// How the change-cause names the approval.
    pub fn approved_by(&self) -> String {
        match (self.path, &self.approver) {
            (ApprovalPath::HostConfirmed, _) => {
                "confirmed by the MCP host (--approval host-confirmed)".into()
            }
            (_, Some(approver)) => format!("approved by {approver}"),
            (_, None) => "approved by an unnamed approver".into(),
        }
    }
}

/// The result of an undo.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UndoReport {
    pub outcome: UndoOutcome,
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The revision that was live before the undo.
    pub from_revision: Option<i64>,
    /// The revision whose template was restored.
    pub to_revision: i64,
    /// The revision number the controller gave the restored template (read back); None if the
    /// controller had not recorded it yet.
    pub new_revision: Option<i64>,
    /// The ReplicaSet or ControllerRevision carrying the restored template, once read back.
    pub new_revision_object: Option<String>,
    /// How the new revision was determined, or why it is not known yet.
    pub new_revision_note: String,
    pub images_before: Vec<ContainerImage>,
    pub images_after: Vec<ContainerImage>,
    /// From the previously live template to the restored one.
    pub diff: TemplateDiff,
    /// The resourceVersion the write was conditional on.
    pub precondition_resource_version: String,
    pub approval: Option<ApprovalSummary>,
    /// The `kubernetes.io/change-cause` written with the rollback (for a dry run, the one the
    /// write will carry, with a placeholder for the approver's name).
    pub change_cause: String,
    /// How the write changes (changed) the workload's own annotations: a Deployment undo
    /// replaces them with the target ReplicaSet's, as kubectl does (manifests held in them
    /// redacted unless the server shows env values).
    pub annotation_changes: Vec<Change>,
    /// The patch the dry run sent (exactly the write's, but for the approver's name), with env
    /// values and manifests held in annotations redacted unless the server shows env values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("anyOf" = [{"type": "object"}, {"type": "array"}]))]
    pub patch: Option<Value>,
    /// Lower-case hex SHA-256 of the exact patch body sent (unredacted), to match `patch` and
    /// the audit record to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_sha256: Option<String>,
    /// How admission (a mutating webhook or policy) changes the restored template, as the dry
    /// run's answer shows it; absent when it stores the target's template as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_changes: Option<TemplateDiff>,
    /// With `--approval host-confirmed`: the question an approver would have been shown (the
    /// host's own confirmation shows only the call's arguments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub briefing: Option<String>,
    pub warnings: Vec<String>,
    /// The `RollbackApproved` Event on the workload (approved writes only): its name, or why
    /// it is missing.
    pub cluster_event: Option<ClusterEvent>,
    /// The rollout's status after waiting (with `wait`).
    pub status: Option<StatusReport>,
    pub next_step: String,
}

/// What the controller made of the write, as far as it was read back.
#[derive(Debug, Clone, Default)]
pub struct ReadBack {
    pub number: Option<i64>,
    pub object: Option<String>,
    pub note: String,
}

impl UndoReport {
    /// The report of a plan carried out (or dry-run): everything but the status.
    pub fn new(
        plan: &RollbackPlan,
        outcome: UndoOutcome,
        approval: &ApprovalSummary,
        change_cause: String,
        read_back: ReadBack,
    ) -> Self {
        let next_step = match outcome {
            UndoOutcome::DryRun => format!(
                "to perform it, call k8s_rollout_undo again with to_revision {} and dry_run false; a human will be asked to approve",
                plan.target_revision()
            ),
            UndoOutcome::RolledBack => format!(
                "check the rollout with k8s_rollout_status (resource_type \"{}\", name \"{}\", namespace \"{}\")",
                plan.kind, plan.name, plan.namespace
            ),
        };
        let mut warnings = plan.warnings.clone();
        if approval.path == ApprovalPath::HostConfirmed {
            warnings.push(
                "approved without elicitation: the operator's --approval host-confirmed trusts the MCP host's own confirmation of this call".into(),
            );
        }
        UndoReport {
            outcome,
            kind: plan.kind,
            namespace: plan.namespace.clone(),
            name: plan.name.clone(),
            from_revision: plan.live_revision,
            to_revision: plan.target_revision(),
            new_revision: read_back.number,
            new_revision_object: read_back.object,
            new_revision_note: read_back.note,
            images_before: plan.images_before.clone(),
            images_after: plan.images_after.clone(),
            diff: plan.diff.clone(),
            precondition_resource_version: plan.resource_version.clone(),
            approval: (outcome == UndoOutcome::RolledBack).then(|| approval.clone()),
            change_cause,
            annotation_changes: Vec::new(),
            patch: None,
            patch_sha256: None,
            admission_changes: None,
            briefing: None,
            warnings,
            cluster_event: None,
            status: None,
            next_step,
        }
    }
}

/// The outcome in one line, as the approval page shows it.
pub fn outcome_line(report: &UndoReport) -> String {
    let new = report
        .new_revision
        .map_or("not yet known".to_string(), |n| n.to_string());
    format!(
        "Written: {} {}/{} runs the template of revision {} (new revision {new}). Verify it with k8s_rollout_status.",
        report.kind, report.namespace, report.name, report.to_revision
    )
}

/// The report as compact text.
pub fn render(report: &UndoReport) -> String {
    let subject = format!("{} {}/{}", report.kind, report.namespace, report.name);
    let from = report
        .from_revision
        .map_or("unknown".to_string(), |n| n.to_string());
    let mut out = match report.outcome {
        UndoOutcome::DryRun => format!(
            "dry run: {subject} would roll back from revision {from} to the template of revision {} (server dry run accepted; nothing written)\n",
            report.to_revision
        ),
        UndoOutcome::RolledBack => format!(
            "{subject} rolled back from revision {from} to the template of revision {}; new revision: {} ({})\n",
            report.to_revision,
            report
                .new_revision
                .map_or("not yet known".to_string(), |n| n.to_string()),
            report.new_revision_note
        ),
    };
    if let Some(approval) = &report.approval {
        out.push_str(&format!(
            "approved by: {} (via {})\n",
            approval.approver.as_deref().unwrap_or("<unnamed>"),
            approval.path.as_str()
        ));
    }
    out.push_str(&format!("change-cause: {}\n", report.change_cause));
    if let Some(ClusterEvent::Created { name }) = &report.cluster_event {
        out.push_str(&format!(
            "cluster event: {name} (reason RollbackApproved)\n"
        ));
    }
    if let Some(patch) = &report.patch {
        out.push_str(&format!("patch sent (dry run): {patch}\n"));
    }
    if let Some(digest) = &report.patch_sha256 {
        out.push_str(&format!("patch sha256 (exact body sent): {digest}\n"));
    }
    out.push_str(&report.diff.describe_changes());
    if !report.annotation_changes.is_empty() {
        out.push_str("workload annotations:\n");
        for change in report.annotation_changes.iter().take(clip::ITEMS) {
            out.push_str(&format!(
                "- {}\n",
                clip::untrusted(&change.describe(), clip::VALUE)
            ));
        }
        if report.annotation_changes.len() > clip::ITEMS {
            out.push_str(&format!(
                "- ... {} more\n",
                report.annotation_changes.len() - clip::ITEMS
            ));
        }
    }
    if let Some(admission) = &report.admission_changes {
        out.push_str(&format!(
            "admission changes ({} -> {}):\n",
            admission.from, admission.to
        ));
        out.push_str(&admission.describe_changes());
    }
    if let Some(briefing) = &report.briefing {
        out.push_str(&format!(
            "briefing (what an approver would have been shown):\n{briefing}\n"
        ));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if let Some(status) = &report.status {
        out.push_str(&format!("status: {}", verify::render(status)));
    }
    out.push_str(&format!("next: {}\n", report.next_step));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_cause_names_the_approval() {
        let alice = ApprovalSummary {
            path: ApprovalPath::Elicitation,
            approver: Some("alice".into()),
        };
        assert_eq!(alice.approved_by(), "approved by alice");
        let host = ApprovalSummary {
            path: ApprovalPath::HostConfirmed,
            approver: None,
        };
        assert_eq!(
            host.approved_by(),
            "confirmed by the MCP host (--approval host-confirmed)"
        );
        let unnamed = ApprovalSummary {
            path: ApprovalPath::InputRequired,
            approver: None,
        };
        assert_eq!(unnamed.approved_by(), "approved by an unnamed approver");
        assert_eq!(
            ApprovalSummary::placeholder(ApprovalPath::Elicitation).approved_by(),
            "approved by <approver>"
        );
    }
}
