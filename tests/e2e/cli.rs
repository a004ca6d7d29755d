//! The binary's command line: kubeconfig problems end the process before serving (one line on
//! stderr naming the file or context, exit 2), and stdout carries nothing but JSON-RPC.
//!
//! No cluster needed beyond a sim to point at: these are about start-up and the command line, so
//! none has a kube-real body.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use kube_sim::{Scenario, Sim};

use super::host::tempdir;

const BINARY: &str = env!("CARGO_BIN_EXE_k8s-rollout-mcp");

/// Runs the binary to completion with no stdin; returns (exit code, stdout, stderr).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .args(args)
        .env_remove("KUBECONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_config_error(args: &[&str], env: &[(&str, &str)], expected: &str) {
    let (code, stdout, stderr) = run(args, env);
    assert_eq!(code, 2, "exit code for {args:?}: {stderr}");
    assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(expected),
        "{stderr:?} should contain {expected:?}"
    );
}

#[test]
fn kubeconfig_problems_stop_the_server_with_one_line_and_exit_2() {
    let dir = tempdir::Dir::new("cli");
    let missing = dir.path().join("missing.yaml");
    let missing = missing.to_str().unwrap();
    assert_config_error(
        &["--kubeconfig", missing],
        &[],
        &format!("cannot read kubeconfig {missing}"),
    );

    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&invalid, "apiVersion: v1\nclusters: [[[\n").unwrap();
    let invalid = invalid.to_str().unwrap();
    assert_config_error(
        &["--kubeconfig", invalid],
        &[],
        &format!("invalid kubeconfig {invalid}"),
    );

    let no_context = dir.path().join("no-context.yaml");
    std::fs::write(
        &no_context,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    let no_context = no_context.to_str().unwrap();
    assert_config_error(
        &["--kubeconfig", no_context],
        &[],
        "has no current-context; pass --context",
    );

    assert_config_error(&[], &[("KUBECONFIG", missing)], missing);
    assert_config_error(
        &[],
        &[("HOME", dir.path().to_str().unwrap())],
        "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG",
    );
}

#[tokio::test]
async fn an_unknown_context_is_named_with_the_ones_that_exist() {
    let sim = Sim::start(Scenario::empty()).await;
    let dir = tempdir::Dir::new("cli");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let args = ["--kubeconfig", kubeconfig, "--context", "prod"];
    assert_config_error(
        &args,
        &[],
        &format!("context \"prod\" not found in kubeconfig {kubeconfig} (available: kube-sim)"),
    );
    // Missing files in a KUBECONFIG list are skipped, as kubectl skips them.
    let missing = dir.path().join("missing.yaml");
    let list = format!("{}:{kubeconfig}", missing.display());
    assert_config_error(
        &["--context", "prod"],
        &[("KUBECONFIG", list.as_str())],
        &format!("not found in kubeconfig {kubeconfig} "),
    );
    assert_config_error(
        &["--kubeconfig", kubeconfig, "--namespace", "Shop"],
        &[],
        "invalid --namespace \"Shop\"",
    );
    let (code, _, stderr) = run(
        &["--kubeconfig", kubeconfig, "--approval-timeout", "soon"],
        &[],
    );
    assert_eq!(code, 2, "a malformed flag is a usage error: {stderr}");
    assert!(
        stderr.contains("\"soon\" is not a duration like 30s, 5m or 1h"),
        "{stderr}"
    );
}

/// Runs the binary as in a pod without a kubeconfig: `KUBERNETES_SERVICE_HOST` set, no
/// `KUBECONFIG` and no `~/.kube/config`.
fn run_in_a_pod(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let home = tempdir::Dir::new("pod");
    let pod = [
        ("HOME", home.path().to_str().unwrap()),
        ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
        ("KUBERNETES_SERVICE_PORT", "6443"),
    ];
    let env: Vec<(&str, &str)> = pod.into_iter().chain(env.iter().copied()).collect();
    run(args, &env)
}

#[test]
fn in_a_pod_without_a_kubeconfig_a_context_the_server_cannot_reach_stops_it() {
    for (args, env, named) in [
        (vec!["--context", "prod"], vec![], "--context \"prod\""),
        (
            vec![],
            vec![("K8S_ROLLOUT_MCP_CONTEXT", "prod")],
            "--context \"prod\"",
        ),
        (
            vec!["--allow-context", "in-cluster,prod"],
            vec![],
            "--allow-context pattern \"prod\"",
        ),
    ] {
        let (code, stdout, stderr) = run_in_a_pod(&args, &env);
        assert_eq!(
            (code, stdout.as_str()),
            (2, ""),
            "{args:?} {env:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(named)
                && stderr.contains("the in-cluster ServiceAccount config")
                && stderr.contains("--kubeconfig PATH"),
            "{stderr}"
        );
    }
    // The in-cluster context itself, or a pattern matching it, is what a pod has: the server
    // goes on to read the ServiceAccount (absent here unless these tests run in a pod).
    for args in [
        vec!["--context", "in-cluster"],
        vec!["--allow-context", "*"],
    ] {
        let (_, _, stderr) = run_in_a_pod(&args, &[]);
        assert!(
            !stderr.contains("names a kubeconfig context"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn help_and_version_answer_without_a_kubeconfig() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--approval",
        "--approval-timeout",
        "--audit-log",
        "--show-env-values",
    ] {
        assert!(stdout.contains(flag), "--help documents {flag}");
    }
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(
        (code, stdout.trim()),
        (0, concat!("k8s-rollout-mcp ", env!("CARGO_PKG_VERSION")))
    );
}

#[tokio::test]
async fn stdout_carries_only_json_rpc_even_with_debug_logging() {
    let sim = Sim::start(Scenario::demo()).await;
    let dir = tempdir::Dir::new("cli");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut child = Command::new(BINARY)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--audit-log")
        .arg(dir.path().join("audit.jsonl"))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut stdin = child.stdin.take().unwrap();
    // Debug logging outgrows a pipe's buffer: read stderr as it comes, or the server blocks
    // writing it.
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
        text
    });
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"k8s_rollout_history","arguments":{"resource_type":"deploy","name":"api-server","namespace":"shop"}}}"#,
    ];
    for request in requests {
        writeln!(stdin, "{request}").unwrap();
    }
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(3)
            .collect::<Vec<String>>()
    })
    .await
    .unwrap();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr_reader.join().unwrap_or_default();
    assert_eq!(lines.len(), 3, "three responses");
    for line in &lines {
        let message: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON-RPC on stdout: {line}"));
        assert_eq!(message["jsonrpc"], "2.0");
    }
    let listed: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    let tools: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        vec![
            "k8s_rollout_history",
            "k8s_rollout_status",
            "k8s_rollout_undo"
        ]
    );
    assert!(
        stderr.contains("serving MCP over stdio"),
        "logs go to stderr: {stderr}"
    );
}

#[tokio::test]
async fn the_tools_declare_their_hints_schemas_and_the_workflow() {
    let host = super::host::Host::start(Scenario::empty(), super::host::Lifecycle::Handshake).await;
    let info = host.client.peer_info().expect("initialized");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(
        instructions.contains("k8s_rollout_history") && instructions.contains("to_revision"),
        "{instructions}"
    );
    let tools = host.client.list_all_tools().await.unwrap();
    for tool in &tools {
        let annotations = tool.annotations.as_ref().expect("annotations");
        let schema = tool.output_schema.as_ref().expect("an output schema");
        assert_eq!(schema["type"], "object");
        assert_eq!(annotations.open_world_hint, Some(true));
        match tool.name.as_ref() {
            "k8s_rollout_undo" => {
                assert_eq!(
                    (
                        annotations.destructive_hint,
                        annotations.read_only_hint,
                        annotations.idempotent_hint
                    ),
                    (Some(true), Some(false), Some(false))
                );
                let required: Vec<&str> = tool.input_schema["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert!(required.contains(&"to_revision"), "{required:?}");
            }
            _ => assert_eq!(
                (annotations.read_only_hint, annotations.idempotent_hint),
                (Some(true), Some(true))
            ),
        }
    }
}
