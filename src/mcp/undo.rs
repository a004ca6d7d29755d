//! `k8s_rollout_undo`, the MCP side: arguments, which approval path the session allows,
//! asking through it, and the result. The workflow itself (plan, write, classify the outcome,
//! read back, verify, audit) is `crate::undo`.

use k8s_openapi::jiff::Timestamp;
use rmcp::model::{CallToolResponse, InputResponses, ProtocolVersion};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::approval::form::{self, ClusterIdentity};
use crate::approval::state::ApprovalBinding;
use crate::approval::{self, ApprovalDecision, ApprovalPath, Refusal, hosts};
use crate::audit::{AuditEvent, CallFacts, Detail};
use crate::cluster::Cluster;
use crate::cluster::identity::{self, KubeUser};
use crate::config::ApprovalMode;
use crate::rollout::plan::RollbackPlan;
use crate::undo::report::{self, ApprovalSummary};
use crate::undo::{self, Briefing, UndoCall};

use super::RolloutServer;
use super::reply::{self, ToolFailure};
use super::status::{self, McpProgress};

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
    /// The kubeconfig context to run in (default: the server's start context; the server's
    /// --allow-context decides which may be named).
    pub context: Option<String>,
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

impl RolloutServer {
    pub(super) async fn undo(
        &self,
        args: UndoArgs,
        context: RequestContext<RoleServer>,
        request_state: Option<String>,
        responses: Option<InputResponses>,
    ) -> Result<CallToolResponse, ToolFailure> {
        let cluster = self.cluster_for(args.context.as_deref()).await?;
        self.undo_in(&cluster, args, context, request_state, responses)
            .await
            .map_err(|failure| failure.in_cluster(&cluster))
    }

    async fn undo_in(
        &self,
        cluster: &Cluster,
        args: UndoArgs,
        context: RequestContext<RoleServer>,
        request_state: Option<String>,
        responses: Option<InputResponses>,
    ) -> Result<CallToolResponse, ToolFailure> {
        let target = self
            .target(
                cluster,
                &args.resource_type,
                &args.name,
                args.namespace.as_deref(),
            )
            .await?;
        let workload = target.fetch(cluster).await?;
        let (plan, set) = undo::plan(
            cluster,
            &workload,
            args.to_revision,
            self.settings.show_env_values,
        )
        .await?;
        let kube_user = cluster.kube_user().await;
        // The second round of a 2026-07-28 approval: its state (once) and the call that asked,
        // whose call id this round's records carry too.
        let redemption = request_state.filter(|_| !args.dry_run).map(|sealed| {
            let binding = ApprovalBinding::of(&plan, &cluster.context, args.reason.as_deref());
            self.approvals.redeem(&sealed, &binding)
        });
        let mut facts =
            self.call_facts(cluster, &plan, &context, args.reason.as_deref(), &kube_user);
        if let Some(asked_in) = redemption.as_ref().and_then(|r| r.asked_in.clone()) {
            facts.call_id = asked_in;
        }
        let call = UndoCall::new(
            cluster,
            &self.audit,
            facts,
            args.reason.clone(),
            self.settings.show_env_values,
        );
        call.record(AuditEvent::Planned, Detail::default()).await?;
        let path = self.approval_path(&context);

        if args.dry_run {
            let report = call
                .dry_run(&plan, *path.as_ref().unwrap_or(&ApprovalPath::Elicitation))
                .await?;
            return Ok(reply::success(cluster, report, report::render).into());
        }

        let decision = match (redemption, path) {
            (Some(redemption), _) => match redemption.verdict {
                Ok(()) => {
                    form::decide_response(responses.as_ref().and_then(|r| r.get(form::INPUT_KEY)))
                }
                Err(rejection) => ApprovalDecision::Refused(Refusal::StateRejected(rejection)),
            },
            (None, Ok(path @ (ApprovalPath::Elicitation | ApprovalPath::InputRequired))) => {
                // The dry run and the evidence come first: a patch the API server refuses is
                // refused here, before anyone is asked.
                let briefing = call.brief(&workload, &set, &plan, path).await?;
                let message = approval_message(
                    cluster,
                    &plan,
                    &briefing,
                    args.reason.as_deref(),
                    &kube_user,
                );
                call.record(
                    AuditEvent::ApprovalRequested,
                    Detail {
                        approval_path: Some(path),
                        ..Default::default()
                    },
                )
                .await?;
                if path == ApprovalPath::InputRequired {
                    let sealed = self.approvals.seal(&call.binding(&plan), call.call_id());
                    let sealed = sealed.map_err(|error| {
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
            }
            (None, Ok(ApprovalPath::HostConfirmed)) => ApprovalDecision::Approved {
                approver: None,
                path: ApprovalPath::HostConfirmed,
            },
            (None, Err(refusal)) => ApprovalDecision::Refused(refusal),
        };

        let approved = match decision {
            ApprovalDecision::Refused(refusal) => {
                return Err(call.refuse(&plan, refusal).await.into());
            }
            ApprovalDecision::Approved { approver, path } => ApprovalSummary { path, approver },
        };
        if context.ct.is_cancelled() {
            return Err(call.refuse(&plan, Refusal::Cancelled).await.into());
        }
        // Written and flushed before the patch is sent: no record, no write.
        call.record(AuditEvent::Approved, approved.detail()).await?;
        let wait = status::wait_limit(args.wait, args.timeout_seconds);
        let mut progress = McpProgress::new(&context);
        let report = call
            .execute(plan, approved, wait, &context.ct, &mut progress)
            .await?;
        Ok(reply::success(cluster, report, report::render).into())
    }

    /// How this session's human would be asked: elicitation during the call (handshake
    /// sessions), an InputRequiredResult (2026-07-28 sessions, which have no handshake and
    /// forbid server requests), the host's own confirmation when the operator trusts it for
    /// clients that cannot elicit, or why no one can be asked. A client known to declare
    /// elicitation without ever showing the form ([`hosts`]) is one that cannot.
    fn approval_path(&self, context: &RequestContext<RoleServer>) -> Result<ApprovalPath, Refusal> {
        let client = context.client_info();
        let cannot_ask = hosts::cannot_ask(client.as_ref().map(|client| client.name.as_str()));
        let can_elicit = cannot_ask.is_none()
            && approval::client_can_elicit(context.client_capabilities().as_ref());
        if can_elicit {
            let stateless = context.peer.peer_info().is_none()
                || context
                    .protocol_version()
                    .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
            Ok(if stateless {
                ApprovalPath::InputRequired
            } else {
                ApprovalPath::Elicitation
            })
        } else if self.settings.approval == ApprovalMode::HostConfirmed {
            Ok(ApprovalPath::HostConfirmed)
        } else if let Some(entry) = cannot_ask {
            Err(Refusal::CannotAsk(entry))
        } else {
            Err(Refusal::NotSupported)
        }
    }

    /// The audit facts of this call.
    fn call_facts(
        &self,
        cluster: &Cluster,
        plan: &RollbackPlan,
        context: &RequestContext<RoleServer>,
        reason: Option<&str>,
        kube_user: &KubeUser,
    ) -> CallFacts {
        let (groups, unknown) = match kube_user {
            KubeUser::Known { groups, .. } => (Some(groups.clone()), None),
            KubeUser::Unknown(why) => (None, Some(why.clone())),
        };
        CallFacts {
            resource_version: Some(plan.resource_version.clone()),
            template_digest: Some(plan.template_digest.clone()),
            kube_user: kube_user.username().map(str::to_string),
            kube_groups: groups,
            kube_user_unknown: unknown,
            os_user: Some(identity::os_user().to_string()),
            reason: reason.map(str::to_string),
            uid: Some(plan.uid.clone()),
            live_revision: plan.live_revision,
            target_revision: Some(plan.target_revision()),
            ..self.workload_facts(cluster, context, plan.kind, &plan.namespace, &plan.name)
        }
    }
}

/// The question the approver sees, naming the cluster.
fn approval_message(
    cluster: &Cluster,
    plan: &RollbackPlan,
    briefing: &Briefing,
    reason: Option<&str>,
    kube_user: &KubeUser,
) -> String {
    let writes_as = kube_user.describe();
    let identity = ClusterIdentity {
        context: &cluster.context,
        server: &cluster.server,
        kube_user: &writes_as,
    };
    form::message(
        plan,
        &identity,
        &briefing.for_question(),
        reason,
        Timestamp::now(),
    )
}
