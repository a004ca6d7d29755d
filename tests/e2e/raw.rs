//! The real binary over its raw stdin and stdout, with no MCP library in between: for protocol
//! abuse (bytes no client library would send), for load (hundreds of requests in flight on one
//! pipe), and for reading the server's peak memory from `/proc`. On either backend.
//!
//! Every byte the server writes to stdout is read and checked: each line must be one JSON-RPC
//! 2.0 message. Logs go to stderr, which is kept to look for panics.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_sim::{Scenario, Sim, SimOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::backend::{Backend, TestCluster};
use super::host::tempdir;

/// The server binary: the one `cargo test` built, or `K8S_ROLLOUT_MCP_SERVER` (e.g. the release
/// build, to measure what hosts run).
fn server_binary() -> std::path::PathBuf {
    std::env::var_os("K8S_ROLLOUT_MCP_SERVER")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_k8s-rollout-mcp").into())
}

/// How long to wait for one message before failing the test.
const PATIENCE: Duration = Duration::from_secs(60);

/// The newest protocol version with an `initialize` handshake.
pub const HANDSHAKE_VERSION: &str = "2025-11-25";
/// The protocol version without a handshake: lifecycle in each request's `_meta`.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// What the stdout reader saw.
#[derive(Debug, Default)]
struct Stdout {
    /// Lines that were not a JSON-RPC 2.0 message.
    violations: Vec<String>,
    bytes: usize,
    /// Whether the stream ended in the middle of a line.
    partial_line: bool,
}

/// A server process on pipes, and the cluster it talks to.
pub struct RawServer {
    pub cluster: TestCluster,
    child: Child,
    stdin: Option<ChildStdin>,
    messages: mpsc::UnboundedReceiver<Value>,
    /// Messages read while waiting for another.
    unclaimed: VecDeque<Value>,
    stdout: Arc<Mutex<Stdout>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    _dir: tempdir::Dir,
}

impl RawServer {
    /// Starts a sim with `scenario` and the server with `RUST_LOG=trace`.
    pub async fn start(scenario: Scenario) -> Self {
        Self::start_with(scenario, SimOptions::new(), "trace").await
    }

    pub async fn start_with(scenario: Scenario, sim: SimOptions, log: &str) -> Self {
        Self::start_seeded(TestCluster::seed(Backend::Sim, scenario, sim).await, log)
    }

    /// Seeds `scenario` on `backend` and starts the server with `RUST_LOG=log`.
    pub async fn start_on(backend: Backend, scenario: Scenario, log: &str) -> Self {
        Self::start_seeded(
            TestCluster::seed(backend, scenario, SimOptions::new()).await,
            log,
        )
    }

    fn start_seeded(cluster: TestCluster, log: &str) -> Self {
        let dir = tempdir::Dir::new("raw");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, cluster.kubeconfig(None)).expect("kubeconfig written");
        let mut child = Command::new(server_binary())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--audit-log")
            .arg(dir.path().join("audit.jsonl"))
            .env("RUST_LOG", log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take();
        let (sender, messages) = mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(Stdout::default()));
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let seen = stdout.clone();
        tokio::spawn(async move {
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        let mut seen = seen.lock().unwrap();
                        seen.bytes += read;
                        if line.last() != Some(&b'\n') {
                            seen.partial_line = true;
                        }
                        match jsonrpc_message(&line) {
                            Some(message) => {
                                let _ = sender.send(message);
                            }
                            None => seen
                                .violations
                                .push(String::from_utf8_lossy(&line).chars().take(300).collect()),
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().expect("stderr");
        let kept = stderr.clone();
        tokio::spawn(async move {
            let mut chunk = vec![0u8; 64 * 1024];
            while let Ok(read) = err.read(&mut chunk).await {
                if read == 0 {
                    break;
                }
                kept.lock().unwrap().extend_from_slice(&chunk[..read]);
            }
        });
        Self {
            cluster,
            child,
            stdin,
            messages,
            unclaimed: VecDeque::new(),
            stdout,
            stderr,
            _dir: dir,
        }
    }

    /// The sim, for tests that only it can run.
    pub fn sim(&self) -> &Sim {
        self.cluster.sim()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Writes raw bytes to the server's stdin.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).await.expect("stdin accepts");
        stdin.flush().await.expect("stdin flushes");
    }

    /// Writes one message as a line.
    pub async fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("JSON");
        line.push(b'\n');
        self.send_bytes(&line).await;
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.response(id).await
    }

    /// The next message, whatever it is.
    pub async fn next(&mut self) -> Value {
        if let Some(message) = self.unclaimed.pop_front() {
            return message;
        }
        self.receive().await.expect("the server answers")
    }

    async fn receive(&mut self) -> Option<Value> {
        tokio::time::timeout(PATIENCE, self.messages.recv())
            .await
            .expect("the server answers in time")
    }

    /// Waits for the message matching `wanted`, keeping the others for later.
    pub async fn wait_for(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.unclaimed.iter().position(&wanted) {
            return self.unclaimed.remove(index).expect("present");
        }
        loop {
            let message = self.receive().await.expect("the server answers");
            if wanted(&message) {
                return message;
            }
            self.unclaimed.push_back(message);
        }
    }

    /// The response to request `id`.
    pub async fn response(&mut self, id: i64) -> Value {
        self.wait_for(|message| is_response(message) && message["id"] == json!(id))
            .await
    }

    /// The `initialize` handshake of a 2025-11-25 client that can elicit.
    pub async fn handshake(&mut self) -> Value {
        let answer = self
            .request(
                0,
                "initialize",
                json!({
                    "protocolVersion": HANDSHAKE_VERSION,
                    "capabilities": {"elicitation": {}},
                    "clientInfo": {"name": "raw-e2e", "version": "1.0.0"}
                }),
            )
            .await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        answer
    }

    /// Closes stdin, as a host does to end the session.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits in time")
            .expect("the exit status")
            .code()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's peak resident set size (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Fails the test if stdout carried anything but whole JSON-RPC lines, or stderr a panic;
    /// returns how many bytes stdout carried.
    pub fn assert_clean_stdout(&self) -> usize {
        let stdout = self.stdout.lock().unwrap();
        assert!(
            stdout.violations.is_empty(),
            "stdout carried non-JSON-RPC lines: {:?}",
            stdout.violations
        );
        assert!(!stdout.partial_line, "stdout ended inside a line");
        let stderr = self.stderr.lock().unwrap();
        let stderr = String::from_utf8_lossy(&stderr);
        assert!(
            !stderr.contains("panicked"),
            "the server panicked: {}",
            stderr
                .lines()
                .filter(|line| line.contains("panicked"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        stdout.bytes
    }

    /// How many bytes the server wrote to stderr.
    pub fn stderr_bytes(&self) -> usize {
        self.stderr.lock().unwrap().len()
    }
}

/// `_meta` for a 2026-07-28 request: the lifecycle travels with each request.
pub fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-e2e", "version": "1.0.0"}
    })
}

/// `tools/call` params.
pub fn call(tool: &str, arguments: Value) -> Value {
    json!({"name": tool, "arguments": arguments})
}

/// `tools/call` params of a 2026-07-28 request.
pub fn stateless_call(tool: &str, arguments: Value) -> Value {
    json!({"name": tool, "arguments": arguments, "_meta": stateless_meta()})
}

/// A response (result or error) rather than a request or notification.
pub fn is_response(message: &Value) -> bool {
    message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some())
}

/// The text of a tool result.
pub fn result_text(response: &Value) -> String {
    response["result"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line parsed as a JSON-RPC 2.0 message (request, notification or response), or None.
fn jsonrpc_message(line: &[u8]) -> Option<Value> {
    let message: Value = serde_json::from_slice(line).ok()?;
    let object = message.as_object()?;
    if object.get("jsonrpc")? != "2.0" {
        return None;
    }
    let request = object.get("method").is_some_and(Value::is_string);
    let response =
        object.contains_key("id") && (object.contains_key("result") ^ object.contains_key("error"));
    (request || response).then_some(message)
}
