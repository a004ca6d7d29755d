//! The whole safe-rollback workflow on an embedded simulated cluster, driven by a small
//! terminal MCP host: history, the diff of the candidate revision, status of the bad deploy,
//! the undo with a real approval prompt (elicitation) answered at this terminal, the new
//! history, the verified rollout, and the audit records it left.
//!
//! ```text
//! cargo run --example walkthrough            # asks you to approve
//! cargo run --example walkthrough -- --yes   # approves without a terminal (CI)
//! cargo run --example walkthrough -- --no    # declines without a terminal (CI)
//! cargo run --example walkthrough -- --real  # the same story on kube-real (needs Go)
//! ```
//!
//! The server runs in this process over an in-memory pipe carrying the same JSON-RPC as its
//! stdio, so nothing has to be built or installed first. With `--real` the cluster is kube-real
//! (a real API server and controllers on loopback, built on first use) with the same demo
//! scenario replayed through its API.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use k8s_rollout_mcp::approval::state::ApprovalStates;
use k8s_rollout_mcp::audit::AuditLog;
use k8s_rollout_mcp::cluster::Cluster;
use k8s_rollout_mcp::config::{Cli, Settings};
use k8s_rollout_mcp::mcp::RolloutServer;
use kube_sim::{Scenario, Sim, SimOptions};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, NumberOrString, ProgressNotificationParam,
    ProgressToken, RequestMetaObject,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};

/// How the approval question is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Approver {
    Terminal,
    Yes,
    No,
}

/// A terminal MCP host: shows the approval request and reads the answer.
#[derive(Clone)]
struct TerminalHost {
    approver: Approver,
}

impl ClientHandler for TerminalHost {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("walkthrough-terminal-host", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams { message, .. } = request else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        println!("\n┌─ approval requested by the server (MCP elicitation) ─────────────");
        for line in message.lines() {
            println!("│ {line}");
        }
        println!("└──────────────────────────────────────────────────────────────────");
        let (approve, approver) = match self.approver {
            Approver::Yes => {
                println!("--yes: approving as \"walkthrough-ci\"");
                (true, "walkthrough-ci".to_string())
            }
            Approver::No => {
                println!("--no: declining");
                (false, String::new())
            }
            Approver::Terminal => tokio::task::spawn_blocking(ask_at_terminal)
                .await
                .unwrap_or((false, String::new())),
        };
        if !approve {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        }
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(json!({"approve": true, "approver": approver})))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        println!("  progress: {}", params.message.unwrap_or_default());
    }
}

fn ask_at_terminal() -> (bool, String) {
    let stdin = std::io::stdin();
    let read = |prompt: &str| -> String {
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = stdin.lock().read_line(&mut line);
        line.trim().to_string()
    };
    let approve = matches!(
        read("Approve this rollback? [y/N] ")
            .to_ascii_lowercase()
            .as_str(),
        "y" | "yes"
    );
    if !approve {
        return (false, String::new());
    }
    let name = read("Your name (for the audit trail): ");
    (true, name)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut real = false;
    let mut answer = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--real" => real = true,
            "--yes" => answer = Some(Approver::Yes),
            "--no" => answer = Some(Approver::No),
            other => {
                eprintln!(
                    "unknown argument {other:?}; use --yes, --no, or nothing to be asked, and --real for kube-real"
                );
                return ExitCode::from(2);
            }
        }
    }
    let approver = match answer {
        Some(approver) => approver,
        None if std::io::stdin().is_terminal() => Approver::Terminal,
        None => {
            eprintln!("stdin is not a terminal: pass --yes or --no to answer the approval request");
            return ExitCode::from(2);
        }
    };
    match run(approver, real).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("walkthrough failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The cluster the story runs on; kept alive until the story ends.
enum DemoCluster {
    Sim { _serving: Sim },
    Real(Box<kube_real::Cluster>),
}

impl DemoCluster {
    /// Starts a cluster with the demo scenario and writes a kubeconfig for it.
    async fn start(
        real: bool,
        kubeconfig: &std::path::Path,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        if !real {
            let sim = Sim::start_with(Scenario::demo(), SimOptions::demo()).await;
            sim.write_kubeconfig(kubeconfig)?;
            println!(
                "Simulated cluster (demo scenario) listening at {}",
                sim.url()
            );
            return Ok(Self::Sim { _serving: sim });
        }
        println!(
            "Starting kube-real (the first start builds it from Kubernetes' Go modules: 10-25 minutes)..."
        );
        let cluster =
            tokio::task::spawn_blocking(|| kube_real::Cluster::start(Default::default())).await??;
        kube_real::kubeconfig::write(kubeconfig, &cluster.admin_kubeconfig(None))?;
        let client = cluster.harness_client().await;
        let scenario = Scenario::demo();
        let namespaces = kube_real::replay::namespaces(&client, &scenario, false).await;
        kube_real::replay::Objects::new(client)
            .replay(&scenario, &namespaces)
            .await;
        println!(
            "kube-real {} (demo scenario replayed through its API) at {}",
            cluster.endpoint().version,
            cluster.endpoint().url
        );
        Ok(Self::Real(Box::new(cluster)))
    }

    fn stop(self) {
        if let Self::Real(cluster) = self {
            cluster.stop();
        }
    }
}

async fn run(approver: Approver, real: bool) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("k8s-rollout-walkthrough-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    let audit_log = dir.join("audit.jsonl");
    let demo = DemoCluster::start(real, &kubeconfig).await?;

    let flag = std::ffi::OsStr::new;
    let cli = Cli::parse_from([
        flag("k8s-rollout-mcp"),
        flag("--kubeconfig"),
        kubeconfig.as_os_str(),
        flag("--namespace"),
        flag("shop"),
        flag("--request-timeout"),
        flag("10s"),
        flag("--audit-log"),
        audit_log.as_os_str(),
    ]);
    let settings = Settings::load(cli).await?;
    let cluster = Cluster::new(
        settings.kube.clone(),
        &settings.contexts.start,
        settings.request_timeout,
    )?;
    let approvals = ApprovalStates::new(settings.approval_timeout)?;
    let server = RolloutServer::new(
        settings,
        cluster,
        approvals,
        AuditLog::new(audit_log.clone()),
    );
    let (server_end, client_end) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_end).await {
            let _ = running.waiting().await;
        }
    });
    let host = TerminalHost { approver }.serve(client_end).await?;
    let tools = host.list_tools(None).await?;
    let names: Vec<&str> = tools.tools.iter().map(|tool| tool.name.as_ref()).collect();
    println!("Connected to k8s-rollout-mcp; tools: {}", names.join(", "));

    let workload =
        json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"});
    let with = |extra: Value| {
        let mut arguments = workload.clone();
        arguments
            .as_object_mut()
            .expect("an object")
            .extend(extra.as_object().expect("an object").clone());
        arguments
    };

    step("1. Inspect the history (read-only)");
    show(
        &host
            .call_tool(call("k8s_rollout_history", workload.clone()))
            .await?,
    );

    step("2. Is the live revision healthy? (read-only)");
    show(
        &host
            .call_tool(call("k8s_rollout_status", workload.clone()))
            .await?,
    );

    step("3. What would restoring revision 3 change? (read-only)");
    show(
        &host
            .call_tool(call("k8s_rollout_history", with(json!({"revision": 3}))))
            .await?,
    );

    step("4. Roll back to revision 3 (asks a human first)");
    let undo = host
        .call_tool(call(
            "k8s_rollout_undo",
            with(json!({"to_revision": 3, "reason": "1.3.0 never became available (progress deadline exceeded)"})),
        ))
        .await?;
    show(&undo);

    let rolled_back = undo.is_error != Some(true);
    if approver == Approver::No && rolled_back {
        return Err("--no was answered, yet the rollback happened".into());
    }
    if approver == Approver::Yes && !rolled_back {
        return Err("--yes was answered, yet the rollback was refused".into());
    }
    if rolled_back {
        step("5. The history now");
        let history = host
            .call_tool(call("k8s_rollout_history", workload.clone()))
            .await?;
        show(&history);
        expect_live_revision(&history, 5)?;
        step("6. Verify the rollout (waits, with progress)");
        let mut status = call(
            "k8s_rollout_status",
            with(json!({"wait": true, "timeout_seconds": 60})),
        );
        status.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            NumberOrString::Number(1),
        )));
        let status = host.call_tool(status).await?;
        show(&status);
        if structured_field(&status, "done") != Some(&json!(true)) {
            return Err("the restored revision did not roll out".into());
        }
    } else {
        step("5. Nothing was written: the history is unchanged");
        let history = host
            .call_tool(call("k8s_rollout_history", workload.clone()))
            .await?;
        show(&history);
        expect_live_revision(&history, 4)?;
    }

    step("The audit trail it left");
    println!("{}:", audit_log.display());
    for line in std::fs::read_to_string(&audit_log)?.lines() {
        println!("{line}");
    }
    host.cancel().await?;
    let _ = std::fs::remove_dir_all(&dir);
    demo.stop();
    Ok(())
}

/// A field of a result's structured content.
fn structured_field<'a>(result: &'a CallToolResult, field: &str) -> Option<&'a Value> {
    result.structured_content.as_ref()?.get(field)
}

/// Fails the walkthrough unless the history's live revision is `expected`.
fn expect_live_revision(
    history: &CallToolResult,
    expected: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    match structured_field(history, "live_revision").and_then(Value::as_i64) {
        Some(live) if live == expected => Ok(()),
        other => Err(format!("expected live revision {expected}, found {other:?}").into()),
    }
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        unreachable!("tool arguments are objects")
    };
    CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)
}

fn step(title: &str) {
    println!("\n=== {title} ===");
}

fn show(result: &CallToolResult) {
    if result.is_error == Some(true) {
        print!("refused: ");
    }
    for block in &result.content {
        if let Some(text) = block.as_text() {
            println!("{}", text.text.trim_end());
        }
    }
}
