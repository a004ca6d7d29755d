//! Command-line flags and the kubeconfig, turned into a validated [`Settings`] before serving.
//! Every flag can also be set as `K8S_ROLLOUT_MCP_<FLAG>` (`--read-only` is
//! `K8S_ROLLOUT_MCP_READ_ONLY=true`; repeatable flags take a comma-separated list), since hosts
//! configure servers through `env`; a flag on the command line beats its variable.
//!
//! Anything wrong with the kubeconfig (missing, unreadable, invalid, or lacking the named
//! context) ends the process before it serves, with one line that names the file or context;
//! so does a namespace pattern no namespace can match, and, in a pod without a kubeconfig, a
//! context other than the in-cluster one. An `--allow-context` pattern matching no context is
//! only warned about. An unreachable API server is not checked here: it is reported per call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};
use k8s_openapi::jiff::SignedDuration;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::access::{ContextPolicy, NamespacePolicy, UnmatchablePattern};
use crate::audit::AuditLog;
use crate::platform;
use crate::rollout::names;

/// The variable that says the server runs in a pod (set by the kubelet).
const SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
/// The context name of the in-cluster config (it has no kubeconfig context of its own).
pub const IN_CLUSTER: &str = "in-cluster";

/// How the server obtains a human's approval before an undo writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApprovalMode {
    /// The form where the client shows one, else the approval page: through URL-mode
    /// elicitation where the client offers it, else opened in the browser by the server where
    /// a person can see one; else refuse.
    Auto,
    /// Forms only: ask through MCP form elicitation; refuse when the client cannot.
    Elicitation,
    /// The approval page always (opened by the server, else through URL-mode elicitation):
    /// a decision no client hook can make.
    Browser,
    /// Forms where the client shows them, else trust the host's own per-call confirmation.
    /// Named in every result it affects.
    HostConfirmed,
}

impl std::fmt::Display for ApprovalMode {
    /// The value as `--approval` takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_possible_value();
        f.write_str(value.as_ref().map_or("", |value| value.get_name()))
    }
}

/// An MCP server for safe, human-approved Kubernetes rollbacks (Deployments, DaemonSets,
/// StatefulSets). Serves MCP over stdio; logs go to stderr (RUST_LOG). Every flag can also be
/// set as the environment variable shown with it; the flag wins.
#[derive(Debug, Parser)]
#[command(name = "k8s-rollout-mcp", version, about)]
pub struct Cli {
    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "PATH", env = "K8S_ROLLOUT_MCP_KUBECONFIG", value_parser = any_path)]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context calls use when they name none [default: the current context].
    #[arg(long, value_name = "NAME", env = "K8S_ROLLOUT_MCP_CONTEXT")]
    pub context: Option<String>,

    /// Contexts a call may name in its `context` argument (repeatable glob, `*` and `?`)
    /// [default: only the start context].
    #[arg(
        long,
        value_name = "PATTERN",
        env = "K8S_ROLLOUT_MCP_ALLOW_CONTEXT",
        value_delimiter = ','
    )]
    pub allow_context: Vec<String>,

    /// Every call must name its context: none falls back to the start context.
    #[arg(long, env = "K8S_ROLLOUT_MCP_REQUIRE_CONTEXT", value_parser = BoolishValueParser::new())]
    pub require_context: bool,

    /// Namespace for calls that name none [default: the context's namespace, else "default"].
    #[arg(
        long,
        short = 'n',
        value_name = "NS",
        env = "K8S_ROLLOUT_MCP_NAMESPACE"
    )]
    pub namespace: Option<String>,

    /// Namespaces calls may touch (repeatable glob) [default: all that are not denied].
    #[arg(
        long,
        value_name = "PATTERN",
        env = "K8S_ROLLOUT_MCP_ALLOW_NAMESPACE",
        value_delimiter = ','
    )]
    pub allow_namespace: Vec<String>,

    /// Namespaces calls may never touch (repeatable glob); wins over --allow-namespace.
    #[arg(
        long,
        value_name = "PATTERN",
        env = "K8S_ROLLOUT_MCP_DENY_NAMESPACE",
        value_delimiter = ','
    )]
    pub deny_namespace: Vec<String>,

    /// Serve history and status only: k8s_rollout_undo is not listed and refuses if called.
    #[arg(long, env = "K8S_ROLLOUT_MCP_READ_ONLY", value_parser = BoolishValueParser::new())]
    pub read_only: bool,

    /// How undo approval is obtained: `auto` asks through the client's form, else shows the
    /// server's approval page in the browser (URL-mode elicitation, or opened by the server);
    /// `elicitation` forms only; `browser` the page always; `host-confirmed` forms, else trusts
    /// the host's own per-call confirmation.
    #[arg(long, value_enum, default_value_t = ApprovalMode::Auto, env = "K8S_ROLLOUT_MCP_APPROVAL")]
    pub approval: ApprovalMode,

    /// How long a human has to answer an approval request (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, env = "K8S_ROLLOUT_MCP_APPROVAL_TIMEOUT")]
    pub approval_timeout: Duration,

    /// Time limit for each Kubernetes API request (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, env = "K8S_ROLLOUT_MCP_REQUEST_TIMEOUT")]
    pub request_timeout: Duration,

    /// Show env values in revision views and diffs instead of redacting them.
    #[arg(long, env = "K8S_ROLLOUT_MCP_SHOW_ENV_VALUES", value_parser = BoolishValueParser::new())]
    pub show_env_values: bool,

    /// Audit log (JSON Lines) of every undo plan, approval decision and write
    /// [default: $XDG_STATE_HOME/k8s-rollout-mcp/audit.jsonl, else ~/.local/state/k8s-rollout-mcp/audit.jsonl;
    /// %LOCALAPPDATA%\k8s-rollout-mcp\audit.jsonl on Windows].
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        env = "K8S_ROLLOUT_MCP_AUDIT_LOG"
    )]
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
    /// Check the log's hash chain: exit 0 and the record count, any torn lines and the last
    /// call if intact, exit 1 and the first line that breaks it otherwise.
    Verify {
        /// The log [default: --audit-log, else the default audit path].
        path: Option<PathBuf>,
    },
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the client configuration came from, for the start-up log line.
    pub source: String,
    /// The client configuration of the start context.
    pub kube: kube::Config,
    /// The merged kubeconfig, to build the clients of the other allowed contexts from.
    pub kubeconfig: Kubeconfig,
    /// Which contexts calls may name; its `start` is the context calls without one use.
    pub contexts: ContextPolicy,
    /// `--namespace`: the namespace of calls that name none, in every context.
    pub namespace: Option<String>,
    pub namespaces: NamespacePolicy,
    pub read_only: bool,
    pub approval: ApprovalMode,
    pub approval_timeout: Duration,
    pub request_timeout: Duration,
    pub show_env_values: bool,
    pub audit_log: PathBuf,
}

/// Why the server cannot start. Each message is one line naming the file or context.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG (no ~/.kube/config either, and KUBERNETES_SERVICE_HOST is not set for the in-cluster config)"
    )]
    NoKubeconfig,
    #[error(
        "KUBERNETES_SERVICE_HOST is set and there is no kubeconfig, but the in-cluster ServiceAccount config cannot be read: {detail}; mount the ServiceAccount token in the pod (automountServiceAccountToken) or pass --kubeconfig PATH"
    )]
    InCluster { detail: String },
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
    #[error(
        "no audit log path: pass --audit-log PATH ({})",
        platform::STATE_DIR_UNSET
    )]
    NoAuditLog,
    #[error("invalid --namespace {namespace:?}: {reason}")]
    InvalidNamespace { namespace: String, reason: String },
    #[error(transparent)]
    NamespacePattern(#[from] UnmatchablePattern),
    #[error(
        "{flag} {context:?} ({variable}) names a kubeconfig context, but there is no kubeconfig: KUBERNETES_SERVICE_HOST is set, so the server would use the in-cluster ServiceAccount config (context \"in-cluster\") instead; pass --kubeconfig PATH (or set KUBECONFIG) to reach {context:?}, or drop it"
    )]
    ContextInPod {
        flag: &'static str,
        variable: &'static str,
        context: String,
    },
}

impl Cli {
    /// An empty `--kubeconfig`, `--context` or `--namespace` means none was chosen, as kubectl
    /// reads `--context=""`: a host that fills the variable from an optional setting left
    /// blank (the Claude Desktop extension's) gets the kubeconfig's own defaults.
    fn without_empty_choices(mut self) -> Self {
        self.kubeconfig = self.kubeconfig.filter(|path| !path.as_os_str().is_empty());
        self.context = self.context.filter(|context| !context.is_empty());
        self.namespace = self.namespace.filter(|namespace| !namespace.is_empty());
        self
    }
}

/// A path as given, the empty one too (clap's own path parser refuses it): see
/// [`Cli::without_empty_choices`].
fn any_path(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
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
    /// Loads the kubeconfig (or, with none and `KUBERNETES_SERVICE_HOST` set, the in-cluster
    /// ServiceAccount config) and validates the flags.
    pub async fn load(cli: Cli) -> Result<Self, ConfigError> {
        let cli = cli.without_empty_choices();
        let paths = match kubeconfig_paths(cli.kubeconfig.as_deref()) {
            Err(ConfigError::NoKubeconfig) if std::env::var_os(SERVICE_HOST).is_some() => {
                let contexts = pod_contexts(&cli)?;
                let mut kube =
                    kube::Config::incluster().map_err(|error| ConfigError::InCluster {
                        detail: error.to_string(),
                    })?;
                kube.connect_timeout = Some(cli.request_timeout);
                let source = format!(
                    "the in-cluster ServiceAccount config ({SERVICE_HOST} is set and there is no kubeconfig)"
                );
                return Self::finish(cli, kube, Kubeconfig::default(), contexts, source);
            }
            paths => paths?,
        };
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
        let context = match cli
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone())
        {
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
        let kube = client_config(&kubeconfig, &context, cli.request_timeout)
            .await
            .map_err(|error| ConfigError::Invalid {
                path: shown.clone(),
                detail: format!("context {context:?}: {error}"),
            })?;
        let known = kubeconfig.contexts.iter().map(|c| c.name.clone()).collect();
        let contexts = ContextPolicy::new(
            context,
            cli.allow_context.clone(),
            cli.require_context,
            known,
        );
        for pattern in contexts.unmatched() {
            tracing::warn!(
                "--allow-context pattern {pattern:?} matches no context in the kubeconfig (contexts: {}); calls cannot name it",
                available()
            );
        }
        Self::finish(
            cli,
            kube,
            kubeconfig,
            contexts,
            format!("kubeconfig {shown}"),
        )
    }

    /// Validates the flags and assembles the settings around the start context's config.
    fn finish(
        cli: Cli,
        kube: kube::Config,
        kubeconfig: Kubeconfig,
        contexts: ContextPolicy,
        source: String,
    ) -> Result<Self, ConfigError> {
        if let Some(namespace) = &cli.namespace {
            names::validate_namespace(namespace).map_err(|reason| {
                ConfigError::InvalidNamespace {
                    namespace: namespace.clone(),
                    reason,
                }
            })?;
        }
        let audit_log = cli
            .audit_log
            .or_else(AuditLog::default_path)
            .ok_or(ConfigError::NoAuditLog)?;
        let namespaces = NamespacePolicy::new(cli.allow_namespace, cli.deny_namespace)?;
        Ok(Settings {
            audit_log,
            source,
            kube,
            kubeconfig,
            contexts,
            namespace: cli.namespace,
            namespaces,
            read_only: cli.read_only,
            approval: cli.approval,
            approval_timeout: cli.approval_timeout,
            request_timeout: cli.request_timeout,
            show_env_values: cli.show_env_values,
        })
    }
}

/// The contexts of a pod without a kubeconfig: only the in-cluster one. A `--context` or an
/// `--allow-context` pattern naming another was meant for a kubeconfig that is not there, and
/// serving the in-cluster config in its place would reach a cluster the operator did not name.
fn pod_contexts(cli: &Cli) -> Result<ContextPolicy, ConfigError> {
    if let Some(context) = cli
        .context
        .as_ref()
        .filter(|context| *context != IN_CLUSTER)
    {
        return Err(ConfigError::ContextInPod {
            flag: "--context",
            variable: "K8S_ROLLOUT_MCP_CONTEXT",
            context: context.clone(),
        });
    }
    let contexts = ContextPolicy::new(
        IN_CLUSTER.into(),
        cli.allow_context.clone(),
        cli.require_context,
        vec![IN_CLUSTER.into()],
    );
    match contexts.unmatched().first() {
        Some(pattern) => Err(ConfigError::ContextInPod {
            flag: "--allow-context pattern",
            variable: "K8S_ROLLOUT_MCP_ALLOW_CONTEXT",
            context: pattern.to_string(),
        }),
        None => Ok(contexts),
    }
}

/// The client configuration of one kubeconfig context, with the connect timeout.
pub async fn client_config(
    kubeconfig: &Kubeconfig,
    context: &str,
    request_timeout: Duration,
) -> Result<kube::Config, KubeconfigError> {
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options).await?;
    config.connect_timeout = Some(request_timeout);
    Ok(config)
}

/// A client configuration's API server URL, as results and approvals show it.
pub fn server_url(config: &kube::Config) -> String {
    config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string()
}

/// `--kubeconfig`, else the paths in `KUBECONFIG`, else `~/.kube/config` (on Windows, in the
/// first of `%HOME%` and `%USERPROFILE%` that has one).
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
    platform::home_dirs()
        .into_iter()
        .map(|home| home.join(".kube").join("config"))
        .find(|default| default.exists())
        .map(|default| vec![default])
        .ok_or(ConfigError::NoKubeconfig)
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
    fn every_flag_reads_its_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        for argument in command.get_arguments() {
            let Some(flag) = argument.get_long() else {
                continue;
            };
            if matches!(flag, "help" | "version") {
                continue;
            }
            let expected = format!("K8S_ROLLOUT_MCP_{}", flag.to_uppercase().replace('-', "_"));
            assert_eq!(
                argument.get_env().and_then(|env| env.to_str()),
                Some(expected.as_str()),
                "--{flag}"
            );
        }
    }

    /// The fenced code blocks of `markdown` with their language tag.
    fn code_blocks(markdown: &str) -> Vec<(&str, String)> {
        let mut blocks = Vec::new();
        let mut open: Option<(&str, String)> = None;
        // Fences may be indented, as in a list item; their lines are, as deep.
        for line in markdown.lines() {
            let line = line.trim_start();
            match (&mut open, line.strip_prefix("```")) {
                (None, Some(tag)) => open = Some((tag.trim(), String::new())),
                (Some(_), Some(_)) => blocks.extend(open.take()),
                (Some((_, body)), None) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, None) => {}
            }
        }
        blocks
    }

    /// Parses the server's arguments as the binary does.
    fn accepted(args: &[String], snippet: &str) {
        let argv = std::iter::once("k8s-rollout-mcp".to_string()).chain(args.iter().cloned());
        if let Err(error) = Cli::try_parse_from(argv) {
            panic!("README snippet {snippet:?}: the server refuses {args:?}: {error}");
        }
    }

    /// The args of every server entry in a host config (`mcpServers`, `servers`, `mcp_servers`).
    fn server_args(config: &serde_json::Value) -> Vec<Vec<String>> {
        ["mcpServers", "servers", "mcp_servers"]
            .iter()
            .filter_map(|key| config.get(*key).and_then(|servers| servers.as_object()))
            .flat_map(|servers| servers.values())
            .map(|server| {
                assert!(
                    server["command"]
                        .as_str()
                        .is_some_and(|c| c.starts_with('/')),
                    "the command is an absolute path: {server}"
                );
                serde_json::from_value(server["args"].clone()).expect("args are strings")
            })
            .collect()
    }

    #[test]
    fn every_readme_host_snippet_parses_and_its_command_line_is_accepted() {
        let readme = include_str!("../README.md");
        let example = include_str!("../examples/claude_desktop_config.json");
        let mut blocks = code_blocks(readme);
        blocks.push(("json", example.to_string()));
        let mut checked = 0;
        for (tag, body) in &blocks {
            match *tag {
                "json" => {
                    let config: serde_json::Value = serde_json::from_str(body)
                        .unwrap_or_else(|e| panic!("invalid JSON in the README: {e}\n{body}"));
                    for args in server_args(&config) {
                        accepted(&args, body);
                        checked += 1;
                    }
                }
                "toml" => {
                    let config: serde_json::Value = toml::from_str(body)
                        .unwrap_or_else(|e| panic!("invalid TOML in the README: {e}\n{body}"));
                    for args in server_args(&config) {
                        accepted(&args, body);
                        checked += 1;
                    }
                }
                "sh" => {
                    for line in body.lines() {
                        let Some(words) = shlex::split(line) else {
                            panic!("unbalanced quotes in {line:?}");
                        };
                        // The installed binary, or the image `docker run` starts; the last
                        // such word (a line may make the audit directory first).
                        let Some(binary) = words.iter().rposition(|w| {
                            (w.ends_with("/k8s-rollout-mcp") && !w.contains(':'))
                                || w.starts_with("ghcr.io/")
                        }) else {
                            continue;
                        };
                        // The inspector's own flags follow the server's.
                        let end = words
                            .iter()
                            .position(|w| w == "--method")
                            .unwrap_or(words.len());
                        accepted(&words[binary + 1..end.max(binary + 1)], line);
                        checked += 1;
                    }
                }
                _ => {}
            }
        }
        // Claude Desktop (README and example), VS Code, Cursor, Codex, Claude Code, the
        // Inspector, the installed binary in "Use it with a real cluster", the archive's
        // install line and the container image's.
        assert_eq!(checked, 10, "host snippets checked");
        for host in [
            "claude_desktop_config.json",
            "claude mcp add",
            ".vscode/mcp.json",
            "~/.cursor/mcp.json",
            "~/.codex/config.toml",
            "@modelcontextprotocol/inspector",
            "cargo install --path .",
            "cargo install k8s-rollout-mcp",
            "cargo binstall k8s-rollout-mcp",
            "docker run -i --rm",
        ] {
            assert!(readme.contains(host), "the README shows {host}");
        }
    }

    #[test]
    fn an_empty_kubeconfig_context_or_namespace_means_none_was_chosen() {
        let argv = [
            "k8s-rollout-mcp",
            "--kubeconfig",
            "",
            "--context",
            "",
            "-n",
            "",
        ];
        let cli = Cli::try_parse_from(argv).unwrap().without_empty_choices();
        assert_eq!(
            (cli.kubeconfig, cli.context, cli.namespace),
            (None, None, None)
        );
    }

    #[test]
    fn in_a_pod_only_the_in_cluster_context_can_be_named() {
        let contexts = |args: &[&str]| {
            let argv = std::iter::once("k8s-rollout-mcp").chain(args.iter().copied());
            pod_contexts(&Cli::try_parse_from(argv).unwrap())
        };
        for args in [
            &[][..],
            &["--context", "in-cluster"],
            &["--allow-context", "in-*"],
        ] {
            assert_eq!(
                contexts(args).unwrap().allowed(),
                vec![IN_CLUSTER],
                "{args:?}"
            );
        }
        let refused = contexts(&["--context", "prod"]).unwrap_err().to_string();
        assert!(
            refused.starts_with("--context \"prod\" (K8S_ROLLOUT_MCP_CONTEXT) names a kubeconfig context, but there is no kubeconfig"),
            "{refused}"
        );
        let refused = contexts(&["--allow-context", "in-cluster, prod"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.starts_with("--allow-context pattern \"prod\" (K8S_ROLLOUT_MCP_ALLOW_CONTEXT)"),
            "{refused}"
        );
    }

    #[test]
    fn durations_accept_friendly_units() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
