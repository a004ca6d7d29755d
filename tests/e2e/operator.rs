//! Operator controls through the binary on kube-sim: `--read-only`, the namespace fence, the
//! context allow-list and `--require-context`, a kubeconfig with two contexts reaching two
//! clusters, and every flag through its `K8S_ROLLOUT_MCP_*` variable. A refusal by policy makes
//! no API request (the request log is empty). These are sim-only: they are about the server's own
//! decisions, which happen before any request, and need exact request counts.

use std::path::Path;

use kube_sim::{Scenario, Sim};
use serde_json::json;

use super::cli::run;
use super::host::{Host, HostOptions, Lifecycle, refusal, structured, tempdir, text};

fn history(namespace: &str) -> serde_json::Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": namespace})
}

async fn host_with(args: &[&str]) -> Host {
    let mut options = HostOptions::new(Lifecycle::Handshake);
    for arg in args {
        options = options.arg(arg);
    }
    Host::start_with(Scenario::demo(), options).await
}

async fn tool_names(host: &Host) -> Vec<String> {
    let tools = host.client.list_all_tools().await.unwrap();
    tools.iter().map(|tool| tool.name.to_string()).collect()
}

#[tokio::test]
async fn read_only_lists_no_undo_and_refuses_one_called_anyway() {
    let host = host_with(&["--read-only"]).await;
    assert_eq!(
        tool_names(&host).await,
        ["k8s_rollout_history", "k8s_rollout_status"]
    );
    let undo = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 1});
    let message = refusal(&host.call("k8s_rollout_undo", undo).await);
    assert!(
        message.contains("this server runs with --read-only"),
        "{message}"
    );
    assert!(host.cluster.requests().await.is_empty());
    structured(&host.call("k8s_rollout_history", history("shop")).await);
    let status = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"});
    structured(&host.call("k8s_rollout_status", status).await);

    let writable = host_with(&[]).await;
    assert_eq!(
        tool_names(&writable).await,
        [
            "k8s_rollout_history",
            "k8s_rollout_status",
            "k8s_rollout_undo"
        ]
    );
}

#[tokio::test]
async fn a_refused_namespace_names_the_rule_and_makes_no_request() {
    let host = host_with(&[
        "--allow-namespace",
        "shop",
        "--allow-namespace",
        "kube-*",
        "--deny-namespace",
        "kube-system",
    ])
    .await;
    let message = refusal(
        &host
            .call("k8s_rollout_history", history("kube-system"))
            .await,
    );
    assert!(
        message.contains(
            "namespace \"kube-system\" is denied by the server's --deny-namespace \"kube-system\""
        ),
        "{message}"
    );
    let message = refusal(&host.call("k8s_rollout_history", history("billing")).await);
    assert!(
        message.contains("matches none of the server's --allow-namespace patterns (shop, kube-*)"),
        "{message}"
    );
    assert!(host.cluster.requests().await.is_empty());
    structured(&host.call("k8s_rollout_history", history("shop")).await);
    assert!(!host.cluster.requests().await.is_empty());
}

#[tokio::test]
async fn require_context_refuses_a_call_without_one() {
    let host = host_with(&["--require-context"]).await;
    let message = refusal(&host.call("k8s_rollout_history", history("shop")).await);
    assert!(
        message.contains(
            "this server runs with --require-context: name the kubeconfig context in the `context` argument (allowed: kube-sim)"
        ),
        "{message}"
    );
    assert!(host.cluster.requests().await.is_empty());
    let mut named = history("shop");
    named["context"] = json!("kube-sim");
    let report = structured(&host.call("k8s_rollout_history", named).await).clone();
    assert_eq!(report["context"], "kube-sim");
}

/// A kubeconfig with contexts `east` and `west` on two sims (`east` current).
fn two_contexts(dir: &Path, east: &Sim, west: &Sim) -> std::path::PathBuf {
    let path = dir.join("two-contexts.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: east\n  cluster:\n    server: \"{}\"\n- name: west\n  cluster:\n    server: \"{}\"\ncontexts:\n- name: east\n  context:\n    cluster: east\n    user: tester\n    namespace: shop\n- name: west\n  context:\n    cluster: west\n    user: tester\n    namespace: shop\ncurrent-context: east\nusers:\n- name: tester\n  user: {{}}\n",
        east.url(),
        west.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn host_on(kubeconfig: &Path, args: &[&str]) -> Host {
    let mut options = HostOptions::new(Lifecycle::Handshake);
    options.kubeconfig = Some(kubeconfig.to_path_buf());
    for arg in args {
        options = options.arg(arg);
    }
    Host::start_with(Scenario::empty(), options).await
}

#[tokio::test]
async fn a_disallowed_or_unknown_context_is_refused_with_no_request() {
    let (east, west) = (
        Sim::start(Scenario::demo()).await,
        Sim::start(Scenario::demo()).await,
    );
    let dir = tempdir::Dir::new("contexts");
    let kubeconfig = two_contexts(dir.path(), &east, &west);
    let host = host_on(&kubeconfig, &[]).await;
    east.clear_requests();
    let mut call = history("shop");
    call["context"] = json!("west");
    let message = refusal(&host.call("k8s_rollout_history", call.clone()).await);
    assert!(
        message.contains("context \"west\" is not allowed by this server (without --allow-context only the start context \"east\" is); allowed contexts: east."),
        "{message}"
    );
    call["context"] = json!("prod");
    let message = refusal(&host.call("k8s_rollout_history", call).await);
    assert!(
        message.contains("context \"prod\" is not in the kubeconfig; allowed contexts: east."),
        "{message}"
    );
    assert!(east.requests().is_empty() && west.requests().is_empty());
}

#[tokio::test]
async fn a_kubeconfig_with_two_contexts_reaches_two_clusters() {
    let (east, west) = (
        Sim::start(Scenario::demo()).await,
        Sim::start(Scenario::demo()).await,
    );
    let dir = tempdir::Dir::new("contexts");
    let kubeconfig = two_contexts(dir.path(), &east, &west);
    let host = host_on(&kubeconfig, &["--allow-context", "*"]).await;
    east.clear_requests();
    for (context, sim) in [("west", &west), ("east", &east), ("west", &west)] {
        let mut call = history("shop");
        call["context"] = json!(context);
        let result = host.call("k8s_rollout_history", call).await;
        let report = structured(&result);
        assert_eq!(report["context"], context);
        assert_eq!(report["server"], sim.url().trim_end_matches('/'));
        assert!(
            text(&result).ends_with(&format!(
                "(context \"{context}\", server {})",
                sim.url().trim_end_matches('/')
            )),
            "{}",
            text(&result)
        );
    }
    let (east_requests, west_requests) = (east.requests().len(), west.requests().len());
    // The demo's api-server crash-loops, so history also reads its pods and events; each
    // context's first call reads /version first (the release check, once per context).
    assert_eq!(
        (east_requests, west_requests),
        (5, 9),
        "/version once, then GET, LIST, pods and events per call"
    );
    // Without a context the start context (east) is used.
    let report = structured(&host.call("k8s_rollout_history", history("shop")).await).clone();
    assert_eq!(report["context"], "east");
}

#[test]
fn help_shows_each_flag_with_its_variable() {
    let (code, help, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    let flags = [
        "kubeconfig",
        "context",
        "allow-context",
        "require-context",
        "namespace",
        "allow-namespace",
        "deny-namespace",
        "read-only",
        "approval",
        "approval-timeout",
        "request-timeout",
        "show-env-values",
        "audit-log",
    ];
    for flag in flags {
        let variable = format!(
            "[env: K8S_ROLLOUT_MCP_{}",
            flag.to_uppercase().replace('-', "_")
        );
        assert!(
            help.contains(&format!("--{flag}")) && help.contains(&variable),
            "--help shows --{flag} and {variable}]:\n{help}"
        );
    }
}

#[tokio::test]
async fn flags_read_their_variables_and_a_flag_beats_its_variable() {
    let sim = Sim::start(Scenario::demo()).await;
    let dir = tempdir::Dir::new("env");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();
    // The variable is read: a bad value stops the server, naming it.
    let (code, _, stderr) = run(
        &["--kubeconfig", kubeconfig],
        &[("K8S_ROLLOUT_MCP_NAMESPACE", "Shop")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid --namespace \"Shop\""), "{stderr}");
    let (code, _, stderr) = run(&[], &[("K8S_ROLLOUT_MCP_KUBECONFIG", "/nonexistent/k")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read kubeconfig /nonexistent/k"),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        &["--kubeconfig", kubeconfig],
        &[("K8S_ROLLOUT_MCP_APPROVAL_TIMEOUT", "soon")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"soon\" is not a duration"), "{stderr}");
    let (code, _, stderr) = run(
        &["--kubeconfig", kubeconfig],
        &[("K8S_ROLLOUT_MCP_READ_ONLY", "maybe")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("K8S_ROLLOUT_MCP_READ_ONLY") || stderr.contains("maybe"),
        "{stderr}"
    );

    // The flag beats the variable.
    let options = HostOptions::new(Lifecycle::Handshake)
        .env("K8S_ROLLOUT_MCP_NAMESPACE", Path::new("Shop"))
        .arg("--namespace")
        .arg("shop");
    let host = Host::start_with(Scenario::demo(), options).await;
    let call = json!({"resource_type": "deployment", "name": "api-server"});
    let report = structured(&host.call("k8s_rollout_history", call).await).clone();
    assert_eq!(report["namespace"], "shop");

    // Read-only and the namespace fence from the environment.
    let options = HostOptions::new(Lifecycle::Handshake)
        .env("K8S_ROLLOUT_MCP_READ_ONLY", Path::new("true"))
        .env("K8S_ROLLOUT_MCP_DENY_NAMESPACE", Path::new("kube-*,shop"));
    let host = Host::start_with(Scenario::demo(), options).await;
    assert_eq!(
        tool_names(&host).await,
        ["k8s_rollout_history", "k8s_rollout_status"]
    );
    let message = refusal(&host.call("k8s_rollout_history", history("shop")).await);
    assert!(message.contains("--deny-namespace \"shop\""), "{message}");
    assert!(host.cluster.requests().await.is_empty());
}

#[tokio::test]
async fn a_spaced_deny_list_in_the_variable_denies_every_item() {
    let options = HostOptions::new(Lifecycle::Handshake)
        .env("K8S_ROLLOUT_MCP_DENY_NAMESPACE", Path::new("kube-*, shop"));
    let host = Host::start_with(Scenario::demo(), options).await;
    let message = refusal(&host.call("k8s_rollout_history", history("shop")).await);
    assert!(message.contains("--deny-namespace \"shop\""), "{message}");
    assert!(host.cluster.requests().await.is_empty());
}

// Start-up only: no cluster is involved, so there is no kube-real body.
#[tokio::test]
async fn a_namespace_pattern_no_namespace_can_match_stops_the_server_naming_it() {
    let sim = Sim::start(Scenario::empty()).await;
    let dir = tempdir::Dir::new("patterns");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let refused = [
        (
            vec!["--deny-namespace", "Prod-*"],
            vec![],
            "--deny-namespace pattern \"Prod-*\" (K8S_ROLLOUT_MCP_DENY_NAMESPACE) can never match a namespace: it has the upper-case 'P'",
        ),
        (
            vec![],
            vec![("K8S_ROLLOUT_MCP_ALLOW_NAMESPACE", "shop,,team-*")],
            "--allow-namespace pattern \"\" (K8S_ROLLOUT_MCP_ALLOW_NAMESPACE) can never match a namespace: it is empty",
        ),
        (
            vec![],
            vec![("K8S_ROLLOUT_MCP_DENY_NAMESPACE", "")],
            "--deny-namespace pattern \"\" (K8S_ROLLOUT_MCP_DENY_NAMESPACE) can never match a namespace: it is empty (an empty variable, or a stray comma in the list?); fix or remove it",
        ),
        (
            vec!["--deny-namespace", "kube_system"],
            vec![],
            "pattern \"kube_system\" (K8S_ROLLOUT_MCP_DENY_NAMESPACE) can never match a namespace: it contains '_'",
        ),
    ];
    for (args, env, expected) in refused {
        let args: Vec<&str> = ["--kubeconfig", kubeconfig]
            .into_iter()
            .chain(args)
            .collect();
        let (code, stdout, stderr) = run(&args, &env);
        assert_eq!(
            (code, stdout.as_str()),
            (2, ""),
            "{args:?} {env:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

// Start-up only: no cluster is involved, so there is no kube-real body.
#[tokio::test]
async fn the_effective_policy_is_logged_at_start_up_and_a_context_pattern_matching_nothing_is_named()
 {
    let sim = Sim::start(Scenario::empty()).await;
    let dir = tempdir::Dir::new("policy");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let audit_log = dir.path().join("audit.jsonl");
    let args = [
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--audit-log",
        audit_log.to_str().unwrap(),
        "--read-only",
        "--approval",
        "host-confirmed",
        "--allow-context",
        "kube-*, prod",
    ];
    let env = [
        ("RUST_LOG", "warn,k8s_rollout_mcp=info"),
        ("K8S_ROLLOUT_MCP_ALLOW_NAMESPACE", "shop, team-*"),
        ("K8S_ROLLOUT_MCP_DENY_NAMESPACE", "kube-*"),
    ];
    // With stdin closed the server starts, logs, and ends.
    let (code, _, stderr) = run(&args, &env);
    assert_eq!(code, 0, "{stderr}");
    let policy: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("effective policy"))
        .collect();
    assert_eq!(policy.len(), 1, "{stderr}");
    assert!(
        policy[0].contains(
            "read_only=true approval=host-confirmed allowed_namespaces=shop,team-* denied_namespaces=kube-* allowed_contexts=kube-sim"
        ),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|line| line.contains("WARN")
            && line
                .contains("--allow-context pattern \"prod\" matches no context in the kubeconfig")),
        "{stderr}"
    );

    let (_, _, stderr) = run(&args[..4], &[("RUST_LOG", "info")]);
    assert!(
        stderr.contains(
            "read_only=false approval=auto allowed_namespaces=all denied_namespaces=none allowed_contexts=kube-sim"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_client_that_cannot_show_the_form_is_refused_at_once_without_being_asked() {
    for lifecycle in super::host::LIFECYCLES {
        let mut options = HostOptions::new(lifecycle);
        options.client_name = "claude-ai".to_string();
        let host = Host::start_with(Scenario::demo(), options).await;
        host.answer(super::host::Answer::approve("alice"));
        let undo = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 1, "reason": "bad deploy"});
        let started = std::time::Instant::now();
        let result = host.call("k8s_rollout_undo", undo).await;
        let elapsed = started.elapsed();
        let message = refusal(&result);
        println!("{lifecycle:?}: refused in {elapsed:?}");
        assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
        assert!(
            message.contains("this MCP client (\"claude-ai\": Claude Desktop and Cowork) cannot show the approval form: it declares elicitation, but the request is never shown"),
            "{message}"
        );
        assert!(message.contains("`--approval host-confirmed`"), "{message}");
        assert!(host.asked().is_empty(), "no elicitation request was sent");
        assert!(host.writes().await.is_empty());
        assert_eq!(host.audit_events(), ["planned", "not_supported"]);
    }
}

#[tokio::test]
async fn the_operator_can_opt_in_to_the_hosts_own_confirmation_for_such_a_client() {
    let mut options = HostOptions::new(Lifecycle::Handshake)
        .arg("--approval")
        .arg("host-confirmed");
    options.client_name = "claude-ai".to_string();
    let host = Host::start_with(Scenario::demo(), options).await;
    let undo = json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop", "to_revision": 1});
    let report = structured(&host.call("k8s_rollout_undo", undo).await).clone();
    assert_eq!(report["approval"]["path"], "host_confirmed");
    assert!(host.asked().is_empty());
}

#[tokio::test]
async fn the_safe_rollback_prompt_walks_the_workflow() {
    let host = host_with(&[]).await;
    let prompts = host.client.list_all_prompts().await.unwrap();
    let prompt = prompts
        .iter()
        .find(|prompt| prompt.name == "safe_rollback")
        .expect("safe_rollback is listed");
    let mut arguments: Vec<(String, bool)> = prompt
        .arguments
        .iter()
        .flatten()
        .map(|argument| (argument.name.clone(), argument.required == Some(true)))
        .collect();
    arguments.sort();
    assert_eq!(
        arguments,
        [
            ("context".to_string(), false),
            ("name".to_string(), true),
            ("namespace".to_string(), true),
            ("resource_type".to_string(), true),
        ]
    );
    let mut request = rmcp::model::GetPromptRequestParams::new("safe_rollback");
    request.arguments =
        json!({"resource_type": "deployment", "name": "api-server", "namespace": "shop"})
            .as_object()
            .cloned();
    let result = host.client.get_prompt(request).await.unwrap();
    let text = match &result.messages[0].content {
        rmcp::model::ContentBlock::Text(text) => text.text.clone(),
        other => panic!("a text message: {other:?}"),
    };
    for tool in [
        "k8s_rollout_history",
        "k8s_rollout_undo",
        "k8s_rollout_status",
    ] {
        assert!(text.contains(tool), "{text}");
    }
    assert!(
        text.contains("Roll back the deployment shop/api-server safely"),
        "{text}"
    );
}
