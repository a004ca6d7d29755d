//! The approval page's latency, as a person meets it: from the `tools/call` of an undo to the
//! page's URL handed to the browser command (the plan, the server dry run and the evidence
//! included), and from a request for the page to its first byte. Prints figures; asserts
//! nothing.
//!
//! ```text
//! cargo bench --bench approval_page
//! ```
//!
//! The server is the release binary, spawned and spoken to over stdio with rmcp's client
//! declaring no elicitation (as Claude Desktop's Code tab), so `--approval auto` opens the page
//! through `$BROWSER`: a script that writes the URL to a file, which the bench polls every
//! 100 µs. The cluster is kube-sim in this process. Each round is a fresh server (the first
//! page of a process also starts its listener) and ends with a decline on the page.

use std::path::Path;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube_sim::{Scenario, Sim};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tokio::process::Command;

const ROUNDS: usize = 30;
const PAGE_REQUESTS: usize = 200;

#[tokio::main]
async fn main() {
    let sim = Sim::start(Scenario::demo()).await;
    let dir = std::env::temp_dir().join(format!("k8s-rollout-page-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let urls = dir.join("urls");
    let opener = dir.join("browser.sh");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", urls.display()),
    )
    .expect("the opener");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();

    let http: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut to_url = Vec::new();
    let mut first_byte = Vec::new();
    for round in 0..ROUNDS {
        let _ = std::fs::remove_file(&urls);
        let mut command = Command::new(env!("CARGO_BIN_EXE_k8s-rollout-mcp"));
        command
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--audit-log")
            .arg(dir.join("audit.jsonl"))
            .env("BROWSER", &opener)
            .env("RUST_LOG", "warn");
        let client: RunningService<RoleClient, ()> =
            ().serve(TokioChildProcess::new(command).expect("the server starts"))
                .await
                .expect("initialize");
        let arguments = json!({"resource_type": "deployment", "name": "api-server",
                               "namespace": "shop", "to_revision": 3});
        let request = CallToolRequestParams::new("k8s_rollout_undo")
            .with_arguments(arguments.as_object().cloned().unwrap());
        let started = Instant::now();
        let call = client.call_tool(request);
        let (_, url) = tokio::join!(call, async {
            let url = wait_for(&urls).await;
            to_url.push(started.elapsed());
            // The page, then its first byte, many times; then a decline ends the call.
            for _ in 0..if round == 0 { PAGE_REQUESTS } else { 1 } {
                let asked = Instant::now();
                let response = http.request(get(&url)).await.expect("the page answers");
                first_byte.push(asked.elapsed());
                let _ = response.into_body().collect().await;
            }
            decline(&http, &url).await;
            url
        });
        assert!(url.starts_with("http://127.0.0.1:"));
        let _ = client.cancel().await;
    }
    report(
        "tools/call -> URL handed to the browser command",
        &mut to_url,
    );
    report("page request -> first byte", &mut first_byte);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_for(path: &Path) -> String {
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(url) = text.lines().next().filter(|line| !line.is_empty())
        {
            return url.to_string();
        }
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

fn get(url: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .expect("a request")
}

/// Declines on the page as its form does.
async fn decline(http: &Client<HttpConnector, Full<Bytes>>, url: &str) {
    let page = http.request(get(url)).await.expect("the page");
    let body = page.into_body().collect().await.expect("a body").to_bytes();
    let body = String::from_utf8_lossy(&body);
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).expect("a form") + marker.len();
    let csrf = body[start..].split('"').next().unwrap_or_default();
    let origin = url.split("/approval/").next().unwrap_or_default();
    let request = http::Request::post(url)
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!(
            "csrf={csrf}&approver=bench&decision=decline"
        ))))
        .expect("a request");
    http.request(request).await.expect("the decision is posted");
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: n={} p50={:.2?} p90={:.2?} max={:.2?}",
        samples.len(),
        at(0.5),
        at(0.9),
        samples[samples.len() - 1]
    );
}
