//! The thin MCP adapter: tool definitions, their arguments and results, and the mapping of
//! domain outcomes to tool results. The rollout logic lives in `crate::rollout`, the undo
//! workflow in `crate::undo`, the API calls in `crate::cluster`, the approval mechanics in
//! `crate::approval`.

pub mod arguments;
pub mod history;
pub mod prompt;
pub mod reply;
pub mod schema;
pub mod status;
pub mod target;
pub mod undo;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::tool::{InputResponses as ToolInputResponses, RequestState, ToolRouter};
use rmcp::model::{
    CallToolResponse, CallToolResult, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, prompt_handler, tool, tool_handler, tool_router};

use crate::approval::page::Pages;
use crate::approval::state::ApprovalStates;
use crate::audit::{AuditLog, CallFacts};
use crate::cluster::{Cluster, Clusters};
use crate::config::Settings;
use crate::rollout::history::HistoryReport;
use crate::rollout::kind::WorkloadKind;

use crate::undo::report::UndoReport;
use crate::verify::{self, StatusReport};
use history::HistoryArgs;
use reply::{InContext, ToolFailure};
use status::StatusArgs;
use undo::UndoArgs;

/// What the server tells every client about the workflow.
pub const INSTRUCTIONS: &str = "Safe Kubernetes rollbacks for Deployments, DaemonSets and StatefulSets. \
Follow the workflow: (1) k8s_rollout_history to see the revisions (live one, images, change-causes, ages) and, with `revision`, \
what restoring one would change; (2) k8s_rollout_undo with an explicit `to_revision` (no implicit \"previous\"; `dry_run: true` \
validates it on the server first): a human is asked to approve, and nothing is written without that approval or if the workload \
changed since; (3) k8s_rollout_status to verify the rollout finished. Prefer an undo to a restart: restarting redeploys the bad template.";

/// The name of the one tool that writes.
pub const UNDO_TOOL: &str = "k8s_rollout_undo";

/// The MCP server: a client per allowed context, the approval state issuer, and the tools.
#[derive(Clone)]
pub struct RolloutServer {
    clusters: Arc<Clusters>,
    settings: Arc<Settings>,
    approvals: Arc<ApprovalStates>,
    pages: Pages,
    audit: Arc<AuditLog>,
    undos: Arc<InFlight>,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
}

/// Undo calls still running. When the host disconnects, the process waits for them (bounded)
/// before exiting, so an approved write is never cut off between its patch and its outcome
/// record.
#[derive(Debug, Default)]
pub struct InFlight {
    running: AtomicUsize,
    idle: Notify,
}

/// One running undo; dropping it marks the undo finished.
struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// Waits until no undo is running, or `limit` passes; true when none is.
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl RolloutServer {
    /// The server for `settings`, with the start context's `cluster` already built.
    pub fn new(
        settings: Settings,
        cluster: Cluster,
        approvals: ApprovalStates,
        audit: AuditLog,
    ) -> Self {
        Self {
            clusters: Arc::new(Clusters::new(&settings, cluster)),
            pages: Pages::new(settings.approval_timeout),
            settings: Arc::new(settings),
            approvals: Arc::new(approvals),
            audit: Arc::new(audit),
            undos: Arc::default(),
            tool_router: Self::tool_router(),
            prompt_router: Self::prompt_router(),
        }
    }

    /// The undo calls in flight, to wait for before the process exits.
    pub fn undos_in_flight(&self) -> Arc<InFlight> {
        self.undos.clone()
    }
}

impl RolloutServer {
    /// The cluster of the context a call names (or the start context), refused before any
    /// request when the operator's policy does not allow it.
    async fn cluster_for(&self, context: Option<&str>) -> Result<Cluster, ToolFailure> {
        let context = self.settings.contexts.choose(context)?;
        Ok(self.clusters.get(context).await?)
    }

    /// The tools this server lists: all of them, or without the undo when read-only.
    fn listed_tools(&self) -> Vec<Tool> {
        self.tool_router
            .list_all()
            .into_iter()
            .filter(|tool| !(self.settings.read_only && tool.name == UNDO_TOOL))
            .collect()
    }

    /// Audit facts common to every record about a workload in this call.
    fn workload_facts(
        &self,
        cluster: &Cluster,
        context: &RequestContext<RoleServer>,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
    ) -> CallFacts {
        let client = context.client_info();
        CallFacts {
            call_id: crate::audit::new_call_id(),
            client_name: client.as_ref().map(|client| client.name.clone()),
            client_version: client.map(|client| client.version),
            protocol_version: context
                .protocol_version()
                .map(|version| version.to_string()),
            context: cluster.context.clone(),
            cluster_server: cluster.server.clone(),
            namespace: namespace.to_string(),
            kind: kind.kind().to_string(),
            name: name.to_string(),
            ..CallFacts::default()
        }
    }
}

#[tool_router]
impl RolloutServer {
    /// Lists a workload's rollout revisions exactly as kubectl numbers them, with what a human
    /// needs to pick a good one; shows one revision in full and diffs it on request.
    #[tool(
        name = "k8s_rollout_history",
        description = "Read-only. List the rollout revisions of a Deployment, DaemonSet or StatefulSet exactly as `kubectl rollout history` numbers them, marking the live one, with each revision's age, estimated time it was live, images and change-cause, and the live revision's health (when it is not healthy: why, from its pods' states and the newest Warning events); revisions live for less than the progress deadline are flagged. With `revision`, show that revision's pod template (env values redacted unless the server runs with --show-env-values) and what would change if it were restored (diff against the live template, or against `compare_with`). Start every rollback here.",
        input_schema = schema::input::<HistoryArgs>().expect("a valid input schema"),
        output_schema = schema::output::<InContext<HistoryReport>>(),
        annotations(title = "Rollout history", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn k8s_rollout_history(&self, arguments: JsonObject) -> CallToolResult {
        let args: HistoryArgs = match arguments::decode(arguments) {
            Ok(args) => args,
            Err(failure) => return failure.into_result(),
        };
        match self.history_report(args).await {
            Ok((cluster, report)) => reply::success(&cluster, report, history::render),
            Err(failure) => failure.into_result(),
        }
    }

    /// Restores the template of an earlier revision after a human approved it.
    #[tool(
        name = "k8s_rollout_undo",
        description = "Roll a Deployment, DaemonSet or StatefulSet back to the template of an explicit earlier revision (`to_revision`, from k8s_rollout_history), as `kubectl rollout undo --to-revision` does. The exact patch is first dry-run on the API server (a refusal there asks nobody); then a human is asked to approve through the MCP client (elicitation), shown the live revision's failure evidence, every template change and the warnings, and nothing is written without an explicit approval; the write only applies if the workload's spec (but its replica count), labels and annotations and the target revision are unchanged since the approval request. `dry_run: true` sends the write's exact patch to the API server as a dry run and shows it (env values redacted, with the exact body's SHA-256), without asking or writing. If the API server's answer to the write is lost, the result says whether a re-read shows it applied, or that it may still apply: then check k8s_rollout_history instead of retrying. Afterwards verify with k8s_rollout_status.",
        input_schema = schema::input::<UndoArgs>().expect("a valid input schema"),
        output_schema = schema::output::<InContext<UndoReport>>(),
        annotations(title = "Roll back (needs approval)", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = true)
    )]
    async fn k8s_rollout_undo(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
        RequestState(request_state): RequestState,
        ToolInputResponses(responses): ToolInputResponses,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.settings.read_only {
            return Ok(ToolFailure(
                "k8s_rollout_undo is not available: this server runs with --read-only (K8S_ROLLOUT_MCP_READ_ONLY), so it writes nothing; k8s_rollout_history and k8s_rollout_status still work. Ask the operator to start it without --read-only to roll back".into(),
            )
            .into_result()
            .into());
        }
        let args: UndoArgs = match arguments::decode(arguments) {
            Ok(args) => args,
            Err(failure) => return Ok(failure.into_result().into()),
        };
        let _running = self.undos.enter();
        Ok(self
            .undo(args, context, request_state, responses)
            .await
            .unwrap_or_else(|failure| failure.into_result().into()))
    }

    /// kubectl's rollout status, once or waiting with progress notifications.
    #[tool(
        name = "k8s_rollout_status",
        description = "Read-only. Report whether the rollout of a Deployment, DaemonSet or StatefulSet is done, in progress or failed, in `kubectl rollout status` terms (its message, the replica counts, the live revision), and why: the pods of each revision grouped by state (e.g. CrashLoopBackOff with restarts, ImagePullBackOff, OOMKilled, not ready, unschedulable with the scheduler's message) with an example pod, and the newest Warning events. With `wait: true`, watch until it finishes, fails or `timeout_seconds` (default 120, max 600) pass, sending progress notifications as the message changes. Use it after k8s_rollout_undo.",
        input_schema = schema::input::<StatusArgs>().expect("a valid input schema"),
        output_schema = schema::output::<InContext<StatusReport>>(),
        annotations(title = "Rollout status", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn k8s_rollout_status(
        &self,
        arguments: JsonObject,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let args: StatusArgs = match arguments::decode(arguments) {
            Ok(args) => args,
            Err(failure) => return failure.into_result(),
        };
        match self.status(args, &context).await {
            Ok((cluster, report)) => reply::success(&cluster, report, verify::render),
            Err(failure) => failure.into_result(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for RolloutServer {
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools: self.listed_tools(),
            meta: None,
            next_cursor: None,
            ttl_ms: supports_cache_hints.then_some(0),
            cache_scope: supports_cache_hints.then_some(rmcp::model::CacheScope::Public),
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.listed_tools()
            .into_iter()
            .find(|tool| tool.name == name)
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }
}
