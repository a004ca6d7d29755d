//! Drives an installed server the way a host does: starts it as a child process speaking MCP
//! over stdio, against the demo scenario on kube-sim (served from this process), lists its
//! tools and prompts and reads the history of `shop/api-server`. CI runs it on each artifact
//! `scripts/dist.sh` makes: the cross-built binaries (under Wine and qemu-user), the container
//! image, and the unpacked Claude Desktop extension.
//!
//! ```text
//! cargo run --example smoke -- --kubeconfig /tmp/s/config -- wine k8s-rollout-mcp.exe --kubeconfig /tmp/s/config
//! cargo run --example smoke -- --mcpb DIR [--set KEY=VALUE]...
//! ```
//!
//! The first form runs the command as given, after writing the sim's kubeconfig to
//! `--kubeconfig`. The second starts the server exactly as `DIR/manifest.json` (an unpacked
//! `.mcpb`) says for Linux: its `mcp_config` with the `linux` platform override, `${__dirname}`,
//! `${HOME}`, `${/}` and every `${user_config.KEY}` substituted (`kubeconfig` is the sim's; the
//! others come from `--set`, else their defaults), in the environment hosts pass (`HOME`,
//! `LOGNAME`, `PATH`, `SHELL`, `TERM`, `USER`) plus the manifest's `env`. It also checks that
//! the manifest lists the tools and prompts the server serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use kube_sim::{Scenario, Sim, SimOptions};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::process::Command;

/// The environment hosts built on the MCP SDKs pass a stdio server on Unix.
const HOST_ENVIRONMENT: &[&str] = &["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];
/// The demo scenario's `shop/api-server`: four revisions, the last one live (and failing).
const DEMO_LIVE_REVISION: i64 = 4;

#[derive(Debug, Parser)]
#[command(about = "Smoke-test an installed k8s-rollout-mcp over stdio against kube-sim")]
struct Args {
    /// Start the server as this unpacked extension's manifest says.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    mcpb: Option<PathBuf>,
    /// A user_config value for --mcpb (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "mcpb")]
    settings: Vec<String>,
    /// Where to write the sim's kubeconfig [default: a temporary file].
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// The server command and its arguments.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => {
            println!("smoke: ok");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("smoke: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error>;

async fn run(args: Args) -> Result<(), Error> {
    let dir = std::env::temp_dir().join(format!("k8s-rollout-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| dir.join("kubeconfig"));
    let sim = Sim::start_with(Scenario::demo(), SimOptions::demo()).await;
    sim.write_kubeconfig(&kubeconfig)?;

    let (command, manifest) = match &args.mcpb {
        Some(unpacked) => {
            let manifest: Value =
                serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json"))?)?;
            let settings = user_config(&manifest, &args.settings, &kubeconfig)?;
            (
                manifest_command(&manifest, unpacked, &settings)?,
                Some(manifest),
            )
        }
        None => {
            let (program, arguments) = args
                .command
                .split_first()
                .ok_or("name the server command after --, or pass --mcpb DIR")?;
            let mut command = Command::new(program);
            command
                .args(arguments)
                .env("K8S_ROLLOUT_MCP_AUDIT_LOG", dir.join("audit.jsonl"));
            (command, None)
        }
    };
    let outcome = exercise(command, manifest.as_ref()).await;
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Lists the tools and prompts and reads the demo history; checks them against `manifest`.
async fn exercise(mut command: Command, manifest: Option<&Value>) -> Result<(), Error> {
    command.stderr(std::process::Stdio::inherit());
    let client = ().serve(TokioChildProcess::new(command)?).await?;
    let info = client.peer_info().ok_or("no initialize result")?;
    let server = info.server_info.as_ref().ok_or("no serverInfo")?;
    println!(
        "smoke: connected to {} {} ({})",
        server.name, server.version, info.protocol_version
    );

    let tools: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    println!("smoke: tools/list: {}", tools.join(", "));
    if !tools.iter().any(|tool| tool == "k8s_rollout_history") {
        return Err("tools/list has no k8s_rollout_history".into());
    }
    if let Some(manifest) = manifest {
        let prompts: Vec<String> = client
            .list_all_prompts()
            .await?
            .into_iter()
            .map(|prompt| prompt.name)
            .collect();
        expect_listed(manifest, "tools", &tools)?;
        expect_listed(manifest, "prompts", &prompts)?;
    }

    let arguments =
        json!({"resource_type": "deployment", "namespace": "shop", "name": "api-server"});
    let Value::Object(arguments) = arguments else {
        unreachable!("an object")
    };
    let history = client
        .call_tool(CallToolRequestParams::new("k8s_rollout_history").with_arguments(arguments))
        .await?;
    let text: Vec<&str> = history
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.as_str()))
        .collect();
    println!("smoke: k8s_rollout_history:\n{}", text.join("\n"));
    let live = history
        .structured_content
        .as_ref()
        .and_then(|content| content.get("live_revision"))
        .and_then(Value::as_i64);
    if history.is_error == Some(true) || live != Some(DEMO_LIVE_REVISION) {
        return Err(format!(
            "the history call failed or names live revision {live:?}, not {DEMO_LIVE_REVISION}"
        )
        .into());
    }
    client.cancel().await?;
    Ok(())
}

/// Fails unless the manifest's `field` (`tools` or `prompts`) names exactly `served`.
fn expect_listed(manifest: &Value, field: &str, served: &[String]) -> Result<(), Error> {
    let mut listed: Vec<&str> = manifest[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["name"].as_str())
        .collect();
    let mut served: Vec<&str> = served.iter().map(String::as_str).collect();
    listed.sort_unstable();
    served.sort_unstable();
    if listed == served {
        Ok(())
    } else {
        Err(format!("the manifest lists {field} {listed:?}, the server serves {served:?}").into())
    }
}

/// Every `user_config` value as a host substitutes it: `--set`, else the sim's kubeconfig for
/// `kubeconfig`, else the default (booleans and numbers as JSON writes them, `${HOME}` in a
/// default expanded).
fn user_config(
    manifest: &Value,
    settings: &[String],
    kubeconfig: &Path,
) -> Result<BTreeMap<String, String>, Error> {
    let mut values = BTreeMap::new();
    for (key, option) in manifest["user_config"].as_object().into_iter().flatten() {
        let value = match &option["default"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        values.insert(
            key.clone(),
            substitute(&value, &BTreeMap::new(), Path::new("")),
        );
    }
    values.insert(
        "kubeconfig".into(),
        kubeconfig.to_string_lossy().into_owned(),
    );
    for setting in settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("--set {setting}: expected KEY=VALUE"))?;
        if !values.contains_key(key) {
            return Err(format!("--set {key}: the manifest has no such user_config").into());
        }
        values.insert(key.into(), value.into());
    }
    Ok(values)
}

/// The command the manifest's `mcp_config` says for Linux.
fn manifest_command(
    manifest: &Value,
    unpacked: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<Command, Error> {
    let config = &manifest["server"]["mcp_config"];
    let linux = &config["platform_overrides"]["linux"];
    let pick = |field: &str| {
        if linux[field].is_null() {
            &config[field]
        } else {
            &linux[field]
        }
    };
    let unpacked = std::path::absolute(unpacked)?;
    let text = |value: &Value| substitute(value.as_str().unwrap_or_default(), settings, &unpacked);
    let program = text(pick("command"));
    if program.is_empty() {
        return Err("the manifest's mcp_config names no command for linux".into());
    }
    let mut command = Command::new(program);
    command.env_clear();
    for name in HOST_ENVIRONMENT {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.args(pick("args").as_array().into_iter().flatten().map(text));
    for env in [&config["env"], &linux["env"]] {
        for (name, value) in env.as_object().into_iter().flatten() {
            command.env(name, text(value));
        }
    }
    Ok(command)
}

/// `text` with the manifest's variables replaced.
fn substitute(text: &str, settings: &BTreeMap<String, String>, unpacked: &Path) -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut text = text
        .replace("${__dirname}", &unpacked.to_string_lossy())
        .replace("${HOME}", &home)
        .replace("${pathSeparator}", "/")
        .replace("${/}", "/");
    for (key, value) in settings {
        text = text.replace(&format!("${{user_config.{key}}}"), value);
    }
    text
}
