//! Opening the approval page in the user's browser, as kubelogin and the cloud CLIs open their
//! login pages: `$BROWSER` first (a `:`-separated list of commands, `%s` standing for the URL,
//! as xdg-utils and Python's `webbrowser` read it), else the platform's opener (`open` on
//! macOS, `cmd /C start` on Windows, `xdg-open` elsewhere); only where a person can see a
//! browser (macOS, Windows, or `DISPLAY`, `WAYLAND_DISPLAY` or `BROWSER` set).
//!
//! The opener is detached from the MCP stream: its stdin, stdout and stderr are null (stdout
//! carries JSON-RPC, and nothing the server starts may read its stdin). The URL is a secret:
//! it is logged at debug level at most.

use std::process::Stdio;

use crate::platform;

/// Why the page cannot be opened here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "no browser can be opened where the server runs (no DISPLAY, WAYLAND_DISPLAY or BROWSER is set)"
    )]
    NoDisplay,
    #[error("the browser could not be started ({command}: {error})")]
    Spawn { command: String, error: String },
}

/// Whether a person can see a browser opened here: a desktop ([`platform::has_desktop`]) or a
/// `BROWSER` command, which knows where to show one.
pub fn can_open() -> Result<(), OpenError> {
    if platform::has_desktop() || std::env::var_os("BROWSER").is_some_and(|value| !value.is_empty())
    {
        Ok(())
    } else {
        Err(OpenError::NoDisplay)
    }
}

/// Opens `url`: the first `$BROWSER` command that starts, else the platform's opener. Returns
/// once the opener started; it is reaped in the background.
pub fn open(url: &str) -> Result<(), OpenError> {
    can_open()?;
    let mut last = None;
    for command in commands(std::env::var("BROWSER").ok().as_deref(), url) {
        match spawn(&command) {
            Ok(()) => return Ok(()),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or(OpenError::NoDisplay))
}

/// The commands to try, each as program and arguments.
fn commands(browser: Option<&str>, url: &str) -> Vec<Vec<String>> {
    let mut commands: Vec<Vec<String>> = browser
        .unwrap_or_default()
        .split(':')
        .filter_map(|entry| {
            let mut words: Vec<String> = entry.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                return None;
            }
            if words.iter().any(|word| word.contains("%s")) {
                for word in &mut words {
                    *word = word.replace("%s", url);
                }
            } else {
                words.push(url.to_string());
            }
            Some(words)
        })
        .collect();
    commands.push(
        platform::BROWSER_OPENER
            .iter()
            .map(|word| word.to_string())
            .chain(std::iter::once(url.to_string()))
            .collect(),
    );
    commands
}

fn spawn(command: &[String]) -> Result<(), OpenError> {
    let (program, arguments) = command.split_first().expect("a command has a program");
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| OpenError::Spawn {
            command: program.clone(),
            error: error.to_string(),
        })?;
    let program = program.clone();
    tokio::spawn(async move {
        match child.wait().await {
            Ok(status) if !status.success() => {
                tracing::warn!(%program, %status, "the browser opener failed");
            }
            Err(error) => tracing::warn!(%program, %error, "the browser opener was lost"),
            Ok(_) => {}
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_commands_come_first_and_take_the_url_where_they_say() {
        let url = "http://127.0.0.1:1/approval/x";
        let commands = commands(Some("firefox --new-window:/opt/open %s now::"), url);
        assert_eq!(commands[0], vec!["firefox", "--new-window", url]);
        assert_eq!(commands[1], vec!["/opt/open", url, "now"]);
        assert_eq!(commands.len(), 3, "then the platform's opener");
        assert_eq!(commands[2].last().map(String::as_str), Some(url));
        assert_eq!(super::commands(None, url).len(), 1);
    }
}
