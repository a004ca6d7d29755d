//! `kube-real`: builds (if needed) and runs a real Kubernetes control plane on 127.0.0.1 until
//! SIGINT or SIGTERM, with an admin kubeconfig (context `kube-real`) at `--kubeconfig`; with
//! `build`, only builds it; with `attach`, gives the existing cluster of `--kubeconfig` kwok and
//! fake Nodes. Test and development use only.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kube_real::{Attached, Cluster, Options, build};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A real Kubernetes control plane on loopback (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok), built from Kubernetes' own Go modules"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to write the admin kubeconfig once the cluster is ready (with `attach`: the cluster
    /// to attach to).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// Fake Nodes to create.
    #[arg(long, default_value_t = 3, global = true)]
    nodes: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the binaries into the cargo target dir (KUBE_REAL_VERSION picks the release), then exit.
    Build,
    /// Print the audit policy kube-real's API server runs with (its audit log is the tests'
    /// request log), for giving another cluster the same.
    AuditPolicy,
    /// Give an existing cluster (the current context of --kubeconfig, e.g. a kind cluster) kwok
    /// and --nodes fake Nodes with kube-real's pod stages, until SIGINT or SIGTERM; the Nodes
    /// are deleted on exit.
    Attach,
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
    if let Some(Command::AuditPolicy) = args.command {
        print!("{}", kube_real::audit::POLICY);
        return Ok(());
    }
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
        return Err("--kubeconfig PATH is required (where to write the admin kubeconfig, or the cluster to attach to)".into());
    };
    if let Some(Command::Attach) = args.command {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let attached = Attached::start(text, args.nodes).map_err(|e| e.to_string())?;
        eprintln!(
            "kube-real: kwok and fake Nodes {} attached to the cluster of {}",
            attached.nodes().join(", "),
            path.display()
        );
        wait_for_signal()?;
        eprintln!("kube-real: deleting the fake Nodes and stopping kwok");
        attached.stop();
        return Ok(());
    }
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
    wait_for_signal()?;
    eprintln!("kube-real: stopping");
    cluster.stop();
    Ok(())
}

fn wait_for_signal() -> Result<(), String> {
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
        Ok(())
    })
}
