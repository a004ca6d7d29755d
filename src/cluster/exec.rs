//! Running a kubeconfig's exec credential plugin (`users[].user.exec`) the way kubectl does,
//! except that it can never touch the MCP stream.
//!
//! kube runs a plugin with the server's own stdin unless the kubeconfig says
//! `interactiveMode: Never`: a plugin that reads its stdin (a login or MFA prompt) then
//! swallowed `initialize` and every call after it. It also ran synchronously on the runtime
//! thread, once per client built. Here a plugin gets an empty stdin whatever the kubeconfig
//! says, its stdout and stderr are captured, it runs as a `tokio::process` child within the
//! request time limit (killed when it overruns), and `KUBERNETES_EXEC_INFO` tells it that it
//! is not interactive. `interactiveMode: Always` is refused before anything runs, as kubectl
//! refuses it without a terminal.

use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::config::{ExecAuthCluster, ExecConfig, ExecInteractiveMode};
use secrecy::SecretString;
use serde::Deserialize;

use crate::rollout::clip;

/// Lines of a failing plugin's stderr shown in its error.
const STDERR_LINES: usize = 5;

/// A plugin as the kubeconfig describes it, checked.
#[derive(Debug, Clone)]
pub struct ExecPlugin {
    command: String,
    args: Vec<String>,
    /// `env` entries, `name` and `value` (values are not shown anywhere).
    env: Vec<(String, String)>,
    api_version: String,
    install_hint: Option<String>,
    /// The cluster, for `KUBERNETES_EXEC_INFO`, when `provideClusterInfo` is true.
    cluster: Option<ExecAuthCluster>,
}

/// A credential a plugin returned (its `Debug` shows no secret).
#[derive(Debug)]
pub struct ExecToken {
    pub token: SecretString,
    /// `expirationTimestamp`; none means "until the API server refuses it".
    pub expires: Option<Timestamp>,
}

/// Why a plugin gave no credential. Every message names the command (never its output on
/// stdout, which holds the secret, nor its `env` values).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(
        "the exec credential plugin has no `command`; add the plugin's absolute path as users[].user.exec.command"
    )]
    NoCommand,
    #[error(
        "the exec credential plugin {command:?} has interactiveMode: Always, but this server never gives a plugin a terminal (its stdin is the MCP stream); log in once in a terminal (run the plugin's login there so it caches a credential), set interactiveMode to IfAvailable, and retry"
    )]
    AlwaysInteractive { command: String },
    #[error(
        "the exec credential plugin {command:?} has an `env` entry without both `name` and `value`"
    )]
    BadEnv { command: String },
    #[error(
        "the exec credential plugin {command:?} was not found{hint}; MCP hosts start servers with a minimal PATH, not your login shell's: give its absolute path as users[].user.exec.command, or set PATH in the host config's `env`"
    )]
    Missing { command: String, hint: String },
    #[error("the exec credential plugin {command:?} could not be started: {detail}")]
    Unstartable { command: String, detail: String },
    #[error(
        "the exec credential plugin {command:?} failed ({status}){stderr}; run it in a terminal to see why (an expired login is the usual cause: log in again)"
    )]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "the exec credential plugin {command:?} did not finish within {seconds}s (--request-timeout) and was stopped; if it waits for a login, log in once in a terminal and retry"
    )]
    TimedOut { command: String, seconds: u64 },
    #[error(
        "the exec credential plugin {command:?} printed no ExecCredential this server can use: {detail}"
    )]
    Output { command: String, detail: String },
}

/// The part of an `ExecCredential` a plugin prints that is read.
#[derive(Deserialize)]
struct Printed {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    status: Option<PrintedStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrintedStatus {
    token: Option<String>,
    expiration_timestamp: Option<String>,
    client_certificate_data: Option<String>,
}

impl ExecPlugin {
    /// Checks the kubeconfig's `exec` entry; refuses `interactiveMode: Always`.
    pub fn new(exec: &ExecConfig) -> Result<Self, ExecError> {
        let command = exec.command.clone().ok_or(ExecError::NoCommand)?;
        if exec.interactive_mode == Some(ExecInteractiveMode::Always) {
            return Err(ExecError::AlwaysInteractive { command });
        }
        let env = exec
            .env
            .iter()
            .flatten()
            .map(|entry| match (entry.get("name"), entry.get("value")) {
                (Some(name), Some(value)) => Ok((name.clone(), value.clone())),
                _ => Err(ExecError::BadEnv {
                    command: command.clone(),
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            args: exec.args.clone().unwrap_or_default(),
            env,
            api_version: exec
                .api_version
                .clone()
                .unwrap_or_else(|| "client.authentication.k8s.io/v1".into()),
            install_hint: exec.install_hint.clone(),
            cluster: exec
                .provide_cluster_info
                .then(|| exec.cluster.clone())
                .flatten(),
            command,
        })
    }

    /// The command, as errors and logs name it.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// `KUBERNETES_EXEC_INFO`: the request a plugin reads from its environment.
    fn exec_info(&self) -> String {
        let mut spec = serde_json::json!({ "interactive": false });
        if let Some(cluster) = &self.cluster {
            spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
        }
        serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": spec,
        })
        .to_string()
    }

    /// Runs the plugin once, within `limit`, and reads its credential.
    pub async fn run(&self, limit: Duration) -> Result<ExecToken, ExecError> {
        let command = || self.command.clone();
        let mut child = tokio::process::Command::new(&self.command);
        child
            .args(&self.args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("KUBERNETES_EXEC_INFO", self.exec_info())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = child.spawn().map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => ExecError::Missing {
                command: command(),
                hint: self
                    .install_hint
                    .as_deref()
                    .map(|hint| format!(" ({})", clip::untrusted(hint.trim(), clip::VALUE)))
                    .unwrap_or_default(),
            },
            _ => ExecError::Unstartable {
                command: command(),
                detail: error.to_string(),
            },
        })?;
        let output = match tokio::time::timeout(limit, started.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => {
                return Err(ExecError::Unstartable {
                    command: command(),
                    detail: error.to_string(),
                });
            }
            Err(_) => {
                return Err(ExecError::TimedOut {
                    command: command(),
                    seconds: limit.as_secs(),
                });
            }
        };
        if !output.status.success() {
            return Err(ExecError::Failed {
                command: command(),
                status: output.status.to_string(),
                stderr: first_lines(&String::from_utf8_lossy(&output.stderr)),
            });
        }
        self.read_credential(&output.stdout)
    }

    /// The token and expiry in what the plugin printed.
    fn read_credential(&self, stdout: &[u8]) -> Result<ExecToken, ExecError> {
        let output = |detail: String| ExecError::Output {
            command: self.command.clone(),
            detail,
        };
        // Not the parser's own message: it may quote the output, and the output is a secret.
        let printed: Printed = serde_json::from_slice(stdout).map_err(|error| {
            output(format!(
                "not an ExecCredential JSON object (line {}, column {})",
                error.line(),
                error.column()
            ))
        })?;
        if let Some(version) = printed
            .api_version
            .as_deref()
            .filter(|v| *v != self.api_version)
        {
            return Err(output(format!(
                "its apiVersion {:?} is not the kubeconfig's {:?}",
                clip::untrusted(version, clip::VALUE),
                self.api_version
            )));
        }
        let status = printed
            .status
            .ok_or_else(|| output("it has no status".into()))?;
        let Some(token) = status.token.filter(|token| !token.is_empty()) else {
            return Err(output(if status.client_certificate_data.is_some() {
                "it returned a client certificate, and this server takes tokens from plugins (put the certificate in the kubeconfig's client-certificate and client-key instead)".into()
            } else {
                "its status has no token".into()
            }));
        };
        let expires = status
            .expiration_timestamp
            .map(|text| {
                text.parse::<Timestamp>().map_err(|error| {
                    output(format!(
                        "its expirationTimestamp {:?} is not an RFC 3339 time: {error}",
                        clip::untrusted(&text, clip::VALUE)
                    ))
                })
            })
            .transpose()?;
        Ok(ExecToken {
            token: SecretString::from(token),
            expires,
        })
    }
}

/// `: stderr "..."` with the first [`STDERR_LINES`] lines, escaped and clipped; empty when
/// the plugin wrote nothing there.
fn first_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let shown = lines[..lines.len().min(STDERR_LINES)].join("\n");
    let more = lines.len().saturating_sub(STDERR_LINES);
    let more = if more > 0 {
        format!(" ... {more} more lines")
    } else {
        String::new()
    };
    format!(
        "; its stderr: \"{}\"{more}",
        clip::untrusted(&shown, clip::VALUE * 4)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(yaml: &str) -> Result<ExecPlugin, ExecError> {
        ExecPlugin::new(&serde_saphyr::from_str::<ExecConfig>(yaml).unwrap())
    }

    #[test]
    fn always_interactive_is_refused_by_name() {
        let refused = plugin("command: aws\ninteractiveMode: Always\n")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("\"aws\" has interactiveMode: Always"),
            "{refused}"
        );
        assert!(refused.contains("log in once in a terminal"), "{refused}");
        assert!(plugin("command: aws\ninteractiveMode: IfAvailable\n").is_ok());
    }

    #[test]
    fn the_printed_credential_is_read_and_its_secret_never_quoted() {
        let plugin = plugin("command: p\napiVersion: client.authentication.k8s.io/v1\n").unwrap();
        let token = plugin
            .read_credential(br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"s3cret","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#)
            .unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&token.token), "s3cret");
        assert_eq!(token.expires, Some("2030-01-02T03:04:05Z".parse().unwrap()));
        let broken = plugin
            .read_credential(br#"{"status":{"token":"s3cret""#)
            .unwrap_err()
            .to_string();
        assert!(!broken.contains("s3cret"), "{broken}");
        let cert = plugin
            .read_credential(br#"{"status":{"clientCertificateData":"x","clientKeyData":"y"}}"#)
            .unwrap_err()
            .to_string();
        assert!(cert.contains("returned a client certificate"), "{cert}");
    }

    #[test]
    fn stderr_is_shown_escaped_and_clipped_to_its_first_lines() {
        assert_eq!(first_lines("\n  \n"), "");
        let shown = first_lines("one\n\u{1b}[31mtwo\nthree\nfour\nfive\nsix\nseven\n");
        assert_eq!(
            shown,
            r#"; its stderr: "one\n\u{1b}[31mtwo\nthree\nfour\nfive" ... 2 more lines"#
        );
    }
}
