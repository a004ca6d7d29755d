//! `k8s_rollout_undo`: plan (read-only), ask a human, write exactly what was approved, and
//! read back the revision the controller gave it.
//!
//! Every refusal path writes nothing: a plan kubectl would refuse, a dry run (server-side
//! `dryRun=All` only), any answer but an accepted `approve: true`, a client that cannot ask, a
//! rejected approval state, and a workload that changed since the plan (the write's
//! resourceVersion precondition makes the API server answer 409).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use rmcp::model::{CallToolResponse, CallToolResult, InputResponses, ProtocolVersion};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::approval::form::{self, ClusterIdentity};
use crate::approval::state::ApprovalBinding;
use crate::approval::{self, ApprovalDecision, ApprovalPath, Refusal};
use crate::audit::{AuditEvent, CallFacts, Detail};
use crate::cluster::ClusterError;
use crate::config::ApprovalMode;
use crate::rollout::diff::TemplateDiff;
use crate::rollout::kind::{RevisionStore, WorkloadKind};
use crate::rollout::plan::{self, PlanRefusal, RollbackPlan};
use crate::rollout::revisions::{REVISION, RevisionLookupError};
use crate::rollout::template::ContainerImage;
use crate::rollout::workload::Workload;
use crate::verify::{self, StatusQuery, StatusReport};

use super::RolloutServer;
use super::reply::{self, ToolFailure};
use super::status::{self, McpProgress};

/// How long to wait for the controller to observe the write before reporting "not yet".
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `k8s_rollout_undo`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoArgs {
    /// The workload type: deployment, daemonset or statefulset (plural, short names
    /// deploy/ds/sts and the Kind spelling work too).
    pub resource_type: String,
    /// The workload's name.
    pub name: String,
    /// The namespace (default: the server's --namespace, else the kubeconfig context's, else
    /// "default").
    pub namespace: Option<String>,
    /// The revision whose template to restore (>= 1). Required: there is no implicit
    /// "previous"; read k8s_rollout_history first.
    pub to_revision: i64,
    /// Only validate the change on the API server (dryRun=All) and show it; no approval is
    /// asked and nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// Why the rollback is needed; shown to the approver and recorded in the change-cause.
    pub reason: Option<String>,
    /// After the write, wait (on a watch) until the rollout finishes, fails, or
    /// timeout_seconds pass, and report its status.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait with `wait` (default 120, at most 600).
    pub timeout_seconds: Option<u64>,
}

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
    /// controller had not observed the write yet.
    pub new_revision: Option<i64>,
    /// How the new revision was determined, or why it is not known yet.
    pub new_revision_note: String,
    pub images_before: Vec<ContainerImage>,
    pub images_after: Vec<ContainerImage>,
    /// From the previously live template to the restored one.
    pub diff: TemplateDiff,
    /// The resourceVersion the write was conditional on.
    pub precondition_resource_version: String,
    pub approval: Option<ApprovalSummary>,
    /// The `kubernetes.io/change-cause` written with the rollback.
    pub change_cause: Option<String>,
    pub warnings: Vec<String>,
    /// The rollout's status after waiting (with `wait`).
    pub status: Option<StatusReport>,
    pub next_step: String,
}

/// One undo call: its facts for the audit trail and where to record them.
struct UndoCall<'a> {
    server: &'a RolloutServer,
    facts: CallFacts,
}

impl UndoCall<'_> {
    /// Appends an audit record; an unwritable log refuses the undo before anything is written.
    fn record(&self, event: AuditEvent, detail: Detail) -> Result<(), ToolFailure> {
        self.server.audit.append(event, &self.facts, &detail).map_err(|error| {
            ToolFailure(format!("{error}. The undo is refused because its audit record cannot be kept; nothing was written (history and status still work). Fix the path or pass --audit-log."))
        })
    }

    /// Records a refusal and turns it into the tool's answer.
    fn refuse(&self, plan: &RollbackPlan, refusal: Refusal) -> ToolFailure {
        let event = match &refusal {
            Refusal::Declined | Refusal::NotApproved | Refusal::Malformed(_) => {
                AuditEvent::Declined
            }
            Refusal::Cancelled => AuditEvent::Cancelled,
            Refusal::TimedOut(_) => AuditEvent::TimedOut,
            Refusal::NotSupported => AuditEvent::NotSupported,
            Refusal::StateRejected(_) => AuditEvent::StateRejected,
            Refusal::Failed(_) => AuditEvent::Failed,
        };
        let refused = ToolFailure(format!(
            "rollback of {}/{} in namespace \"{}\" to revision {} refused: {refusal}. Nothing was written.",
            plan.kind,
            plan.name,
            plan.namespace,
            plan.target_revision()
        ));
        match self.record(
            event,
            Detail {
                error: Some(refusal.to_string()),
                ..Default::default()
            },
        ) {
            Ok(()) => refused,
            Err(audit) => ToolFailure(format!("{} {}", refused.0, audit.0)),
        }
    }
}

impl RolloutServer {
    pub(super) async fn undo(
        &self,
        args: UndoArgs,
        context: RequestContext<RoleServer>,
        request_state: Option<String>,
        responses: Option<InputResponses>,
    ) -> Result<CallToolResponse, ToolFailure> {
        let target = self
            .target(&args.resource_type, &args.name, args.namespace.as_deref())
            .await?;
        let workload = target.fetch(&self.cluster).await?;
        let set = self.cluster.revisions(&workload).await?;
        let plan = plan::plan(
            &workload,
            &set,
            args.to_revision,
            self.settings.show_env_values,
        )
        .map_err(|refusal| {
            let existing = match &refusal {
                PlanRefusal::Lookup(RevisionLookupError::NotFound { available, .. }) => {
                    format!("; existing revisions: {}", list(available))
                }
                _ => String::new(),
            };
            ToolFailure(format!(
                "{}/{} in namespace \"{}\": {refusal}{existing}. Nothing was written.",
                target.kind, target.name, target.namespace
            ))
        })?;
        let call = UndoCall {
            server: self,
            facts: self.call_facts(&plan, &context, args.reason.as_deref()),
        };
        call.record(AuditEvent::Planned, Detail::default())?;

        if args.dry_run {
            return self.dry_run(&call, &plan).await.map(Into::into);
        }

        let binding = ApprovalBinding::of(&plan, &self.cluster.context);
        let decision = if let Some(sealed) = request_state {
            match self.approvals.redeem(&sealed, &binding) {
                Ok(()) => {
                    form::decide_response(responses.as_ref().and_then(|r| r.get(form::INPUT_KEY)))
                }
                Err(rejection) => ApprovalDecision::Refused(Refusal::StateRejected(rejection)),
            }
        } else if approval::client_can_elicit(context.client_capabilities().as_ref()) {
            let message = self.approval_message(&plan, args.reason.as_deref());
            let inline = context
                .protocol_version()
                .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
            let path = if inline {
                ApprovalPath::InputRequired
            } else {
                ApprovalPath::Elicitation
            };
            call.record(
                AuditEvent::ApprovalRequested,
                Detail {
                    approval_path: Some(path),
                    ..Default::default()
                },
            )?;
            if inline {
                let sealed = self.approvals.seal(&binding).map_err(|error| {
                    ToolFailure(format!(
                        "cannot seal the approval request: {error}. Nothing was written."
                    ))
                })?;
                return Ok(approval::input_required(message, sealed).into());
            }
            approval::ask_during_call(
                &context.peer,
                message,
                self.settings.approval_timeout,
                &context.ct,
            )
            .await
        } else if self.settings.approval == ApprovalMode::HostConfirmed {
            ApprovalDecision::Approved {
                approver: None,
                path: ApprovalPath::HostConfirmed,
            }
        } else {
            ApprovalDecision::Refused(Refusal::NotSupported)
        };

        let approval = match decision {
            ApprovalDecision::Refused(refusal) => return Err(call.refuse(&plan, refusal)),
            ApprovalDecision::Approved { approver, path } => ApprovalSummary { path, approver },
        };
        let approved = Detail {
            approval_path: Some(approval.path),
            approver: approval.approver.clone(),
            ..Default::default()
        };
        // Written and flushed before the patch is sent: no record, no write.
        call.record(AuditEvent::Approved, approved.clone())?;
        let wait = status::wait_limit(args.wait, args.timeout_seconds);
        self.execute(
            &call,
            &plan,
            approval,
            approved,
            args.reason.as_deref(),
            wait,
            &context,
        )
        .await
        .map(Into::into)
    }

    /// The audit facts of this call.
    fn call_facts(
        &self,
        plan: &RollbackPlan,
        context: &RequestContext<RoleServer>,
        reason: Option<&str>,
    ) -> CallFacts {
        let client = context.client_info();
        CallFacts {
            client_name: client.as_ref().map(|client| client.name.clone()),
            client_version: client.map(|client| client.version),
            protocol_version: context
                .protocol_version()
                .map(|version| version.to_string()),
            reason: reason.map(str::to_string),
            context: self.cluster.context.clone(),
            cluster_server: self.cluster.server.clone(),
            namespace: plan.namespace.clone(),
            kind: plan.kind.kind().to_string(),
            name: plan.name.clone(),
            uid: Some(plan.uid.clone()),
            live_revision: plan.live_revision,
            target_revision: Some(plan.target_revision()),
        }
    }

    fn approval_message(&self, plan: &RollbackPlan, reason: Option<&str>) -> String {
        let cluster = ClusterIdentity {
            context: &self.cluster.context,
            server: &self.cluster.server,
        };
        form::message(plan, &cluster, reason, Timestamp::now())
    }

    async fn dry_run(
        &self,
        call: &UndoCall<'_>,
        plan: &RollbackPlan,
    ) -> Result<CallToolResult, ToolFailure> {
        let patch = plan.patch(None);
        let outcome = self
            .cluster
            .patch(plan.kind, &plan.namespace, &plan.name, &patch, true)
            .await;
        let error = outcome.as_ref().err().map(ToString::to_string);
        call.record(
            AuditEvent::DryRun,
            Detail {
                error,
                ..Default::default()
            },
        )?;
        outcome.map_err(|error| write_failure(plan, error, true))?;
        let report = report(
            plan,
            UndoOutcome::DryRun,
            None,
            None,
            None,
            "dry run: nothing was written".into(),
        );
        Ok(reply::success(&report, render(&report)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        call: &UndoCall<'_>,
        plan: &RollbackPlan,
        approval: ApprovalSummary,
        approved: Detail,
        reason: Option<&str>,
        wait: Option<Duration>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolFailure> {
        let change_cause = change_cause(plan.target_revision(), &approval, reason);
        let patch = plan.patch(Some(&change_cause));
        let written = match self
            .cluster
            .patch(plan.kind, &plan.namespace, &plan.name, &patch, false)
            .await
        {
            Ok(written) => written,
            Err(ClusterError::Conflict { message }) => {
                let failure = self.changed_since_approval(plan).await;
                let detail = Detail {
                    error: Some(format!("409 Conflict: {message}")),
                    ..approved
                };
                return Err(match call.record(AuditEvent::Conflict, detail) {
                    Ok(()) => failure,
                    Err(audit) => ToolFailure(format!("{} {}", failure.0, audit.0)),
                });
            }
            Err(error) => {
                let failure = write_failure(plan, error, false);
                let detail = Detail {
                    error: Some(failure.0.clone()),
                    ..approved
                };
                return Err(match call.record(AuditEvent::Failed, detail) {
                    Ok(()) => failure,
                    Err(audit) => ToolFailure(format!("{} {}", failure.0, audit.0)),
                });
            }
        };
        let (new_revision, note) = self.read_back(&written).await;
        let mut report = report(
            plan,
            UndoOutcome::RolledBack,
            new_revision,
            Some(approval),
            Some(change_cause),
            note,
        );
        let written_detail = Detail {
            resulting_revision: new_revision,
            ..approved.clone()
        };
        if let Err(audit) = call.record(AuditEvent::Written, written_detail) {
            report.warnings.push(format!(
                "the rollback was written but its audit record was not: {}",
                audit.0
            ));
        }
        if let Some(limit) = wait {
            let status = self.verify_after_write(written, limit, context).await;
            match status {
                Ok(status) => {
                    if status.failed {
                        let detail = Detail {
                            error: Some(format!(
                                "rollout failed after the rollback: {}",
                                status.message
                            )),
                            ..approved
                        };
                        if let Err(audit) = call.record(AuditEvent::Failed, detail) {
                            report.warnings.push(audit.0);
                        }
                    }
                    report.status = Some(status);
                }
                Err(error) => report
                    .warnings
                    .push(format!("the rollout could not be watched: {error}")),
            }
        }
        Ok(reply::success(&report, render(&report)))
    }

    async fn verify_after_write(
        &self,
        written: Workload,
        limit: Duration,
        context: &RequestContext<RoleServer>,
    ) -> Result<StatusReport, ClusterError> {
        let query = StatusQuery {
            expected_revision: None,
            wait: Some(limit),
        };
        let mut progress = McpProgress::new(context);
        verify::check(&self.cluster, written, query, &context.ct, &mut progress).await
    }

    /// The 409 path: say what the workload is now, so the agent re-inspects.
    async fn changed_since_approval(&self, plan: &RollbackPlan) -> ToolFailure {
        let now = match self
            .cluster
            .workload(plan.kind, &plan.namespace, &plan.name)
            .await
        {
            Ok(workload) => match self.cluster.revisions(&workload).await {
                Ok(set) => match set.live(&workload) {
                    Some(live) => format!("its live revision is now {}", live.number),
                    None => "its new template is not yet recorded as a revision".to_string(),
                },
                Err(error) => format!("its revisions could not be read: {error}"),
            },
            Err(error) => format!("it could not be read again: {error}"),
        };
        ToolFailure(format!(
            "{} {}/{} changed since the rollback was approved (it is no longer at resourceVersion {}), so the API server refused the write (409 Conflict) and nothing was written; {now}. Inspect the history again with k8s_rollout_history before deciding.",
            plan.kind, plan.namespace, plan.name, plan.resource_version
        ))
    }

    /// Waits (bounded) for the controller to observe the write, then reads the revision it
    /// gave the restored template: a Deployment's revision annotation, or (one LIST) the
    /// matching ControllerRevision.
    async fn read_back(&self, written: &Workload) -> (Option<i64>, String) {
        let observed = match self.observed(written).await {
            Ok(Some(observed)) => observed,
            Ok(None) => {
                return (
                    None,
                    format!(
                        "the controller had not observed the write within {}s; check k8s_rollout_status or k8s_rollout_history",
                        READ_BACK_TIMEOUT.as_secs()
                    ),
                );
            }
            Err(error) => {
                return (
                    None,
                    format!("the new revision could not be read back: {error}"),
                );
            }
        };
        match observed.kind.revision_store() {
            RevisionStore::ReplicaSets => match observed
                .annotations()
                .get(REVISION)
                .and_then(|n| n.parse().ok())
            {
                Some(number) => (
                    Some(number),
                    format!("from the deployment's {REVISION} annotation"),
                ),
                None => (
                    None,
                    format!("the deployment has no {REVISION} annotation yet"),
                ),
            },
            RevisionStore::ControllerRevisions => match self.cluster.revisions(&observed).await {
                Ok(set) => match set.live(&observed) {
                    Some(live) => (
                        Some(live.number),
                        format!("from ControllerRevision {}", live.object_name),
                    ),
                    None => (
                        None,
                        "no ControllerRevision matches the restored template yet".to_string(),
                    ),
                },
                Err(error) => (
                    None,
                    format!("the new revision could not be read back: {error}"),
                ),
            },
        }
    }

    /// The workload once `status.observedGeneration` reaches the write's generation (watching
    /// from the write), or None after [`READ_BACK_TIMEOUT`].
    async fn observed(&self, written: &Workload) -> Result<Option<Workload>, ClusterError> {
        let generation = written.generation();
        let is_observed = |workload: &Workload| {
            workload.status()["observedGeneration"]
                .as_i64()
                .unwrap_or(0)
                >= generation
        };
        if is_observed(written) {
            return Ok(Some(written.clone()));
        }
        let events = self
            .cluster
            .watch_workload(
                written.kind,
                written.namespace(),
                written.name(),
                written.resource_version(),
                READ_BACK_TIMEOUT.as_secs() as u32,
            )
            .await?;
        let waiting = async {
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let workload = event?;
                if is_observed(&workload) {
                    return Ok(Some(workload));
                }
            }
            Ok(None)
        };
        tokio::time::timeout(READ_BACK_TIMEOUT, waiting)
            .await
            .unwrap_or(Ok(None))
    }
}

/// What the rollback records in `kubernetes.io/change-cause`, so `kubectl rollout history`
/// shows who did it.
fn change_cause(target: i64, approval: &ApprovalSummary, reason: Option<&str>) -> String {
    let who = match (approval.path, &approval.approver) {
        (ApprovalPath::HostConfirmed, _) => {
            "confirmed by the MCP host (--approval host-confirmed)".to_string()
        }
        (_, Some(approver)) => format!("approved by {approver}"),
        (_, None) => "approved by an unnamed approver".to_string(),
    };
    let mut cause = format!("rollback to revision {target} {who} via k8s-rollout-mcp");
    if let Some(reason) = reason.map(str::trim).filter(|reason| !reason.is_empty()) {
        cause.push_str(": ");
        cause.push_str(reason);
    }
    cause
}

fn write_failure(plan: &RollbackPlan, error: ClusterError, dry_run: bool) -> ToolFailure {
    let mode = if dry_run { " (server dry run)" } else { "" };
    ToolFailure(format!(
        "failed restoring revision {}{mode} of {} {}/{}: {error}. Nothing was written.",
        plan.target_revision(),
        plan.kind,
        plan.namespace,
        plan.name
    ))
}

fn list(numbers: &[i64]) -> String {
    if numbers.is_empty() {
        "none".into()
    } else {
        numbers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn report(
    plan: &RollbackPlan,
    outcome: UndoOutcome,
    new_revision: Option<i64>,
    approval: Option<ApprovalSummary>,
    change_cause: Option<String>,
    new_revision_note: String,
) -> UndoReport {
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
    if approval
        .as_ref()
        .is_some_and(|approval| approval.path == ApprovalPath::HostConfirmed)
    {
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
        new_revision,
        new_revision_note,
        images_before: plan.images_before.clone(),
        images_after: plan.images_after.clone(),
        diff: plan.diff.clone(),
        precondition_resource_version: plan.resource_version.clone(),
        approval,
        change_cause,
        warnings,
        status: None,
        next_step,
    }
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
            serde_json::to_value(approval.path)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
    for change in &report.diff.changes {
        out.push_str(&format!("- {}\n", change.describe()));
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
    fn the_change_cause_names_the_approver_and_the_reason() {
        let approval = ApprovalSummary {
            path: ApprovalPath::Elicitation,
            approver: Some("alice".into()),
        };
        assert_eq!(
            change_cause(3, &approval, Some(" checkout errors ")),
            "rollback to revision 3 approved by alice via k8s-rollout-mcp: checkout errors"
        );
        let host = ApprovalSummary {
            path: ApprovalPath::HostConfirmed,
            approver: None,
        };
        assert_eq!(
            change_cause(2, &host, None),
            "rollback to revision 2 confirmed by the MCP host (--approval host-confirmed) via k8s-rollout-mcp"
        );
    }
}
