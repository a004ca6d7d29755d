//! `k8s_rollout_undo`, the MCP side: arguments, which approval path the session allows,
//! asking through it, and the result. The workflow itself (plan, write, classify the outcome,
//! read back, verify, audit) is `crate::undo`.

use k8s_openapi::jiff::Timestamp;
use rmcp::model::{CallToolResponse, InputResponses, ProtocolVersion};
use rmcp::service::{RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use std::time::Duration;

use crate::approval::form::{self, ClusterIdentity};
use crate::approval::page::view::PageView;
use crate::approval::page::{OpenPage, PageDecision, PageWait};
use crate::approval::state::ApprovalBinding;
use crate::approval::{self, ApprovalDecision, ApprovalPath, Refusal, browser, hosts};
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
        let route = self.route(&context);

        if args.dry_run {
            let path = route
                .as_ref()
                .map_or(ApprovalPath::Elicitation, Route::path);
            let report = call.dry_run(&plan, path).await?;
            return Ok(reply::success(cluster, report, report::render).into());
        }

        // With --approval host-confirmed nobody is asked here: the result carries what an
        // approver would have been shown.
        let mut briefing_shown = None;
        // The approval page an approval came from, which shows the outcome.
        let mut page_id = None;
        // How the person was asked, for the record of a refusal.
        let asked = match (&redemption, &route) {
            // A state this server did not issue asked nobody.
            (Some(redemption), _) => redemption.asked_in.as_ref().map(|_| {
                if redemption.page.is_some() {
                    ApprovalPath::Url
                } else {
                    ApprovalPath::InputRequired
                }
            }),
            (None, Ok(route)) => Some(route.path()),
            (None, Err(_)) => None,
        };
        let decision = match (redemption, route) {
            (Some(redemption), _) => match (redemption.verdict, redemption.page) {
                (Ok(()), None) => {
                    form::decide_response(responses.as_ref().and_then(|r| r.get(form::INPUT_KEY)))
                }
                (Ok(()), Some(id)) => {
                    let consent = approval::url_consent_response(
                        responses.as_ref().and_then(|r| r.get(form::INPUT_KEY)),
                    );
                    let binding = call.binding(&plan);
                    match (consent, self.pages.find(&id, &binding)) {
                        (Err(refusal), _) => ApprovalDecision::Refused(refusal),
                        (Ok(()), None) => ApprovalDecision::Refused(Refusal::Superseded),
                        (Ok(()), Some(mut page)) => {
                            page_id = Some(page.id.clone());
                            self.wait_on_page(&mut page, ApprovalPath::Url, &context)
                                .await
                        }
                    }
                }
                (Err(rejection), _) => ApprovalDecision::Refused(Refusal::StateRejected(rejection)),
            },
            (None, Ok(Route::Form(path))) => {
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
                    let sealed = self.seal(&call, &plan, None)?;
                    return Ok(approval::input_required(form::request(message), sealed).into());
                }
                approval::ask_during_call(
                    &context.peer,
                    message,
                    self.settings.approval_timeout,
                    &context.ct,
                )
                .await
            }
            (None, Ok(Route::Page(how))) => {
                let briefing = call.brief(&workload, &set, &plan, how.path()).await?;
                let identity = cluster.writes_as(&kube_user);
                let identity = ClusterIdentity {
                    context: &cluster.context,
                    server: &cluster.server,
                    kube_user: &identity,
                };
                let view = PageView::new(
                    &plan,
                    &identity,
                    &briefing.for_question(),
                    args.reason.as_deref(),
                    Timestamp::now(),
                    identity::os_user(),
                );
                let workload_key = format!(
                    "{}/{}/{}/{}",
                    cluster.context, plan.namespace, plan.kind, plan.name
                );
                let mut page = self
                    .pages
                    .open(&workload_key, &call.binding(&plan), view)
                    .map_err(|error| {
                        ToolFailure(format!("{error}. Nobody was asked; nothing was written."))
                    })?;
                page_id = Some(page.id.clone());
                call.record(
                    AuditEvent::ApprovalRequested,
                    Detail {
                        approval_path: Some(how.path()),
                        note: page.resumed.then(|| {
                            "the approval page for this plan was already open: this call waits on it".to_string()
                        }),
                        ..Default::default()
                    },
                )
                .await?;
                let message = page_message(&plan);
                match how {
                    PageRoute::Browser if page.resumed => {
                        self.wait_on_page(&mut page, ApprovalPath::Browser, &context)
                            .await
                    }
                    PageRoute::Browser => match browser::open(&page.url) {
                        Ok(()) => {
                            self.wait_on_page(&mut page, ApprovalPath::Browser, &context)
                                .await
                        }
                        Err(error) => ApprovalDecision::Refused(Refusal::Failed(format!(
                            "the approval page could not be opened in a browser: {error}"
                        ))),
                    },
                    PageRoute::UrlInputRequired => {
                        let sealed = self.seal(&call, &plan, Some(&page.id))?;
                        let request = approval::url_request(message, &page.url, &page.id);
                        return Ok(approval::input_required(request, sealed).into());
                    }
                    PageRoute::Url => {
                        let request = approval::url_request(message, &page.url, &page.id);
                        let asked = context.peer.create_elicitation_with_timeout(
                            request,
                            Some(self.settings.approval_timeout),
                        );
                        let consent = tokio::select! {
                            answer = asked => answer
                                .map_err(|error| Refusal::Failed(error.to_string()))
                                .and_then(|answer| approval::url_consent(&answer.action)),
                            () = context.ct.cancelled() => Err(Refusal::Cancelled),
                        };
                        match consent {
                            Ok(()) => {
                                let decision = self
                                    .wait_on_page(&mut page, ApprovalPath::Url, &context)
                                    .await;
                                approval::notify_url_complete(&context.peer, &page.id).await;
                                decision
                            }
                            Err(refusal) => ApprovalDecision::Refused(refusal),
                        }
                    }
                }
            }
            (None, Ok(Route::HostConfirmed)) => {
                // The dry run and the evidence still come first: a patch the API server
                // refuses is refused here too.
                let briefing = call
                    .brief(&workload, &set, &plan, ApprovalPath::HostConfirmed)
                    .await?;
                briefing_shown = Some(approval_message(
                    cluster,
                    &plan,
                    &briefing,
                    args.reason.as_deref(),
                    &kube_user,
                ));
                ApprovalDecision::Approved {
                    approver: None,
                    path: ApprovalPath::HostConfirmed,
                }
            }
            (None, Err(refusal)) => ApprovalDecision::Refused(refusal),
        };

        // A refusal leaves the page as it is: declined there, expired, replaced, or (a
        // cancelled call) still open for the same call made again.
        let approved = match decision {
            ApprovalDecision::Refused(refusal) => {
                return Err(call.refuse(&plan, asked, refusal).await.into());
            }
            ApprovalDecision::Approved { approver, path } => ApprovalSummary { path, approver },
        };
        if context.ct.is_cancelled() && page_id.is_none() {
            return Err(call.refuse(&plan, asked, Refusal::Cancelled).await.into());
        }
        // Written and flushed before the patch is sent: no record, no write.
        call.record(AuditEvent::Approved, approved.detail()).await?;
        let wait = status::wait_limit(args.wait, args.timeout_seconds);
        let mut progress = McpProgress::new(&context);
        let executed = call
            .execute(plan, approved, wait, &context.ct, &mut progress)
            .await;
        if let Some(id) = &page_id {
            match &executed {
                Ok(report) => self.pages.finish(id, true, report::outcome_line(report)),
                Err(error) => self.pages.finish(id, false, error.0.clone()),
            }
        }
        let mut report = executed?;
        report.briefing = briefing_shown;
        Ok(reply::success(cluster, report, report::render).into())
    }

    /// Seals the 2026-07-28 state of this call's approval (of the page `page`, if it asks
    /// through one).
    fn seal(
        &self,
        call: &UndoCall<'_>,
        plan: &RollbackPlan,
        page: Option<&str>,
    ) -> Result<String, ToolFailure> {
        self.approvals
            .seal(&call.binding(plan), call.call_id(), page)
            .map_err(|error| {
                ToolFailure(format!(
                    "cannot seal the approval request: {error}. Nothing was written."
                ))
            })
    }

    /// Waits for the decision on `page`, telling the client every few seconds that it is
    /// waiting (hosts that reset their request timeout on progress keep the call alive). A
    /// cancelled call leaves the page open: the same call made again resumes it.
    async fn wait_on_page(
        &self,
        page: &mut OpenPage,
        path: ApprovalPath,
        context: &RequestContext<RoleServer>,
    ) -> ApprovalDecision {
        let mut progress = McpProgress::new(context);
        let where_ = match path {
            ApprovalPath::Url => "on the approval page (the link the client showed)",
            _ => "on the approval page in the browser",
        };
        let decision = loop {
            match page.next(&context.ct, PROGRESS_EVERY).await {
                PageWait::Decided(decision) => break decision,
                PageWait::Waiting(left) => {
                    let note = format!(
                        "waiting for a person's decision {where_}; {}s left",
                        left.as_secs()
                    );
                    progress.note(note).await;
                }
            }
        };
        match decision {
            PageDecision::Approved { approver } => ApprovalDecision::Approved { approver, path },
            PageDecision::Declined => ApprovalDecision::Refused(Refusal::Declined),
            PageDecision::Expired => ApprovalDecision::Refused(Refusal::TimedOut(
                self.settings.approval_timeout.as_secs(),
            )),
            PageDecision::Cancelled => ApprovalDecision::Refused(Refusal::Cancelled),
            PageDecision::Superseded => ApprovalDecision::Refused(Refusal::Superseded),
            PageDecision::Taken => ApprovalDecision::Refused(Refusal::Taken),
        }
    }

    /// How this session's human is asked, by the operator's `--approval` and what the client
    /// can do: the form where the client shows one (elicitation during the call, or an
    /// InputRequiredResult on 2026-07-28 sessions, which have no handshake and forbid server
    /// requests); else the approval page, handed over by URL-mode elicitation or opened in the
    /// browser by the server; else the host's own confirmation when the operator trusts it; or
    /// why no one can be asked. A client known to declare elicitation without ever showing it
    /// ([`hosts`]) is one that cannot elicit.
    fn route(&self, context: &RequestContext<RoleServer>) -> Result<Route, Refusal> {
        let client = context.client_info();
        let cannot_ask = hosts::cannot_ask(client.as_ref().map(|client| client.name.as_str()));
        let capabilities = context.client_capabilities();
        let form = cannot_ask.is_none() && approval::client_can_elicit(capabilities.as_ref());
        let url = cannot_ask.is_none() && approval::client_can_open_urls(capabilities.as_ref());
        let stateless = context.peer.peer_info().is_none()
            || context
                .protocol_version()
                .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        let form_route = Route::Form(if stateless {
            ApprovalPath::InputRequired
        } else {
            ApprovalPath::Elicitation
        });
        let url_route = Route::Page(if stateless {
            PageRoute::UrlInputRequired
        } else {
            PageRoute::Url
        });
        let client_refusal = || match cannot_ask {
            Some(entry) => Refusal::CannotAsk(entry),
            None => Refusal::NotSupported,
        };
        let no_way = |browser: browser::OpenError| Refusal::NoWayToAsk {
            client: match cannot_ask {
                Some(entry) => entry.described(),
                None => {
                    "this MCP client did not declare the elicitation capability (forms or URLs)"
                        .into()
                }
            },
            browser: browser.to_string(),
        };
        match self.settings.approval {
            ApprovalMode::Elicitation if form => Ok(form_route),
            ApprovalMode::Elicitation => Err(client_refusal()),
            ApprovalMode::HostConfirmed if form => Ok(form_route),
            ApprovalMode::HostConfirmed => Ok(Route::HostConfirmed),
            ApprovalMode::Auto if form => Ok(form_route),
            ApprovalMode::Auto if url => Ok(url_route),
            ApprovalMode::Auto => match browser::can_open() {
                Ok(()) => Ok(Route::Page(PageRoute::Browser)),
                Err(error) => Err(no_way(error)),
            },
            ApprovalMode::Browser => match browser::can_open() {
                Ok(()) => Ok(Route::Page(PageRoute::Browser)),
                Err(_) if url => Ok(url_route),
                Err(error) => Err(no_way(error)),
            },
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

/// How often a call waiting on the approval page says so (a progress notification).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How a person is asked.
enum Route {
    /// The form: elicitation during the call, or an InputRequiredResult.
    Form(ApprovalPath),
    /// The approval page.
    Page(PageRoute),
    /// Nobody: the host's own confirmation stands for the approval.
    HostConfirmed,
}

/// How the approval page reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageRoute {
    /// Opened in the browser by the server.
    Browser,
    /// URL-mode elicitation during the call.
    Url,
    /// URL-mode elicitation in an InputRequiredResult.
    UrlInputRequired,
}

impl PageRoute {
    fn path(self) -> ApprovalPath {
        match self {
            Self::Browser => ApprovalPath::Browser,
            Self::Url | Self::UrlInputRequired => ApprovalPath::Url,
        }
    }
}

impl Route {
    /// The path an approval on this route takes (a dry run's change-cause names it).
    fn path(&self) -> ApprovalPath {
        match self {
            Self::Form(path) => *path,
            Self::Page(how) => how.path(),
            Self::HostConfirmed => ApprovalPath::HostConfirmed,
        }
    }
}

/// What the client shows beside the approval page's URL (the page holds the plan).
fn page_message(plan: &RollbackPlan) -> String {
    format!(
        "Review and approve rolling back {} {}/{} to revision {} on the approval page (it shows the whole plan; nothing is written unless you approve there).",
        plan.kind,
        plan.namespace,
        plan.name,
        plan.target_revision()
    )
}

/// The question the approver sees, naming the cluster.
fn approval_message(
    cluster: &Cluster,
    plan: &RollbackPlan,
    briefing: &Briefing,
    reason: Option<&str>,
    kube_user: &KubeUser,
) -> String {
    let writes_as = cluster.writes_as(kube_user);
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
