//! `k8s_rollout_status`: the read-only verify step, once or waiting with MCP progress
//! notifications carrying kubectl's message each time it changes.

use std::time::Duration;

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::audit::{AuditEvent, CallFacts, Detail};
use crate::cluster::Cluster;
use crate::rollout::status::{RolloutState, RolloutStatus};
use crate::verify::{self, DEFAULT_WAIT_SECONDS, ProgressSink, StatusQuery, StatusReport};

use super::RolloutServer;
use super::reply::ToolFailure;

/// Arguments of `k8s_rollout_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {
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
    /// The live revision you expect (kubectl's --revision): a different one is reported as a
    /// failure.
    #[schemars(range(min = 1))]
    pub revision: Option<i64>,
    /// Wait (on a watch) until the rollout finishes, fails, or timeout_seconds pass.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait with `wait` (default 120, at most 600).
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<u64>,
}

/// The wait a call asked for (`timeout_seconds` is validated to 1..=[`MAX_WAIT_SECONDS`]
/// with the arguments).
pub fn wait_limit(wait: bool, timeout_seconds: Option<u64>) -> Option<Duration> {
    wait.then(|| Duration::from_secs(timeout_seconds.unwrap_or(DEFAULT_WAIT_SECONDS)))
}

/// Sends kubectl's message as an MCP progress notification when the client asked for them.
pub struct McpProgress {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    sent: u32,
}

impl McpProgress {
    pub fn new(context: &RequestContext<RoleServer>) -> Self {
        Self {
            peer: context.peer.clone(),
            token: context.meta.get_progress_token(),
            sent: 0,
        }
    }
}

impl McpProgress {
    /// Sends `message` as the next progress notification, when the client asked for them.
    pub async fn note(&mut self, message: String) {
        let Some(token) = self.token.clone() else {
            return;
        };
        self.sent += 1;
        let notification =
            ProgressNotificationParam::new(token, f64::from(self.sent)).with_message(message);
        if let Err(error) = self.peer.notify_progress(notification).await {
            tracing::debug!(%error, "a progress notification could not be sent");
        }
    }
}

impl ProgressSink for McpProgress {
    async fn changed(&mut self, status: &RolloutStatus) {
        self.note(status.message.clone()).await;
    }
}

impl RolloutServer {
    pub(super) async fn status(
        &self,
        args: StatusArgs,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Cluster, StatusReport), ToolFailure> {
        let cluster = self.cluster_for(args.context.as_deref()).await?;
        let report = self
            .status_in(&cluster, args, context)
            .await
            .map_err(|failure| failure.in_cluster(&cluster))?;
        Ok((cluster, report))
    }

    async fn status_in(
        &self,
        cluster: &Cluster,
        args: StatusArgs,
        context: &RequestContext<RoleServer>,
    ) -> Result<StatusReport, ToolFailure> {
        let target = self
            .target(
                cluster,
                &args.resource_type,
                &args.name,
                args.namespace.as_deref(),
            )
            .await?;
        let workload = target.fetch(cluster).await?;
        let query = StatusQuery {
            expected_revision: args.revision,
            wait: wait_limit(args.wait, args.timeout_seconds),
            progressing_before: None,
        };
        let uid = workload.uid().to_string();
        let mut progress = McpProgress::new(context);
        let report = verify::check(cluster, workload, query, &context.ct, &mut progress).await?;
        if args.wait && report.state == RolloutState::Failed {
            // The audit trail records failed rollouts seen while waiting, not only decisions.
            let facts = CallFacts {
                uid: Some(uid),
                live_revision: report.live_revision,
                ..self.workload_facts(
                    cluster,
                    context,
                    target.kind,
                    &target.namespace,
                    &target.name,
                )
            };
            let detail = Detail {
                error: Some(format!("rollout failed: {}", report.message)),
                ..Detail::default()
            };
            if let Err(error) = self.audit.append(AuditEvent::Failed, &facts, &detail).await {
                tracing::warn!(%error, "a failed rollout could not be recorded in the audit log");
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_defaults_to_two_minutes() {
        assert_eq!(wait_limit(false, Some(30)), None);
        assert_eq!(wait_limit(true, None), Some(Duration::from_secs(120)));
        assert_eq!(wait_limit(true, Some(600)), Some(Duration::from_secs(600)));
    }
}
