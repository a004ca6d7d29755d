//! Benchmark: seed 50,000 ReplicaSets in one namespace (50 Deployments with 1,000 revisions each)
//! and time a label-selector list that returns 1,000 of them over HTTP, as a client would.
//!
//! ```text
//! cargo run --release -p kube-sim --example scale
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kube_sim::{Scenario, Sim};

const DEPLOYMENTS: usize = 50;
const REVISIONS: usize = 1_000;
const RUNS: usize = 20;

/// One `GET` over a fresh connection; returns the body.
fn get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let mut builder = Scenario::builder().namespace("bench");
    for d in 0..DEPLOYMENTS {
        builder = builder.deployment("bench", &format!("svc-{d:02}"), |w| {
            w.replicas(2).bulk_history(REVISIONS, |r, t| {
                t.image("app", &format!("registry.example.com/svc-{d:02}:1.{r}.0"))
                    .change_cause(&format!("release 1.{r}.0"))
                    .days_ago(1)
            })
        });
    }
    let scenario = builder.build();
    let started = Instant::now();
    let sim = Sim::start(scenario).await;
    let seed = started.elapsed();
    let total = sim.list("replicasets", "bench").len();
    println!(
        "seeded {total} ReplicaSets ({DEPLOYMENTS} deployments x {REVISIONS} revisions) in {seed:.2?}"
    );

    let path = "/apis/apps/v1/namespaces/bench/replicasets?labelSelector=app%3Dsvc-07";
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut returned = 0;
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let body = get(&sim.url(), path);
        times.push(t.elapsed());
        let list: serde_json::Value = serde_json::from_str(&body).expect("a JSON list");
        returned = list["items"].as_array().map_or(0, Vec::len);
        bytes = body.len();
    }
    times.sort();
    println!(
        "list {path}: {returned} items, {} KiB; over {RUNS} runs min {:.2?}, median {:.2?}, max {:.2?} (request, serialisation and transfer)",
        bytes / 1024,
        times[0],
        times[RUNS / 2],
        times[RUNS - 1]
    );
}
