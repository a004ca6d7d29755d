//! Tool results: a successful result carries the structured report (matching the tool's
//! `outputSchema`) and a compact text rendering of the same data; a refusal is an
//! `isError: true` result with one clear message and no structured content (hosts validate
//! structured content against the output schema, so refusals carry none). The first result of
//! a context whose Kubernetes release is outside the tested ones carries that warning
//! ([`crate::cluster::version`]) among its own.

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::cluster::Cluster;
use crate::rollout::history::HistoryReport;
use crate::undo::report::UndoReport;
use crate::verify::StatusReport;

/// A tool's report with the cluster it is about: every result names its context and server.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InContext<T> {
    /// The kubeconfig context the call ran in.
    pub context: String,
    /// That context's API server URL.
    pub server: String,
    #[serde(flatten)]
    pub report: T,
}

/// A refusal or failure shown to the agent: what went wrong and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFailure(pub String);

impl<E: std::error::Error> From<E> for ToolFailure {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

impl ToolFailure {
    /// The failure of a call that reached `cluster`, ending with its context and server as
    /// every result does.
    pub fn in_cluster(self, cluster: &Cluster) -> Self {
        Self(format!(
            "{}\n(context \"{}\", server {})",
            self.0.trim_end(),
            cluster.context,
            cluster.server
        ))
    }

    pub fn into_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.0)])
    }
}

/// A report that carries warnings for the agent.
pub trait Warned {
    fn warnings(&mut self) -> &mut Vec<String>;
}

impl Warned for HistoryReport {
    fn warnings(&mut self) -> &mut Vec<String> {
        &mut self.warnings
    }
}

impl Warned for UndoReport {
    fn warnings(&mut self) -> &mut Vec<String> {
        &mut self.warnings
    }
}

impl Warned for StatusReport {
    fn warnings(&mut self) -> &mut Vec<String> {
        &mut self.warnings
    }
}

/// A successful result: `report` in `cluster` as structured content, rendered by `render` for
/// humans and models (ending with the context and server it is about), with the cluster's
/// release warning when this is the context's first result, and the connection's warning
/// (an unverified certificate) on every one.
pub fn success<T: Serialize + Warned>(
    cluster: &Cluster,
    mut report: T,
    render: fn(&T) -> String,
) -> CallToolResult {
    if let Some(warning) = cluster.take_release_warning() {
        report.warnings().push(warning);
    }
    if let Some(warning) = cluster.connection_warning() {
        report.warnings().push(warning.to_string());
    }
    let text = render(&report);
    let report = InContext {
        context: cluster.context.clone(),
        server: cluster.server.clone(),
        report,
    };
    match serde_json::to_value(&report) {
        Ok(value) => {
            let mut result = CallToolResult::structured(value);
            let text = format!(
                "{}\n(context \"{}\", server {})",
                text.trim_end(),
                report.context,
                report.server
            );
            result.content = vec![ContentBlock::text(text)];
            result
        }
        Err(error) => ToolFailure(format!(
            "internal error: the result could not be serialised: {error}"
        ))
        .into_result(),
    }
}
