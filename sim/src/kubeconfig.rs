//! The kubeconfig a sim hands to clients: one cluster, one user without credentials (the sim does
//! not authenticate; the user's name is what 403 messages quote), one context named `kube-sim`,
//! optionally with a default namespace. Written as YAML with JSON-quoted scalars, which both
//! kubectl and kube-rs read.

use std::io;
use std::path::Path;

/// The context name in every kubeconfig the sim writes.
pub const CONTEXT: &str = "kube-sim";

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The kubeconfig text for a server at `url`.
pub fn render(url: &str, user: &str, namespace: Option<&str>) -> String {
    let namespace_line = namespace
        .map(|ns| format!("    namespace: {}\n", quote(ns)))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {user}\n{namespace_line}current-context: {CONTEXT}\npreferences: {{}}\nusers:\n- name: {user}\n  user: {{}}\n",
        server = quote(url),
        user = quote(user),
    )
}

/// Writes [`render`] to `path`, creating parent directories.
pub fn write(path: &Path, url: &str, user: &str, namespace: Option<&str>) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, render(url, user, namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_context() {
        let text = render("http://127.0.0.1:1234", "alice", Some("shop"));
        assert!(text.contains("server: \"http://127.0.0.1:1234\""));
        assert!(text.contains("current-context: kube-sim"));
        assert!(text.contains("namespace: \"shop\""));
        assert!(text.contains("- name: \"alice\""));
        assert!(!render("http://x", "u", None).contains("namespace"));
    }
}
