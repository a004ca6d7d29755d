//! Kubeconfigs for kube-real: one cluster (`https://127.0.0.1:PORT` with the CA inline), one
//! bearer-token user, one context, written as JSON (which kubectl, kube-rs and the Go components
//! all read, YAML being a superset) and readable by the owner only.

use std::io;
use std::path::Path;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use serde_json::json;

/// The context name of the admin kubeconfig.
pub const CONTEXT: &str = "kube-real";

/// A kubeconfig for `user` with `token` on the server at `url` trusting `ca_pem`.
pub fn render(url: &str, ca_pem: &str, user: &str, token: &str, namespace: Option<&str>) -> String {
    let mut context = json!({"cluster": CONTEXT, "user": user});
    if let Some(namespace) = namespace {
        context["namespace"] = json!(namespace);
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": url,
            "certificate-authority-data": BASE64_STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": context}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_json::to_string_pretty(&config).expect("a kubeconfig serialises")
}

/// Writes [`render`] to `path` (owner-only), creating parent directories.
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    crate::pki::write_secret(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_token_context() {
        let text = render("https://127.0.0.1:1", "PEM", "admin", "t0k", Some("shop"));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["current-context"], CONTEXT);
        assert_eq!(value["users"][0]["user"]["token"], "t0k");
        assert_eq!(value["contexts"][0]["context"]["namespace"], "shop");
        assert_eq!(
            value["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
    }
}
