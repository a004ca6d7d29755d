//! The `k8s-rollout-mcp` binary: flags and kubeconfig -> settings -> MCP over stdio.
//! stdout carries only JSON-RPC; logs go to stderr.
//!
//! The session ends when the host closes stdin, or when the process is asked to stop even with
//! stdin still open (SIGTERM, as the MCP stdio shutdown sequence sends, or SIGINT from a
//! terminal; Ctrl-C or Ctrl-Break on Windows: `platform::shutdown_requested`). Either way an
//! undo already running gets up to 30 seconds to finish and record its outcome.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use k8s_rollout_mcp::approval::state::ApprovalStates;
use k8s_rollout_mcp::audit::AuditLog;
use k8s_rollout_mcp::cluster::Cluster;
use k8s_rollout_mcp::config::{AuditCommand, Cli, Command, Settings};
use k8s_rollout_mcp::mcp::RolloutServer;
use k8s_rollout_mcp::platform;
use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;
use tracing_subscriber::EnvFilter;

/// The exit code for a configuration the server cannot start with (as clap uses for usage).
const CONFIG_ERROR: u8 = 2;

/// How long a disconnected server waits for running undos to record their outcome.
const UNDO_DRAIN: Duration = Duration::from_secs(30);
/// How long the runtime waits for its blocking threads once the session is over.
const BLOCKING_GRACE: Duration = Duration::from_millis(200);
/// How long the last answers get to reach stdout after the session ends.
const STDOUT_DRAIN: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Audit(AuditCommand::Verify { path })) = &cli.command {
        return audit_verify(path.clone().or(cli.audit_log.clone()));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("k8s-rollout-mcp: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(cli));
    // The stdio transport reads stdin on a blocking thread, and a read waiting for input keeps
    // that thread alive as long as the host keeps stdin open: waiting for it without a limit
    // would keep a terminated server running. Running undos were waited for already.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    code
}

/// `audit verify [PATH]`: checks the hash chain; prints to stdout (it never serves MCP).
fn audit_verify(path: Option<std::path::PathBuf>) -> ExitCode {
    let Some(path) = path.or_else(AuditLog::default_path) else {
        eprintln!(
            "k8s-rollout-mcp: no audit log path: pass PATH or --audit-log ({})",
            platform::STATE_DIR_UNSET
        );
        return ExitCode::from(CONFIG_ERROR);
    };
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!(
                "k8s-rollout-mcp: cannot read the audit log {}: {error}",
                path.display()
            );
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    match k8s_rollout_mcp::audit::verify(&text) {
        Ok(verified) => {
            let field = |name: &str| {
                verified
                    .last
                    .as_ref()
                    .and_then(|last| last.get(name))
                    .and_then(|value| value.as_str())
                    .unwrap_or("-")
                    .to_string()
            };
            println!(
                "{}: intact, {} records ({} before the chain began)",
                path.display(),
                verified.records,
                verified.unchained
            );
            for torn in &verified.torn {
                let covered = match torn.covered_by {
                    Some(record) => format!("line {record}'s `prev` covers it"),
                    None => "no record covers it yet".to_string(),
                };
                println!(
                    "line {} is torn (a record cut short, as by a crash or a full disk); {covered}",
                    torn.line
                );
            }
            if verified.last.is_some() {
                println!(
                    "last call: {} {} {} {}/{} at {}",
                    field("call_id"),
                    field("event"),
                    field("kind"),
                    field("namespace"),
                    field("name"),
                    field("time")
                );
            }
            ExitCode::SUCCESS
        }
        Err(broken) => {
            println!("{}: chain broken at {broken}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// `items` joined with commas for a log field, or `none` when there are none.
fn listed<S: std::borrow::Borrow<str>>(items: &[S], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(",")
    }
}

async fn serve(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("warn,k8s_rollout_mcp=info,rmcp=warn")),
        )
        .init();

    let settings = match Settings::load(cli).await {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("k8s-rollout-mcp: {error}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let start = settings.contexts.start.clone();
    let cluster = match Cluster::new(settings.kube.clone(), &start, settings.request_timeout) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("k8s-rollout-mcp: {error}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let approvals = match ApprovalStates::new(settings.approval_timeout) {
        Ok(approvals) => approvals,
        Err(error) => {
            eprintln!("k8s-rollout-mcp: {error}");
            return ExitCode::FAILURE;
        }
    };
    let audit = AuditLog::new(settings.audit_log.clone());
    tracing::info!(
        context = %start,
        server = %cluster.server,
        namespace = %settings.namespace.as_deref().unwrap_or(&cluster.default_namespace),
        config = %settings.source,
        audit_log = %settings.audit_log.display(),
        "serving MCP over stdio"
    );
    tracing::info!(
        read_only = settings.read_only,
        approval = %settings.approval,
        allowed_namespaces = %listed(&settings.namespaces.allow, "all"),
        denied_namespaces = %listed(&settings.namespaces.deny, "none"),
        allowed_contexts = %listed(&settings.contexts.allowed(), "none"),
        "effective policy"
    );

    let server = RolloutServer::new(settings, cluster, approvals, audit);
    let undos = server.undos_in_flight();
    let (stdio, pump) = k8s_rollout_mcp::transport::stdio();
    // A 2026-07-28 session has no handshake: rmcp answers its requests while `serve` still
    // waits, and a host that closes stdin then ends it with `ConnectionClosed`.
    let session = async {
        match server.serve(stdio).await {
            Ok(running) => running.waiting().await.map(drop).map_err(|e| e.to_string()),
            Err(ServerInitializeError::ConnectionClosed(_)) => Ok(()),
            Err(error) => Err(format!("the MCP session could not start: {error}")),
        }
    };
    // The session ends when the host closes stdin or, per the MCP stdio shutdown sequence,
    // asks the process to stop; either way running undos get to finish and record their outcome.
    let ended = tokio::select! {
        ended = session => ended,
        () = platform::shutdown_requested() => Ok(()),
    };
    if !undos.drained(UNDO_DRAIN).await {
        tracing::error!(
            "exiting with an undo still running: its outcome may be missing from the audit log"
        );
    }
    pump.finish(STDOUT_DRAIN).await;
    if let Err(error) = ended {
        tracing::error!(%error, "the MCP session ended with an error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
