//! Command-line flags and the kubeconfig, turned into a validated [`Settings`] before serving.
//!
//! Anything wrong with the kubeconfig (missing, unreadable, invalid, or lacking the named
//! context) ends the process before it serves, with one line that names the file or context.
//! An unreachable API server is not checked here: it is reported per call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use k8s_openapi::jiff::SignedDuration;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::audit::AuditLog;
use crate::rollout::names;

/// How the server obtains a human's approval before an undo writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApprovalMode {
    /// Ask the human through MCP elicitation; refuse when the client cannot ask.
    Elicitation,
    /// Also accept undo calls from clients without elicitation, trusting the host's own
    /// per-call confirmation. Off by default; named in every result it affects.
    HostConfirmed,
}

/// An MCP server for safe, human-approved Kubernetes rollbacks (Deployments, DaemonSets,
/// StatefulSets). Serves MCP over stdio; logs go to stderr (RUST_LOG).
#[derive(Debug, Parser)]
#[command(name = "k8s-rollout-mcp", version, about)]
pub struct Cli {
    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use [default: the current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace for calls that name none [default: the context's namespace, else "default"].
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,

    /// How undo approval is obtained: `elicitation` asks the human through the MCP client;
    /// `host-confirmed` also lets clients without elicitation undo, trusting the host's own
    /// per-call confirmation.
    #[arg(long, value_enum, default_value_t = ApprovalMode::Elicitation)]
    pub approval: ApprovalMode,

    /// How long a human has to answer an approval request (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub approval_timeout: Duration,

    /// Time limit for each Kubernetes API request (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Show env values in revision views and diffs instead of redacting them.
    #[arg(long)]
    pub show_env_values: bool,

    /// Audit log (JSON Lines) of every undo plan, approval decision and write
    /// [default: $XDG_STATE_HOME/k8s-rollout-mcp/audit.jsonl, else ~/.local/state/k8s-rollout-mcp/audit.jsonl].
    #[arg(long, value_name = "PATH", global = true)]
    pub audit_log: Option<PathBuf>,

    /// Instead of serving MCP, run a maintenance command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides serving (no kubeconfig needed).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `audit ...`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the log's hash chain: exit 0 and the record count and last call if intact, exit 1
    /// and the first line that breaks it otherwise.
    Verify {
        /// The log [default: --audit-log, else the default audit path].
        path: Option<PathBuf>,
    },
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub kube: kube::Config,
    /// The kubeconfig context in use.
    pub context: String,
    /// The API server URL of that context's cluster.
    pub cluster_server: String,
    pub default_namespace: String,
    pub approval: ApprovalMode,
    pub approval_timeout: Duration,
    pub request_timeout: Duration,
    pub show_env_values: bool,
    pub audit_log: PathBuf,
}

/// Why the server cannot start. Each message is one line naming the file or context.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG (no ~/.kube/config either)")]
    NoKubeconfig,
    #[error("cannot read kubeconfig {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid kubeconfig {path}: {detail}")]
    Invalid { path: String, detail: String },
    #[error("kubeconfig {path} has no current-context; pass --context (available: {available})")]
    NoContext { path: String, available: String },
    #[error("context {context:?} not found in kubeconfig {path} (available: {available})")]
    UnknownContext {
        context: String,
        path: String,
        available: String,
    },
    #[error("no audit log path: pass --audit-log PATH (neither XDG_STATE_HOME nor HOME is set)")]
    NoAuditLog,
    #[error("invalid --namespace {namespace:?}: {reason}")]
    InvalidNamespace { namespace: String, reason: String },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration: SignedDuration = text
        .parse()
        .map_err(|error| format!("{text:?} is not a duration like 30s, 5m or 1h: {error}"))?;
    Duration::try_from(duration)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("{text:?} must be a positive duration"))
}

impl Settings {
    /// Loads the kubeconfig and validates the flags.
    pub async fn load(cli: Cli) -> Result<Self, ConfigError> {
        let paths = kubeconfig_paths(cli.kubeconfig.as_deref())?;
        let shown = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let kubeconfig = read_kubeconfigs(&paths)?;
        let available = || {
            let names: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        let context = match cli.context.or_else(|| kubeconfig.current_context.clone()) {
            Some(context) => context,
            None => {
                return Err(ConfigError::NoContext {
                    path: shown,
                    available: available(),
                });
            }
        };
        if !kubeconfig
            .contexts
            .iter()
            .any(|named| named.name == context)
        {
            return Err(ConfigError::UnknownContext {
                context,
                path: shown,
                available: available(),
            });
        }
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let mut kube = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|error| ConfigError::Invalid {
                path: shown.clone(),
                detail: format!("context {context:?}: {error}"),
            })?;
        kube.connect_timeout = Some(cli.request_timeout);
        let default_namespace = match cli.namespace {
            Some(namespace) => {
                names::validate_namespace(&namespace).map_err(|reason| {
                    ConfigError::InvalidNamespace {
                        namespace: namespace.clone(),
                        reason,
                    }
                })?;
                namespace
            }
            None => kube.default_namespace.clone(),
        };
        let audit_log = cli
            .audit_log
            .or_else(AuditLog::default_path)
            .ok_or(ConfigError::NoAuditLog)?;
        Ok(Settings {
            audit_log,
            cluster_server: kube
                .cluster_url
                .to_string()
                .trim_end_matches('/')
                .to_string(),
            context,
            default_namespace,
            approval: cli.approval,
            approval_timeout: cli.approval_timeout,
            request_timeout: cli.request_timeout,
            show_env_values: cli.show_env_values,
            kube,
        })
    }
}

/// `--kubeconfig`, else the paths in `KUBECONFIG`, else `~/.kube/config`.
fn kubeconfig_paths(explicit: Option<&Path>) -> Result<Vec<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        return Ok(vec![path.to_path_buf()]);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        // Like kubectl, files in the list that do not exist are skipped; if none exists, the
        // error names the first.
        let existing: Vec<PathBuf> = paths.iter().filter(|path| path.exists()).cloned().collect();
        if !existing.is_empty() {
            return Ok(existing);
        }
        if !paths.is_empty() {
            return Ok(paths);
        }
    }
    let home = std::env::var_os("HOME").ok_or(ConfigError::NoKubeconfig)?;
    let default = PathBuf::from(home).join(".kube").join("config");
    if default.exists() {
        Ok(vec![default])
    } else {
        Err(ConfigError::NoKubeconfig)
    }
}

/// Reads and merges the files as kubectl does (the first file to set a value wins).
fn read_kubeconfigs(paths: &[PathBuf]) -> Result<Kubeconfig, ConfigError> {
    paths
        .iter()
        .try_fold(Kubeconfig::default(), |merged, path| {
            let next = Kubeconfig::read_from(path).map_err(|error| match error {
                KubeconfigError::ReadConfig(source, _) => ConfigError::Unreadable {
                    path: path.clone(),
                    source,
                },
                other => ConfigError::Invalid {
                    path: path.display().to_string(),
                    detail: one_line(&other.to_string()),
                },
            })?;
            merged.merge(next).map_err(|error| ConfigError::Invalid {
                path: path.display().to_string(),
                detail: error.to_string(),
            })
        })
}

/// Parser errors can span lines; the start-up error must be one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_friendly_units() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
