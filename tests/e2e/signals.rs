//! Signals: SIGTERM or SIGINT stop an idle server promptly although the host keeps stdin open,
//! and an approved undo still writes and records its outcome before the process exits. The
//! server is driven with raw JSON-RPC lines here, so the test owns the process and its stdin.
//!
//! kube-sim only: the undo in flight is held by an injected delay.
//!
//! A crash (SIGKILL) after the write, while its new revision is being read back, still leaves
//! the `written` record.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kube_sim::{Fault, Scenario, Sim, Verb};
use serde_json::{Value, json};

use super::host::tempdir;

/// A server process whose stdin stays open, with its stdout read line by line.
struct Server {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    audit_log: std::path::PathBuf,
    _dir: tempdir::Dir,
}

impl Server {
    async fn start(sim: &Sim) -> Self {
        let dir = tempdir::Dir::new("signals");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        let audit_log = dir.path().join("audit.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_k8s-rollout-mcp"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--audit-log")
            .arg(&audit_log)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let message = serde_json::from_str(&line).expect("JSON-RPC on stdout");
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            stdin,
            lines,
            audit_log,
            _dir: dir,
        };
        server.send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {"form": {}}},
            "clientInfo": {"name": "signals", "version": "1"}}}),
        );
        server.expect(|message| message["id"] == 1);
        server.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        server
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message matching `wanted`, within 20 s.
    fn expect(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.lines.recv_timeout(left).expect("the expected message");
            if wanted(&message) {
                return message;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit (at most `limit`); how long it took.
    async fn exited_within(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < limit,
                "the server still runs {limit:?} after the signal"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    fn audit_events(&self) -> Vec<String> {
        std::fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].to_string())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_and_sigint_stop_an_idle_server_with_stdin_open_within_a_second() {
    let sim = Sim::start(Scenario::demo()).await;
    for signal in ["TERM", "INT"] {
        let mut server = Server::start(&sim).await;
        server.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
        server.expect(|message| message["id"] == 2);
        server.signal(signal);
        let took = server.exited_within(Duration::from_secs(5)).await;
        assert!(
            took < Duration::from_secs(1),
            "SIG{signal}: exited after {took:?}"
        );
        assert!(
            server.child.try_wait().unwrap().unwrap().success(),
            "SIG{signal}: a clean exit"
        );
    }
}

#[tokio::test]
async fn sigterm_during_an_approved_undo_exits_after_the_outcome_is_recorded() {
    let sim = Sim::start(Scenario::demo()).await;
    let mut server = Server::start(&sim).await;
    server.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "k8s_rollout_undo",
        "arguments": {"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 3}}}));
    let asked = server.expect(|message| message["method"] == "elicitation/create");
    // The API server takes 2 s to answer the write (the dry run before asking is done):
    // SIGTERM arrives while it is in flight.
    sim.inject_fault(
        Fault::on(Verb::Patch, "deployments")
            .named("api-server")
            .delay(Duration::from_secs(2))
            .once(),
    );
    server.send(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
        "action": "accept", "content": {"approve": true, "approver": "alice"}}}));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.audit_events().contains(&"\"approved\"".to_string()) {
        assert!(Instant::now() < deadline, "the undo was approved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("TERM");
    let took = server.exited_within(Duration::from_secs(30)).await;
    assert!(
        took >= Duration::from_millis(500),
        "it waited for the write ({took:?})"
    );
    assert!(server.child.try_wait().unwrap().unwrap().success());
    assert_eq!(
        server.audit_events().last().map(String::as_str),
        Some("\"read_back\""),
        "the outcome and the new revision were recorded before exiting"
    );
    assert_eq!(
        sim.get("deployments", "shop", "api-server").unwrap()["spec"]["template"]["spec"]["containers"]
            [0]["image"],
        "ghcr.io/example/api-server:1.2.0"
    );
}

#[tokio::test]
async fn a_crash_during_the_read_back_leaves_the_written_record() {
    let sim = Sim::start(Scenario::demo()).await;
    let mut server = Server::start(&sim).await;
    server.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "k8s_rollout_undo",
        "arguments": {"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 3}}}));
    let asked = server.expect(|message| message["method"] == "elicitation/create");
    // A slow API server after the write: every read the read-back makes hangs.
    for (verb, resource) in [
        (Verb::Get, "deployments"),
        (Verb::Watch, "deployments"),
        (Verb::List, "deployments"),
        (Verb::List, "replicasets"),
    ] {
        sim.inject_fault(Fault::on(verb, resource).delay(Duration::from_secs(30)));
    }
    server.send(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
        "action": "accept", "content": {"approve": true, "approver": "alice"}}}));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sim
        .mutating_requests()
        .iter()
        .any(|request| !request.dry_run && request.status == 200)
    {
        assert!(Instant::now() < deadline, "the write was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The process dies mid read-back, as on a crash or a host's SIGKILL.
    server.signal("KILL");
    assert_eq!(
        server.audit_events().last().map(String::as_str),
        Some("\"written\""),
        "the write is on the record although its read-back never finished"
    );
}
