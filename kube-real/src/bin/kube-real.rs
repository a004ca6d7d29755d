//! `kube-real`: builds (if needed) and runs a real Kubernetes control plane on 127.0.0.1 until
//! SIGINT or SIGTERM, with an admin kubeconfig (context `kube-real`) at `--kubeconfig`; or, with
//! `build`, only builds it. Test and development use only.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kube_real::{Cluster, Options, build};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A real Kubernetes control plane on loopback (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok), built from Kubernetes' own Go modules"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to write the admin kubeconfig once the cluster is ready.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Fake Nodes to create.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the binaries into the cargo target dir (KUBE_REAL_VERSION picks the release), then exit.
    Build,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube_client=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kube-real: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    if let Some(Command::Build) = args.command {
        let (binaries, outcome) = build::ensure_built().map_err(|e| e.to_string())?;
        eprintln!(
            "kube-real: {} in {} ({outcome:?})",
            binaries.version(),
            binaries.dir().display()
        );
        return Ok(());
    }
    let Some(path) = args.kubeconfig else {
        return Err("--kubeconfig PATH is required (where to write the admin kubeconfig)".into());
    };
    let cluster = Cluster::start(Options { nodes: args.nodes }).map_err(|e| e.to_string())?;
    let endpoint = cluster.endpoint();
    kube_real::kubeconfig::write(&path, &cluster.admin_kubeconfig(None))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "kube-real: Kubernetes {} at {} with {} Nodes, ready in {:.1} s (build {:?}); kubeconfig {} (context {}); logs in {}",
        endpoint.version,
        endpoint.url,
        args.nodes,
        endpoint.ready_time.as_secs_f64(),
        endpoint.build,
        path.display(),
        kube_real::kubeconfig::CONTEXT,
        endpoint.dir.display(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), String>(())
    })?;
    eprintln!("kube-real: stopping");
    cluster.stop();
    Ok(())
}
