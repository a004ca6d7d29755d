//! Warm `k8s_rollout_history` latency over stdio, the server's peak RSS, and text bytes per
//! revision, at 10 and 1,000 revisions. Prints figures; asserts nothing.
//!
//! ```text
//! cargo bench --bench history
//! ```
//!
//! The server is the release binary, spawned and spoken to over stdio with rmcp's client, as a
//! host would; the cluster is kube-sim in this process (its LIST of the ReplicaSets is part of
//! each call's time). `HISTORY_BENCH_SERVER=PATH` measures another build of the server instead
//! (a release archive's static binary against the glibc one, in BENCHMARKS.md).

use std::time::{Duration, Instant};

use kube_sim::{Scenario, Sim};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tokio::process::Command;

const WARM_UP: usize = 20;

#[tokio::main]
async fn main() {
    println!("k8s_rollout_history over stdio (release build), warm calls");
    println!(
        "{:>10} {:>7} {:>8} {:>10} {:>10} {:>10} {:>14} {:>14} {:>16}",
        "revisions",
        "limit",
        "calls",
        "p50",
        "p99",
        "max",
        "RSS at start",
        "peak RSS",
        "text bytes/rev"
    );
    for (revisions, calls, limit) in [
        (10, 500, None),
        (1_000, 100, None),
        (1_000, 100, Some(1_000)),
    ] {
        measure(revisions, calls, limit).await;
    }
}

/// Times `calls` history calls with `limit` (None: the default, 20 newest listed).
async fn measure(revisions: usize, calls: usize, limit: Option<usize>) {
    let scenario = Scenario::builder()
        .namespace("bench")
        .deployment("bench", "web", |d| {
            d.replicas(2).bulk_history(revisions, |i, t| {
                t.image("app", &format!("registry.example.com/team/web:1.{i}.0"))
                    .change_cause(&format!("release 1.{i}.0"))
            })
        })
        .build();
    let sim = Sim::start(scenario).await;
    let dir = std::env::temp_dir().join(format!(
        "k8s-rollout-bench-{}-{revisions}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");

    let server = std::env::var_os("HISTORY_BENCH_SERVER")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_k8s-rollout-mcp").into());
    let mut command = Command::new(server);
    command
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--audit-log")
        .arg(dir.join("audit.jsonl"))
        .env("RUST_LOG", "warn");
    let transport = TokioChildProcess::new(command).expect("the server starts");
    let pid = transport.id().expect("a pid");
    let client: RunningService<RoleClient, ()> = ().serve(transport).await.expect("initialize");
    let resting = peak_rss_kib(pid);

    let history = |limit: Option<usize>| {
        let mut arguments =
            json!({"resource_type": "deployment", "name": "web", "namespace": "bench"});
        if let Some(limit) = limit {
            arguments["limit"] = json!(limit);
        }
        let serde_json::Value::Object(arguments) = arguments else {
            unreachable!()
        };
        CallToolRequestParams::new("k8s_rollout_history").with_arguments(arguments)
    };
    let call = |request: CallToolRequestParams| async {
        let result: CallToolResult = client.call_tool(request).await.expect("a history");
        assert_ne!(result.is_error, Some(true), "the call failed");
        result
    };

    for _ in 0..WARM_UP {
        call(history(limit)).await;
    }
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call(history(limit)).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let everything = call(history(Some(revisions))).await;
    let text: usize = everything
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|text| text.text.len())
        .sum();
    let header = everything.content[0].as_text().map_or(0, |text| {
        text.text.lines().take(2).map(|line| line.len() + 1).sum()
    });

    println!(
        "{revisions:>10} {:>7} {calls:>8} {:>10} {:>10} {:>10} {:>14} {:>14} {:>16}",
        limit.map_or("20".to_string(), |limit| limit.to_string()),
        format_duration(percentile(&latencies, 50)),
        format_duration(percentile(&latencies, 99)),
        format_duration(*latencies.last().expect("calls were made")),
        format!("{:.1} MiB", resting as f64 / 1024.0),
        format!("{:.1} MiB", peak_rss_kib(pid) as f64 / 1024.0),
        format!("{:.0}", (text - header) as f64 / revisions as f64),
    );
    client.cancel().await.expect("the session closes");
    let _ = std::fs::remove_dir_all(&dir);
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn format_duration(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// The process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
