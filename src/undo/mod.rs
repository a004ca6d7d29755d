//! The undo workflow, in the order it runs:
//!
//! 1. **plan** (read-only): the workload's revisions and kubectl's checks
//!    (`crate::rollout::plan`); a refusal here writes nothing and asks nobody;
//! 2. **brief** the approver ([`UndoCall::brief`]): a server dry run of the very patch (a
//!    refusal here asks nobody) and the live revision's evidence (pods, Warning events);
//! 3. **approve**: a human's decision, asked by the MCP adapter (`crate::approval`) and
//!    recorded here, on disk before anything is written;
//! 4. **write** the approved patch, conditional on the planned resourceVersion, through the
//!    client that never retries;
//! 5. **classify** the answer ([`outcome`]): written; refused, with the API server's proof;
//!    a 409, after which the plan is made again and the patch sent once more only if nothing
//!    the human approved changed ([`conflict`]); or unknown, settled by re-reading the workload
//!    and never by sending the write again;
//! 6. **read back** the revision the controller gave the restored template ([`readback`]),
//!    record the write, and leave an Event on the workload saying who approved it ([`event`]);
//! 7. **verify** (with `wait`): the rollout's status until it completes or fails
//!    (`crate::verify`), not mistaking a deadline condition from before the write for its
//!    failure.
//!
//! A dry run (`dry_run: true`) is step 4 with `dryRun=All`: the very patch the write would send, with a
//! placeholder for the approver's name. What its answer proves beyond success is
//! [`dry_run`]'s: a dry run that came back stored is an alarm, and a template that admission
//! changed is shown to the approver.

pub mod conflict;
pub mod dry_run;
pub mod event;
pub mod outcome;
pub mod readback;
pub mod report;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use k8s_openapi::jiff::Timestamp;

use crate::approval::form;
use crate::approval::state::ApprovalBinding;
use crate::approval::{ApprovalPath, Refusal};
use crate::audit::{AuditEvent, AuditLog, CallFacts, Detail};
use crate::cluster::{Cluster, ClusterError};
use crate::rollout::diff::{Change, TemplateDiff};
use crate::rollout::evidence::Evidence;
use crate::rollout::history::{self, HistoryQuery, RevisionSummary};
use crate::rollout::plan::{self, PlanRefusal, RollbackPatch, RollbackPlan, Stamp};
use crate::rollout::revisions::{self, RevisionLookupError, RevisionSet};
use crate::rollout::status::{self, RolloutStatus};
use crate::rollout::template;
use crate::rollout::workload::{CHANGE_CAUSE, Workload};
use crate::verify::{self, ProgressSink, StatusQuery};

use conflict::AfterConflict;
use dry_run::DryRunVerdict;
use event::ClusterEvent;
use outcome::WriteOutcome;
use report::{ApprovalSummary, ReadBack, UndoOutcome, UndoReport};

/// How long to wait for the controller to record the restored template as a revision.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an undo stopped, for the agent: what happened, whether anything was written, and what
/// to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UndoError(pub String);

impl From<ClusterError> for UndoError {
    fn from(error: ClusterError) -> Self {
        Self(error.to_string())
    }
}

/// LISTs the workload's revisions and plans the undo (read-only), or says why kubectl would
/// refuse it. The revisions come back too, for the approver's briefing.
pub async fn plan(
    cluster: &Cluster,
    workload: &Workload,
    to_revision: i64,
    show_env_values: bool,
) -> Result<(RollbackPlan, RevisionSet), UndoError> {
    let set = cluster.revisions(workload).await?;
    let plan = plan::plan(workload, &set, to_revision, show_env_values);
    let plan = plan.map_err(|refusal| {
        let existing = match &refusal {
            PlanRefusal::Lookup(RevisionLookupError::NotFound { available, .. }) => format!(
                "; existing revisions: {}",
                revisions::describe_numbers(available)
            ),
            _ => String::new(),
        };
        UndoError(format!(
            "{}/{} in namespace \"{}\": {refusal}{existing}. Nothing was written.",
            workload.kind,
            workload.name(),
            workload.namespace()
        ))
    })?;
    Ok((plan, set))
}

/// What the approver is shown beside the plan, gathered before anyone is asked.
#[derive(Debug, Clone)]
pub struct Briefing {
    /// What the server dry run before asking found.
    pub dry_run: String,
    /// How admission changed the template the dry run would store, if it did.
    pub admission: Option<TemplateDiff>,
    /// How the write changes the workload's own annotations.
    pub annotation_changes: Vec<Change>,
    /// kubectl's verdict on the live revision's rollout.
    pub live: RolloutStatus,
    /// Pods by revision and state, Warning events.
    pub evidence: Evidence,
    /// The target's line of history.
    pub target: Option<RevisionSummary>,
    /// Every revision's line of history, oldest first.
    pub revisions: Vec<RevisionSummary>,
    /// The ConfigMaps and Secrets the target template uses.
    pub config_references: Vec<String>,
}

impl Briefing {
    /// The briefing as the question shows it.
    pub fn for_question(&self) -> form::Briefing<'_> {
        form::Briefing {
            live: &self.live,
            evidence: &self.evidence,
            target: self.target.as_ref(),
            revisions: &self.revisions,
            dry_run: &self.dry_run,
            admission: self.admission.as_ref(),
            annotation_changes: &self.annotation_changes,
            config_references: &self.config_references,
        }
    }
}

/// What the server dry run before asking says when the API server accepts the patch.
pub const DRY_RUN_ACCEPTED: &str = "the API server accepted this exact patch (dryRun=All; admission and validation ran, nothing was stored)";
/// What it says when the workload's resourceVersion moved since the plan (status updates).
pub const DRY_RUN_CONFLICT: &str = "inconclusive: the workload's resourceVersion moved since the plan (its status changes while it rolls out), so the API server answered 409 Conflict; the write re-checks the plan and applies only if what you approve is unchanged";

/// A dry run as sent: the placeholder approval, the change-cause and the patch.
struct DryRun {
    approval: ApprovalSummary,
    change_cause: String,
    patch: RollbackPatch,
}

/// A dry run the API server refused.
fn dry_run_failed(plan: &RollbackPlan, error: &ClusterError) -> UndoError {
    UndoError(format!(
        "failed restoring revision {} (server dry run) of {} {}/{}: {error}. A dry run writes nothing.",
        plan.target_revision(),
        plan.kind,
        plan.namespace,
        plan.name
    ))
}

/// The warning a result carries when admission changes the restored template.
fn admission_warning(admission: &TemplateDiff) -> String {
    format!(
        "admission (a mutating webhook or policy) changes the restored template: the API server would store {} change(s) from {} (see admission_changes); the restored revision is not exactly the one picked",
        admission.changes.len(),
        admission.from
    )
}

/// The live revision, and the plan or kubectl's refusal.
async fn inspect(
    cluster: &Cluster,
    workload: &Workload,
    to_revision: i64,
    show_env_values: bool,
) -> Result<(Option<i64>, Result<RollbackPlan, PlanRefusal>), ClusterError> {
    let set = cluster.revisions(workload).await?;
    let live = set.live(workload).map(|revision| revision.number);
    Ok((
        live,
        plan::plan(workload, &set, to_revision, show_env_values),
    ))
}

/// One undo call: where it writes, its facts for the audit trail, and where to record them.
pub struct UndoCall<'a> {
    cluster: &'a Cluster,
    audit: &'a AuditLog,
    facts: CallFacts,
    reason: Option<String>,
    show_env_values: bool,
}

impl<'a> UndoCall<'a> {
    pub fn new(
        cluster: &'a Cluster,
        audit: &'a AuditLog,
        facts: CallFacts,
        reason: Option<String>,
        show_env_values: bool,
    ) -> Self {
        Self {
            cluster,
            audit,
            facts,
            reason,
            show_env_values,
        }
    }

    /// Appends an audit record and returns its hash; an unwritable log refuses the undo
    /// before anything is written.
    pub async fn record(&self, event: AuditEvent, detail: Detail) -> Result<String, UndoError> {
        self.audit
            .append(event, &self.facts, &detail)
            .await
            .map_err(|error| {
                UndoError(format!(
                    "{error}. The undo is refused because its audit record cannot be kept; nothing was written (history and status still work). Fix the path or pass --audit-log."
                ))
            })
    }

    /// Records a failure after the fact; if even that fails, says so in the same message
    /// (which already says what was or may have been written: an unrecordable outcome is not a
    /// reason to claim nothing was).
    async fn record_failure(
        &self,
        event: AuditEvent,
        detail: Detail,
        failure: UndoError,
    ) -> UndoError {
        match self.audit.append(event, &self.facts, &detail).await {
            Ok(_) => failure,
            Err(error) => UndoError(format!(
                "{} Its audit record could not be written: {error}. Fix the path or pass --audit-log.",
                failure.0
            )),
        }
    }

    /// Records a refused approval (asked on `path`, when someone was asked) and turns it into
    /// the answer.
    pub async fn refuse(
        &self,
        plan: &RollbackPlan,
        path: Option<ApprovalPath>,
        refusal: Refusal,
    ) -> UndoError {
        let event = match &refusal {
            Refusal::Declined | Refusal::NotApproved | Refusal::Malformed(_) => {
                AuditEvent::Declined
            }
            Refusal::Cancelled => AuditEvent::Cancelled,
            Refusal::TimedOut(_) => AuditEvent::TimedOut,
            Refusal::NotSupported | Refusal::CannotAsk(_) | Refusal::NoWayToAsk { .. } => {
                AuditEvent::NotSupported
            }
            Refusal::StateRejected(_) | Refusal::Superseded | Refusal::Taken => {
                AuditEvent::StateRejected
            }
            Refusal::Failed(_) => AuditEvent::Failed,
        };
        let refused = UndoError(format!(
            "rollback of {} {}/{} to revision {} refused: {refusal}. Nothing was written.",
            plan.kind,
            plan.namespace,
            plan.name,
            plan.target_revision()
        ));
        let detail = Detail {
            approval_path: path,
            error: Some(refusal.to_string()),
            ..Default::default()
        };
        self.record_failure(event, detail, refused).await
    }

    /// The id every audit record of this call carries.
    pub fn call_id(&self) -> &str {
        &self.facts.call_id
    }

    /// What the approval of `plan` is bound to in this call.
    pub fn binding(&self, plan: &RollbackPlan) -> ApprovalBinding {
        ApprovalBinding::of(plan, &self.cluster.context, self.reason.as_deref())
    }

    fn change_cause(&self, plan: &RollbackPlan, approval: &ApprovalSummary) -> String {
        plan::change_cause(
            plan.target_revision(),
            &approval.approved_by(),
            self.reason.as_deref(),
        )
    }

    /// What the patch records besides the template, for `change_cause`.
    fn stamp<'s>(&'s self, change_cause: &'s str) -> Stamp<'s> {
        Stamp {
            change_cause,
            call_id: self.call_id(),
        }
    }

    /// Before asking: the server dry run of the patch an approval on `path` would write, and
    /// the evidence of the live revision (its pods and Warning events), read together. A dry
    /// run the API server refuses refuses the undo before anyone is asked.
    pub async fn brief(
        &self,
        workload: &Workload,
        set: &RevisionSet,
        plan: &RollbackPlan,
        path: ApprovalPath,
    ) -> Result<Briefing, UndoError> {
        let (dry_run, evidence) = tokio::join!(
            self.server_dry_run(plan, path),
            verify::evidence(self.cluster, workload, set)
        );
        let (sent, verdict) = dry_run?;
        let (dry_run, admission) = match verdict {
            DryRunVerdict::Accepted { admission } => (DRY_RUN_ACCEPTED.to_string(), admission),
            // The status moved the resourceVersion since the plan (a rollout in progress
            // does every few seconds): the dry run proves nothing either way, and the write
            // re-checks the plan on its own 409.
            DryRunVerdict::Inconclusive(_) => (DRY_RUN_CONFLICT.to_string(), None),
            DryRunVerdict::Refused(error) => {
                return Err(UndoError(format!(
                    "{} Nobody was asked to approve: the rollback would fail as it stands.",
                    dry_run_failed(plan, &error).0
                )));
            }
            DryRunVerdict::Stored { .. } => unreachable!("server_dry_run refuses a stored dry run"),
        };
        let query = HistoryQuery {
            limit: usize::MAX,
            ..HistoryQuery::default()
        };
        let revisions = history::report(workload, set, query, Timestamp::now())
            .map(|report| report.revisions)
            .unwrap_or_default();
        let target = revisions
            .iter()
            .find(|summary| summary.revision == plan.target_revision())
            .cloned();
        Ok(Briefing {
            dry_run,
            admission,
            annotation_changes: plan
                .annotation_changes(&self.stamp(&sent.change_cause), self.show_env_values),
            live: status::evaluate(workload, None),
            evidence,
            target,
            revisions,
            config_references: template::config_references(&plan.target.template()),
        })
    }

    /// Sends the patch an approval on `path` would write with `dryRun=All`, judges the answer
    /// ([`dry_run::judge`]) and records it: the API server's answer, and the patch's digest.
    /// Err when the record cannot be kept, and when the dry run came back stored: that alarm
    /// is logged and audited, and nothing more is sent.
    async fn server_dry_run(
        &self,
        plan: &RollbackPlan,
        path: ApprovalPath,
    ) -> Result<(DryRun, DryRunVerdict), UndoError> {
        let approval = ApprovalSummary::placeholder(path);
        let change_cause = self.change_cause(plan, &approval);
        let patch = plan.patch(&self.stamp(&change_cause));
        let answer = self
            .cluster
            .patch(plan.kind, &plan.namespace, &plan.name, &patch, true)
            .await;
        let verdict = dry_run::judge(plan, answer, self.show_env_values);
        let (event, error, note) = match &verdict {
            DryRunVerdict::Stored { resource_version } => {
                let alarm = dry_run::stored_message(plan, resource_version);
                tracing::error!(call_id = self.call_id(), "{alarm}");
                (AuditEvent::DryRunStored, Some(alarm), None)
            }
            DryRunVerdict::Inconclusive(error) | DryRunVerdict::Refused(error) => {
                (AuditEvent::DryRun, Some(error.to_string()), None)
            }
            DryRunVerdict::Accepted { admission } => (
                AuditEvent::DryRun,
                None,
                admission.as_ref().map(admission_warning),
            ),
        };
        let detail = Detail {
            patch_sha256: Some(patch.sha256()),
            error: error.clone(),
            note,
            ..Default::default()
        };
        if let (DryRunVerdict::Stored { .. }, Some(alarm)) = (&verdict, error) {
            return Err(self.record_failure(event, detail, UndoError(alarm)).await);
        }
        self.record(event, detail).await?;
        let sent = DryRun {
            approval,
            change_cause,
            patch,
        };
        Ok((sent, verdict))
    }

    /// A server-side dry run (`dryRun=All`) of the patch an approval on `path` would write.
    pub async fn dry_run(
        &self,
        plan: &RollbackPlan,
        path: ApprovalPath,
    ) -> Result<UndoReport, UndoError> {
        let (sent, verdict) = self.server_dry_run(plan, path).await?;
        let admission = match verdict {
            DryRunVerdict::Accepted { admission } => admission,
            DryRunVerdict::Inconclusive(error) | DryRunVerdict::Refused(error) => {
                return Err(dry_run_failed(plan, &error));
            }
            DryRunVerdict::Stored { .. } => unreachable!("server_dry_run refuses a stored dry run"),
        };
        let read_back = ReadBack {
            note: "dry run: nothing was written".into(),
            ..ReadBack::default()
        };
        let annotation_changes =
            plan.annotation_changes(&self.stamp(&sent.change_cause), self.show_env_values);
        let DryRun {
            approval,
            change_cause,
            patch,
        } = sent;
        let mut report = UndoReport::new(
            plan,
            UndoOutcome::DryRun,
            &approval,
            change_cause,
            read_back,
        );
        report.annotation_changes = annotation_changes;
        report.patch = Some(patch.shown(self.show_env_values));
        report.patch_sha256 = Some(patch.sha256());
        if let Some(admission) = admission {
            report.warnings.push(admission_warning(&admission));
            report.admission_changes = Some(admission);
        }
        Ok(report)
    }

    /// Writes the approved patch, classifies the answer, reads back the new revision, and with
    /// `wait` follows the rollout.
    pub async fn execute(
        &self,
        plan: RollbackPlan,
        approved: ApprovalSummary,
        wait: Option<Duration>,
        cancelled: &CancellationToken,
        progress: &mut impl ProgressSink,
    ) -> Result<UndoReport, UndoError> {
        let change_cause = self.change_cause(&plan, &approved);
        let (plan, written) = self.write(plan, &approved, &change_cause).await?;
        // On the record as soon as the write is known to be stored, before the read-back
        // (seconds on a slow API server): a crash or SIGTERM in between must not leave a
        // rollback without its `written` record.
        let mut warnings = Vec::new();
        let detail = Detail {
            patch_sha256: Some(written.patch_sha256.clone()),
            note: written.lost.clone(),
            ..approved.detail()
        };
        let written_hash = self
            .record(AuditEvent::Written, detail)
            .await
            .map_err(|audit| {
                warnings.push(format!(
                    "the rollback was written but its audit record was not: {}",
                    audit.0
                ))
            })
            .ok();
        let restored = readback::restored_revision(
            self.cluster,
            &written.workload,
            plan.highest_revision,
            READ_BACK_TIMEOUT,
        )
        .await;
        let resulting_revision = restored.read_back.number;
        let detail = Detail {
            resulting_revision,
            note: Some(restored.read_back.note.clone()),
            ..approved.detail()
        };
        // The Event anchors the chain's head: this record when it was kept, else `written`.
        let audit_hash = match self.record(AuditEvent::ReadBack, detail).await {
            Ok(hash) => Some(hash),
            Err(audit) => {
                warnings.push(format!(
                    "the new revision was read back but its audit record was not: {}",
                    audit.0
                ));
                written_hash
            }
        };
        let annotation_changes =
            plan.annotation_changes(&self.stamp(&change_cause), self.show_env_values);
        let mut report = UndoReport::new(
            &plan,
            UndoOutcome::RolledBack,
            &approved,
            change_cause,
            restored.read_back,
        );
        report.annotation_changes = annotation_changes;
        report.patch_sha256 = Some(written.patch_sha256);
        if !plan.kind.history_shows_undo_change_cause() {
            report.warnings.push(format!(
                "`kubectl rollout history` shows the restored {}'s revision with its original change-cause: the controller reuses the old ControllerRevision and only renumbers it; the approval is recorded in the workload's {CHANGE_CAUSE} annotation and the audit log",
                plan.kind
            ));
        }
        if written.sent_again {
            report.warnings.push(
                "the workload's status changed while approval was pending (its resourceVersion moved); the plan was checked again and what was approved was unchanged, so it was written".into(),
            );
        }
        report.warnings.extend(written.lost);
        report.warnings.extend(warnings);
        let approved_by = approved.approved_by();
        let client = self.client();
        let rollback = event::ApprovedRollback {
            target_revision: plan.target_revision(),
            new_revision: resulting_revision,
            approved_by: &approved_by,
            client: &client,
            reason: self.reason.as_deref(),
            audit_hash: audit_hash.as_deref(),
        };
        let cluster_event = event::record(self.cluster, &restored.workload, &rollback).await;
        if let ClusterEvent::Missing { reason } = &cluster_event {
            report.warnings.push(format!(
                "the {} Event recording this rollback in the cluster is missing (the rollback itself is unaffected): {reason}",
                event::REASON
            ));
        }
        report.cluster_event = Some(cluster_event);
        if let Some(limit) = wait {
            let query = StatusQuery {
                expected_revision: None,
                wait: Some(limit),
                progressing_before: plan.progressing_updated,
            };
            match verify::check(self.cluster, restored.workload, query, cancelled, progress).await {
                Ok(status) => {
                    if status.failed {
                        let detail = Detail {
                            error: Some(format!(
                                "rollout failed after the rollback: {}",
                                status.message
                            )),
                            ..approved.detail()
                        };
                        if let Err(audit) = self.record(AuditEvent::Failed, detail).await {
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
        Ok(report)
    }

    /// Sends the approved patch and classifies each answer until the write is known to be
    /// written (returning the plan it was written from) or the undo stops.
    async fn write(
        &self,
        mut plan: RollbackPlan,
        approved: &ApprovalSummary,
        change_cause: &str,
    ) -> Result<(RollbackPlan, Written), UndoError> {
        let approved_binding = self.binding(&plan);
        let stamp = self.stamp(change_cause);
        let mut sent_again = false;
        loop {
            let patch = plan.patch(&stamp);
            let answer = self
                .cluster
                .patch(plan.kind, &plan.namespace, &plan.name, &patch, false)
                .await;
            let failure = |event, error: String, note: Option<String>, failure: UndoError| {
                let detail = Detail {
                    error: Some(error),
                    note,
                    ..approved.detail()
                };
                self.record_failure(event, detail, failure)
            };
            match outcome::classify(answer) {
                WriteOutcome::Written(workload) => {
                    let written = Written {
                        workload: *workload,
                        patch_sha256: patch.sha256(),
                        sent_again,
                        lost: None,
                    };
                    return Ok((plan, written));
                }
                WriteOutcome::Conflict(message) => {
                    let conflict = format!("409 Conflict: {message}");
                    let (decision, live) = match self.replan(&plan).await {
                        Ok((live, fresh)) => {
                            let decision = conflict::after_conflict(
                                &approved_binding,
                                &plan,
                                fresh,
                                &self.cluster.context,
                                self.reason.as_deref(),
                                sent_again,
                            );
                            (decision, live)
                        }
                        Err(error) => (
                            AfterConflict::Refuse(format!(
                                "it could not be read again to check what changed ({error})"
                            )),
                            None,
                        ),
                    };
                    match decision {
                        AfterConflict::SendAgain(fresh) => {
                            // This attempt is a write attempt too: it is on the record.
                            let detail = Detail {
                                error: Some(format!(
                                    "{conflict}; only the status changed, so the approved patch is sent again"
                                )),
                                ..approved.detail()
                            };
                            self.record(AuditEvent::Conflict, detail).await?;
                            plan = *fresh;
                            sent_again = true;
                        }
                        AfterConflict::Refuse(why) => {
                            let refused = conflict_refusal(&plan, &why, live);
                            return Err(
                                failure(AuditEvent::Conflict, conflict, None, refused).await
                            );
                        }
                    }
                }
                WriteOutcome::Refused(error) => {
                    let refused = UndoError(format!(
                        "failed restoring revision {} of {} {}/{}: {error}. The API server refused the write before applying it: nothing was written.",
                        plan.target_revision(),
                        plan.kind,
                        plan.namespace,
                        plan.name
                    ));
                    return Err(
                        failure(AuditEvent::Failed, error.to_string(), None, refused).await,
                    );
                }
                WriteOutcome::Unknown(error) => {
                    let now = self
                        .cluster
                        .workload(plan.kind, &plan.namespace, &plan.name)
                        .await;
                    if let Ok(workload) = &now
                        && outcome::applied(&plan, &stamp, workload)
                    {
                        let written = Written {
                            workload: workload.clone(),
                            patch_sha256: patch.sha256(),
                            sent_again,
                            lost: Some(format!(
                                "the response was lost ({error}), but a re-read shows the rollback applied"
                            )),
                        };
                        return Ok((plan, written));
                    }
                    let finding = outcome::not_applied(&plan, &now);
                    let unknown = outcome_unknown(&plan, &error, &finding);
                    return Err(failure(
                        AuditEvent::Unknown,
                        error.to_string(),
                        Some(finding),
                        unknown,
                    )
                    .await);
                }
            }
        }
    }

    /// The MCP client, as the cluster Event names it: `name version`, or `an unnamed client`.
    fn client(&self) -> String {
        match (&self.facts.client_name, &self.facts.client_version) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            (Some(name), None) => name.clone(),
            (None, _) => "an unnamed MCP client".into(),
        }
    }

    /// GET the workload and plan again (after a 409).
    async fn replan(
        &self,
        plan: &RollbackPlan,
    ) -> Result<(Option<i64>, Result<RollbackPlan, PlanRefusal>), ClusterError> {
        let workload = self
            .cluster
            .workload(plan.kind, &plan.namespace, &plan.name)
            .await?;
        inspect(
            self.cluster,
            &workload,
            plan.target_revision(),
            self.show_env_values,
        )
        .await
    }
}

/// A write known to have been stored.
struct Written {
    /// The workload as written (or as re-read when the answer was lost).
    workload: Workload,
    /// SHA-256 of the patch body that was stored.
    patch_sha256: String,
    /// Whether the patch was sent a second time after a status-only 409.
    sent_again: bool,
    /// Set when the answer was lost and a re-read showed the write.
    lost: Option<String>,
}

/// The 409 path: nothing was written; why, and where the workload stands now.
fn conflict_refusal(plan: &RollbackPlan, why: &str, live: Option<i64>) -> UndoError {
    let live = match live {
        Some(live) => format!("its live revision is now {live}"),
        None => "its live template is not recorded as a revision (yet)".to_string(),
    };
    UndoError(format!(
        "the API server refused the write to {} {}/{} with 409 Conflict, so nothing was written: {why}; {live}. Inspect the history again with k8s_rollout_history before deciding.",
        plan.kind, plan.namespace, plan.name
    ))
}

/// A write whose answer was lost and whose effect a re-read did not show.
fn outcome_unknown(plan: &RollbackPlan, error: &ClusterError, finding: &str) -> UndoError {
    UndoError(format!(
        "the outcome of restoring revision {target} of {kind} {namespace}/{name} is unknown: {error}. {finding}. It was not sent again. Check with k8s_rollout_history (resource_type \"{kind}\", name \"{name}\", namespace \"{namespace}\") whether the live revision carries revision {target}'s template before deciding; do not simply retry.",
        target = plan.target_revision(),
        kind = plan.kind,
        namespace = plan.namespace,
        name = plan.name,
    ))
}
