//! The `k8s-rollout-mcp` binary: flags and kubeconfig -> settings -> MCP over stdio.
//! stdout carries only JSON-RPC; logs go to stderr.

use std::process::ExitCode;

use clap::Parser;
use k8s_rollout_mcp::approval::state::ApprovalStates;
use k8s_rollout_mcp::audit::AuditLog;
use k8s_rollout_mcp::cluster::Cluster;
use k8s_rollout_mcp::config::{Cli, Settings};
use k8s_rollout_mcp::mcp::RolloutServer;
use rmcp::ServiceExt;
use tracing_subscriber::EnvFilter;

/// The exit code for a configuration the server cannot start with (as clap uses for usage).
const CONFIG_ERROR: u8 = 2;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let cluster = match Cluster::new(&settings) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!(
                "k8s-rollout-mcp: cannot build a client for context {:?}: {error}",
                settings.context
            );
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
        context = %settings.context,
        server = %settings.cluster_server,
        namespace = %settings.default_namespace,
        audit_log = %settings.audit_log.display(),
        "serving MCP over stdio"
    );

    let server = RolloutServer::new(settings, cluster, approvals, audit);
    let running = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "the MCP session could not start");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = running.waiting().await {
        tracing::error!(%error, "the MCP session ended with an error");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
