//! `kube-sim`: serves a scenario on 127.0.0.1 until SIGINT or SIGTERM, writing a kubeconfig for it
//! once it listens, so `kubectl --kubeconfig PATH ...` (or any client) can talk to it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kube_sim::{ControllerMode, Pace, Scenario, Sim, SimOptions};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScenarioName {
    /// Namespace `shop` (api-server with a bad last deploy, node-agent, orders-db) and `staging`.
    Demo,
    /// No workloads.
    Empty,
}

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A simulated Kubernetes API server with rollout controllers"
)]
struct Args {
    /// The scenario to seed.
    #[arg(long, value_enum, default_value = "demo")]
    scenario: ScenarioName,
    /// Where to write a kubeconfig once the server listens.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Kubernetes minor version reported by /version (27..33 select the installed kubectl).
    #[arg(long, default_value_t = 33)]
    kube_minor: u32,
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Context namespace written into the kubeconfig.
    #[arg(long)]
    namespace: Option<String>,
    /// Controllers react this many milliseconds after a write (0 = before the write returns).
    #[arg(long, default_value_t = 0)]
    controller_delay_ms: u64,
    /// Make pods ready one per workload every this many seconds instead of at once.
    #[arg(long)]
    stepwise_every_secs: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut scenario = match args.scenario {
        ScenarioName::Demo => Scenario::demo(),
        ScenarioName::Empty => Scenario::empty(),
    };
    if args.stepwise_every_secs.is_some() {
        scenario = scenario.with_pace(Pace::Stepwise);
    }
    let mut options = SimOptions::new()
        .running_clock()
        .port(args.port)
        .kube_version(args.kube_minor)
        .nodes(args.nodes);
    if args.controller_delay_ms > 0 {
        options = options.controllers(ControllerMode::Delayed(Duration::from_millis(
            args.controller_delay_ms,
        )));
    }
    if let Some(ns) = &args.namespace {
        options = options.context_namespace(ns);
    }
    let sim = Sim::try_start(scenario, options).await?;
    if let Some(path) = &args.kubeconfig {
        sim.write_kubeconfig(path)?;
    }
    match &args.kubeconfig {
        Some(path) => eprintln!(
            "kube-sim listening on {} (kubeconfig: {})",
            sim.url(),
            path.display()
        ),
        None => eprintln!("kube-sim listening on {}", sim.url()),
    }
    let mut terminate = signal(SignalKind::terminate())?;
    let mut every = tokio::time::interval(Duration::from_secs(
        args.stepwise_every_secs.unwrap_or(3600).max(1),
    ));
    every.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = every.tick(), if args.stepwise_every_secs.is_some() => sim.tick(),
        }
    }
    eprintln!("kube-sim stopping");
    Ok(())
}
