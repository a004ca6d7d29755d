//! The `safe_rollback` prompt: the workflow as a slash command. Its one message walks the agent
//! through inspect, pick, approve, execute and verify, naming each tool and its arguments, so a
//! user who types `/safe_rollback` gets the same careful sequence every time.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{GetPromptResult, PromptMessage, Role};
use rmcp::{prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::rollout::clip;

use super::RolloutServer;

/// Arguments of `safe_rollback` (prompt arguments are strings).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SafeRollbackArgs {
    /// deployment, daemonset or statefulset.
    pub resource_type: String,
    /// The workload's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The kubeconfig context (default: the server's start context).
    pub context: Option<String>,
}

/// The text of the prompt's message for `args`.
pub fn safe_rollback_text(args: &SafeRollbackArgs) -> String {
    let shown = |value: &str| clip::text(value, clip::VALUE).into_owned();
    let mut target = json!({
        "resource_type": shown(&args.resource_type),
        "name": shown(&args.name),
        "namespace": shown(&args.namespace),
    });
    if let Some(context) = &args.context {
        target["context"] = json!(shown(context));
    }
    let with = |extra: serde_json::Value| {
        let mut arguments = target.clone();
        if let (Some(arguments), Some(extra)) = (arguments.as_object_mut(), extra.as_object()) {
            arguments.extend(extra.clone());
        }
        arguments.to_string()
    };
    let place = match &args.context {
        Some(context) => format!(" in context \"{}\"", shown(context)),
        None => String::new(),
    };
    format!(
        "Roll back the {kind} {namespace}/{name}{place} safely, one step at a time. Do not restart it, scale it or edit it by hand: a restart redeploys the bad template.\n\
\n\
1. Inspect: call k8s_rollout_history with {history}. Note the live revision and its health, and each revision's images, change-cause and age.\n\
2. Pick: choose the revision to restore, normally the newest one that ran healthily before the bad change. Call k8s_rollout_history with {detail} (that revision's number) to see its template and exactly what restoring it changes. Tell me which revision you picked and why. If no revision is clearly good, stop and ask me.\n\
3. Approve: call k8s_rollout_undo with {undo}, the picked revision and a one-line reason (add \"dry_run\": true first to have the API server validate the patch). The server asks a human to approve through the MCP client: do not ask for approval in the chat instead, and if the approval is declined or refused, stop and report why; do not retry.\n\
4. Execute: the approved undo writes once. If it says the workload changed since the approval, go back to step 1. If it says the outcome is unknown, check k8s_rollout_history instead of retrying.\n\
5. Verify: call k8s_rollout_status with {status} and report the final state, the live revision and its images. If the rollout fails, report it and stop.",
        kind = shown(&args.resource_type),
        namespace = shown(&args.namespace),
        name = shown(&args.name),
        history = target,
        detail = with(json!({"revision": "N"})),
        undo = with(json!({"to_revision": "N", "reason": "..."})),
        status = with(json!({"wait": true})),
    )
}

#[prompt_router(vis = "pub(super)")]
impl RolloutServer {
    /// The safe rollback workflow, step by step, with the tool names.
    #[prompt(
        name = "safe_rollback",
        description = "Roll a Deployment, DaemonSet or StatefulSet back safely: inspect its history, pick a revision, get a human's approval, undo, and verify the rollout."
    )]
    async fn safe_rollback(
        &self,
        Parameters(args): Parameters<SafeRollbackArgs>,
    ) -> GetPromptResult {
        GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            safe_rollback_text(&args),
        )])
        .with_description("The safe rollback workflow")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_names_every_step_and_tool_with_the_target() {
        let text = safe_rollback_text(&SafeRollbackArgs {
            resource_type: "deployment".into(),
            name: "web".into(),
            namespace: "shop".into(),
            context: Some("prod".into()),
        });
        let mut at = 0;
        for step in [
            "1. Inspect: call k8s_rollout_history",
            "2. Pick:",
            "3. Approve: call k8s_rollout_undo",
            "4. Execute:",
            "5. Verify: call k8s_rollout_status",
        ] {
            let found = text[at..]
                .find(step)
                .unwrap_or_else(|| panic!("{step} in {text}"));
            at += found;
        }
        assert!(
            text.contains(
                r#"{"context":"prod","name":"web","namespace":"shop","resource_type":"deployment"}"#
            ),
            "{text}"
        );
        assert!(text.starts_with("Roll back the deployment shop/web in context \"prod\""));
    }
}
