//! `k8s_rollout_undo`: plan (read-only), ask a human, write exactly what was approved, and
//! read back the revision the controller gave it.
//!
//! Every refusal path writes nothing: a plan kubectl would refuse, a dry run (server-side
//! `dryRun=All` only), any answer but an accepted `approve: true`, a client that cannot ask, a
//! rejected approval state, a cancelled call, and a workload that changed since the plan (the
//! write carries the planned resourceVersion, so the API server answers 409).
//!
//! A 409 caused only by status updates (a crash-looping pod moves the resourceVersion every
//! few seconds) must not make rollbacks impossible during an incident: the plan is made again,
//! and if what the human approved is unchanged (spec, labels, annotations, target template,
//! reason) the same patch is sent once more with the new resourceVersion.

use std::time::Duration;

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
use crate::rollout::kind::WorkloadKind;
use crate::rollout::plan::{self, PlanRefusal, RollbackPlan};
use crate::rollout::revisions::{self, RevisionLookupError};
use crate::rollout::template::{self, ContainerImage};
use crate::rollout::workload::CHANGE_CAUSE;
use crate::verify::{self, StatusQuery, StatusReport};

use super::RolloutServer;
use super::reply::{self, ToolFailure};
use super::status::{self, McpProgress};
use super::target::Target;

/// How long to wait for the controller to record the restored template as a revision.
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
    #[schemars(range(min = 1))]
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
    #[schemars(range(min = 1, max = 600))]
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

impl ApprovalSummary {
    /// The audit detail every record after the approval repeats.
    fn detail(&self) -> Detail {
        Detail {
            approval_path: Some(self.path),
            approver: self.approver.clone(),
            ..Default::default()
        }
    }

    /// How the change-cause names the approval.
    fn approved_by(&self) -> String {
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
    reason: Option<String>,
}

impl UndoCall<'_> {
    /// Appends an audit record; an unwritable log refuses the undo before anything is written.
    fn record(&self, event: AuditEvent, detail: Detail) -> Result<(), ToolFailure> {
        self.server.audit.append(event, &self.facts, &detail).map_err(|error| {
            ToolFailure(format!(
                "{error}. The undo is refused because its audit record cannot be kept; nothing was written (history and status still work). Fix the path or pass --audit-log."
            ))
        })
    }

    /// Records a failure after the fact; if even that fails, says so in the same message.
    fn record_failure(
        &self,
        event: AuditEvent,
        detail: Detail,
        failure: ToolFailure,
    ) -> ToolFailure {
        match self.record(event, detail) {
            Ok(()) => failure,
            Err(audit) => ToolFailure(format!("{} {}", failure.0, audit.0)),
        }
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
            "rollback of {} {}/{} to revision {} refused: {refusal}. Nothing was written.",
            plan.kind,
            plan.namespace,
            plan.name,
            plan.target_revision()
        ));
        self.record_failure(
            event,
            Detail {
                error: Some(refusal.to_string()),
                ..Default::default()
            },
            refused,
        )
    }

    fn binding(&self, plan: &RollbackPlan) -> ApprovalBinding {
        ApprovalBinding::of(plan, &self.server.cluster.context, self.reason.as_deref())
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
        let plan = self.plan(&target, args.to_revision).await?;
        let call = UndoCall {
            server: self,
            facts: self.call_facts(&plan, &context, args.reason.as_deref()),
            reason: args.reason.clone(),
        };
        call.record(AuditEvent::Planned, Detail::default())?;

        if args.dry_run {
            return self.dry_run(&call, &plan).await.map(Into::into);
        }

        let decision = if let Some(sealed) = request_state {
            match self.approvals.redeem(&sealed, &call.binding(&plan)) {
                Ok(()) => {
                    form::decide_response(responses.as_ref().and_then(|r| r.get(form::INPUT_KEY)))
                }
                Err(rejection) => ApprovalDecision::Refused(Refusal::StateRejected(rejection)),
            }
        } else if approval::client_can_elicit(context.client_capabilities().as_ref()) {
            let message = self.approval_message(&plan, args.reason.as_deref());
            // 2026-07-28 sessions have no handshake (no peer info) and forbid server requests.
            let stateless = context.peer.peer_info().is_none()
                || context
                    .protocol_version()
                    .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
            let path = if stateless {
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
            if stateless {
                let sealed = self.approvals.seal(&call.binding(&plan)).map_err(|error| {
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

        let approved = match decision {
            ApprovalDecision::Refused(refusal) => return Err(call.refuse(&plan, refusal)),
            ApprovalDecision::Approved { approver, path } => ApprovalSummary { path, approver },
        };
        if context.ct.is_cancelled() {
            return Err(call.refuse(&plan, Refusal::Cancelled));
        }
        // Written and flushed before the patch is sent: no record, no write.
        call.record(AuditEvent::Approved, approved.detail())?;
        let wait = status::wait_limit(args.wait, args.timeout_seconds);
        self.execute(&call, plan, &target, approved, wait, &context)
            .await
            .map(Into::into)
    }

    /// GET the workload, LIST its revisions, and plan the undo (read-only).
    async fn plan(&self, target: &Target, to_revision: i64) -> Result<RollbackPlan, ToolFailure> {
        let (_, plan) = self.inspect(target, to_revision).await?;
        plan.map_err(|refusal| {
            let existing = match &refusal {
                PlanRefusal::Lookup(RevisionLookupError::NotFound { available, .. }) => {
                    format!(
                        "; existing revisions: {}",
                        revisions::describe_numbers(available)
                    )
                }
                _ => String::new(),
            };
            ToolFailure(format!(
                "{}/{} in namespace \"{}\": {refusal}{existing}. Nothing was written.",
                target.kind, target.name, target.namespace
            ))
        })
    }

    /// GET the workload and LIST its revisions: the live revision, and the plan or kubectl's
    /// refusal.
    async fn inspect(
        &self,
        target: &Target,
        to_revision: i64,
    ) -> Result<(Option<i64>, Result<RollbackPlan, PlanRefusal>), ToolFailure> {
        let workload = target.fetch(&self.cluster).await?;
        let set = self.cluster.revisions(&workload).await?;
        let live = set.live(&workload).map(|revision| revision.number);
        Ok((
            live,
            plan::plan(&workload, &set, to_revision, self.settings.show_env_values),
        ))
    }

    /// The audit facts of this call.
    fn call_facts(
        &self,
        plan: &RollbackPlan,
        context: &RequestContext<RoleServer>,
        reason: Option<&str>,
    ) -> CallFacts {
        CallFacts {
            reason: reason.map(str::to_string),
            uid: Some(plan.uid.clone()),
            live_revision: plan.live_revision,
            target_revision: Some(plan.target_revision()),
            ..self.workload_facts(context, plan.kind, &plan.namespace, &plan.name)
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
        outcome.map_err(|error| write_failure(plan, &error, true))?;
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

    /// Writes the approved patch (once more after a 409 if what was approved is unchanged),
    /// reads back the new revision, and optionally waits for the rollout.
    async fn execute(
        &self,
        call: &UndoCall<'_>,
        mut plan: RollbackPlan,
        target: &Target,
        approved: ApprovalSummary,
        wait: Option<Duration>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ToolFailure> {
        let change_cause = plan::change_cause(
            plan.target_revision(),
            &approved.approved_by(),
            call.reason.as_deref(),
        );
        let mut retried = false;
        let written = loop {
            let patch = plan.patch(Some(&change_cause));
            match self
                .cluster
                .patch(plan.kind, &plan.namespace, &plan.name, &patch, false)
                .await
            {
                Ok(written) => break written,
                Err(ClusterError::Conflict { message }) => {
                    let (changes, live) = match self.inspect(target, plan.target_revision()).await {
                        Ok((live, Ok(fresh))) => {
                            let differences =
                                call.binding(&plan).differences(&call.binding(&fresh));
                            if differences.is_empty() && !retried {
                                // This attempt is a write attempt too: it is on the record.
                                let detail = Detail {
                                    error: Some(format!(
                                        "409 Conflict: {message}; only the status changed, so the approved patch is sent again"
                                    )),
                                    ..approved.detail()
                                };
                                call.record(AuditEvent::Conflict, detail)?;
                                plan = fresh;
                                retried = true;
                                continue;
                            }
                            let changes = if differences.is_empty() {
                                "it changed again while writing".to_string()
                            } else {
                                differences.join("; ")
                            };
                            (changes, live)
                        }
                        Ok((live, Err(refusal))) => (format!("now: {refusal}"), live),
                        Err(failure) => (failure.0, None),
                    };
                    let failure = changed_since_approval(&plan, &changes, live);
                    let detail = Detail {
                        error: Some(format!("409 Conflict: {message}")),
                        ..approved.detail()
                    };
                    return Err(call.record_failure(AuditEvent::Conflict, detail, failure));
                }
                Err(error @ (ClusterError::Unreachable { .. } | ClusterError::Timeout { .. })) => {
                    let failure = self.outcome_unknown(&plan, &error).await;
                    let detail = Detail {
                        error: Some(failure.0.clone()),
                        ..approved.detail()
                    };
                    return Err(call.record_failure(AuditEvent::Failed, detail, failure));
                }
                Err(error) => {
                    let failure = write_failure(&plan, &error, false);
                    let detail = Detail {
                        error: Some(failure.0.clone()),
                        ..approved.detail()
                    };
                    return Err(call.record_failure(AuditEvent::Failed, detail, failure));
                }
            }
        };
        let restored = verify::restored_revision(
            &self.cluster,
            &written,
            plan.highest_revision,
            READ_BACK_TIMEOUT,
        )
        .await;
        let mut report = report(
            &plan,
            UndoOutcome::RolledBack,
            restored.number,
            Some(approved.clone()),
            Some(change_cause),
            restored.note,
        );
        if !plan.kind.history_shows_undo_change_cause() {
            report.warnings.push(format!(
                "`kubectl rollout history` shows the restored {}'s revision with its original change-cause: the controller reuses the old ControllerRevision and only renumbers it; the approval is recorded in the workload's {CHANGE_CAUSE} annotation and the audit log",
                plan.kind
            ));
        }
        if retried {
            report.warnings.push(
                "the workload's status changed while approval was pending (its resourceVersion moved); the plan was checked again and what was approved was unchanged, so it was written".into(),
            );
        }
        let written_detail = Detail {
            resulting_revision: restored.number,
            ..approved.detail()
        };
        if let Err(audit) = call.record(AuditEvent::Written, written_detail) {
            report.warnings.push(format!(
                "the rollback was written but its audit record was not: {}",
                audit.0
            ));
        }
        if let Some(limit) = wait {
            let query = StatusQuery {
                expected_revision: None,
                wait: Some(limit),
            };
            let mut progress = McpProgress::new(context);
            match verify::check(
                &self.cluster,
                restored.workload,
                query,
                &context.ct,
                &mut progress,
            )
            .await
            {
                Ok(status) => {
                    if status.failed {
                        let detail = Detail {
                            error: Some(format!(
                                "rollout failed after the rollback: {}",
                                status.message
                            )),
                            ..approved.detail()
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

    /// A write whose answer was lost: say what the workload carries now.
    async fn outcome_unknown(&self, plan: &RollbackPlan, error: &ClusterError) -> ToolFailure {
        let now = match self
            .cluster
            .workload(plan.kind, &plan.namespace, &plan.name)
            .await
        {
            Ok(workload) if workload.resource_version() == plan.resource_version => {
                "it is unchanged since the plan, so the rollback was not applied (yet)".to_string()
            }
            Ok(workload) if template::digest(workload.template()) == plan.template_digest => {
                format!(
                    "it now carries the template of revision {}, so the rollback was applied",
                    plan.target_revision()
                )
            }
            Ok(_) => "it changed, but not to the target template".to_string(),
            Err(again) => format!("it could not be read either: {again}"),
        };
        ToolFailure(format!(
            "the rollback of {} {}/{} to revision {} may or may not have been written: {error}; {now}. Inspect k8s_rollout_history before trying again.",
            plan.kind,
            plan.namespace,
            plan.name,
            plan.target_revision()
        ))
    }
}

/// The 409 path: the workload changed in a way the approval does not cover.
fn changed_since_approval(plan: &RollbackPlan, changes: &str, live: Option<i64>) -> ToolFailure {
    let live = match live {
        Some(live) => format!("its live revision is now {live}"),
        None => "its new template is not recorded as a revision yet".to_string(),
    };
    ToolFailure(format!(
        "{} {}/{} changed since the rollback was approved ({changes}), so the API server refused the write (409 Conflict) and nothing was written; {live}. Inspect the history again with k8s_rollout_history before deciding.",
        plan.kind, plan.namespace, plan.name
    ))
}

fn write_failure(plan: &RollbackPlan, error: &ClusterError, dry_run: bool) -> ToolFailure {
    let mode = if dry_run { " (server dry run)" } else { "" };
    ToolFailure(format!(
        "failed restoring revision {}{mode} of {} {}/{}: {error}. Nothing was written.",
        plan.target_revision(),
        plan.kind,
        plan.namespace,
        plan.name
    ))
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
            approval.path.as_str()
        ));
    }
    out.push_str(&report.diff.describe_changes());
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
    }
}
