//! The server under test: the release binary, spawned and spoken to over stdio by rmcp's
//! client as a host would, approving every undo at once (no human in the loop); and the same
//! binary as a one-shot (spawn, initialize, one call, exit) over raw stdio lines.

use std::path::{Path, PathBuf};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::process;

pub const BINARY: &str = env!("CARGO_BIN_EXE_k8s-rollout-mcp");

/// A host whose human approves every request at once.
#[derive(Clone)]
pub struct AutoApprove;

impl ClientHandler for AutoApprove {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("side-by-side", "1.0.0"),
        )
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(json!({"approve": true, "approver": "side-by-side"})))
    }
}

/// One running server and the session with it.
pub struct Server {
    client: RunningService<RoleClient, AutoApprove>,
    pub pid: u32,
}

impl Server {
    /// Spawns the server on `kubeconfig`, its audit log in `dir`, and initializes.
    pub async fn start(kubeconfig: &Path, dir: &Path) -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(server_args(kubeconfig, dir))
            .env("RUST_LOG", "warn");
        let transport = TokioChildProcess::new(command).expect("the server starts");
        let pid = transport.id().expect("a pid");
        let client = AutoApprove.serve(transport).await.expect("initialize");
        Self { client, pid }
    }

    /// Calls a tool; fails the bench if the call fails.
    pub async fn call(&self, tool: &str, arguments: Value) -> CallToolResult {
        let result = self
            .client
            .call_tool(params(tool, arguments))
            .await
            .expect("the call completes");
        assert_ne!(
            result.is_error,
            Some(true),
            "{tool} failed: {}",
            text(&result)
        );
        result
    }

    /// The server's peak RSS so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        process::vm_hwm_kib(self.pid)
    }

    pub async fn stop(self) {
        let _ = self.client.cancel().await;
    }
}

fn server_args(kubeconfig: &Path, dir: &Path) -> Vec<PathBuf> {
    vec![
        "--kubeconfig".into(),
        kubeconfig.into(),
        "--audit-log".into(),
        dir.join("audit.jsonl"),
    ]
}

/// The arguments of a history call of Deployment `web` (`limit` None: the default, 20).
pub fn history(namespace: &str, limit: Option<usize>) -> Value {
    let mut arguments =
        json!({"resource_type": "deployment", "name": "web", "namespace": namespace});
    if let Some(limit) = limit {
        arguments["limit"] = json!(limit);
    }
    arguments
}

fn params(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)
}

/// A result's text blocks, joined.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Spawn, `initialize`, one `tools/call` with `arguments`, stdin closed, exit: timed whole.
pub fn one_shot(kubeconfig: &Path, dir: &Path, tool: &str, arguments: &Value) -> process::Run {
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "side-by-side", "version": "1.0.0"}}})
    .to_string();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
    .to_string();
    let run = process::run(
        Path::new(BINARY),
        &server_args(kubeconfig, dir),
        &[("RUST_LOG", "warn")],
        &[(&initialize, 1), (&initialized, 0), (&call, 1)],
    );
    let answer = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.success && answer.contains("\"id\":2") && !answer.contains("\"isError\":true"),
        "the one-shot call failed: {answer}"
    );
    run
}
