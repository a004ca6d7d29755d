//! Exec credential plugins as managed clusters use them, on kube-real (kube-sim has no
//! authentication, so whether the API server accepts a plugin's token is only shown there):
//! the plugin runs after `initialize`, once for a whole history, approved undo and status,
//! with an empty stdin, its `args`, `env` and `KUBERNETES_EXEC_INFO`; and a token the API
//! server stops accepting is replaced: a write refused with 401 is reported as not written
//! and not sent again, and a read refused with 401 is retried once with a fresh token.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube_sim::Scenario;
use serde_json::{Value, json};

use super::backend::{Backend, RealCluster};
use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured, tempdir};

/// A plugin that records each run (a line in `runs`, the bytes it could read from stdin in
/// `stdin-bytes`, its `KUBERNETES_EXEC_INFO` in `exec-info`) and prints the token in `token`.
const PLUGIN: &str = r#"#!/bin/sh
dir="$1"
bytes=$(cat | wc -c)
echo "$bytes" >> "$dir/stdin-bytes"
echo run >> "$dir/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$dir/exec-info"
sleep "$PLUGIN_DELAY"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "$dir/token")"
"#;

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// A kubeconfig whose only user is the plugin in `dir`, on kube-real.
fn plugin_kubeconfig(real: &kube_real::Cluster, dir: &Path, namespace: &str) -> PathBuf {
    let plugin = dir.join("plugin");
    std::fs::write(&plugin, PLUGIN).unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let endpoint = real.endpoint();
    let ca = {
        use base64::Engine as _;
        base64::prelude::BASE64_STANDARD.encode(endpoint.ca_pem.as_bytes())
    };
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "managed",
        "clusters": [{"name": "real", "cluster": {"server": endpoint.url, "certificate-authority-data": ca}}],
        "users": [{"name": "plugin", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin,
            "args": [dir],
            "env": [{"name": "PLUGIN_DELAY", "value": "1"}],
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": true,
        }}}],
        "contexts": [{"name": "managed", "context": {"cluster": "real", "user": "plugin", "namespace": namespace}}],
    });
    let path = dir.join("kubeconfig.json");
    std::fs::write(&path, kubeconfig.to_string()).unwrap();
    path
}

/// kubectl as the cluster's admin.
fn kubectl(real: &kube_real::Cluster, dir: &Path, args: &[&str]) -> String {
    let admin = dir.join("admin.kubeconfig");
    if !admin.exists() {
        std::fs::write(&admin, real.admin_kubeconfig(None)).unwrap();
    }
    let output = Command::new(&real.endpoint().kubectl)
        .arg("--kubeconfig")
        .arg(&admin)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A ServiceAccount of `namespace` that may administer it, and a token for it.
pub(super) fn account_token(
    real: &kube_real::Cluster,
    dir: &Path,
    namespace: &str,
    name: &str,
) -> String {
    kubectl(
        real,
        dir,
        &["create", "serviceaccount", name, "-n", namespace],
    );
    let account = format!("{namespace}:{name}");
    kubectl(
        real,
        dir,
        &[
            "create",
            "rolebinding",
            name,
            "--clusterrole=admin",
            "--serviceaccount",
            &account,
            "-n",
            namespace,
        ],
    );
    kubectl(
        real,
        dir,
        &["create", "token", name, "-n", namespace, "--duration=1h"],
    )
    .trim()
    .to_string()
}

/// Deletes the ServiceAccount and waits until the API server refuses its token.
fn revoke(real: &kube_real::Cluster, dir: &Path, namespace: &str, name: &str, token: &str) {
    kubectl(
        real,
        dir,
        &[
            "delete",
            "serviceaccount",
            name,
            "-n",
            namespace,
            "--wait=true",
        ],
    );
    for _ in 0..100 {
        let refused = Command::new(&real.endpoint().kubectl)
            .arg("--kubeconfig")
            .arg(dir.join("admin.kubeconfig"))
            .args(["--token", token, "get", "--raw", "/api"])
            .output()
            .is_ok_and(|output| !output.status.success());
        if refused {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the API server still accepts the token of the deleted ServiceAccount {name}");
}

pub(super) async fn host_with(kubeconfig: PathBuf) -> Host {
    let mut options = HostOptions::new(Lifecycle::Handshake).on(Backend::Real);
    options.kubeconfig = Some(kubeconfig);
    Host::start_with(Scenario::demo(), options).await
}

pub(super) fn deploy(namespace: &str) -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": namespace})
}

pub(super) fn undo(namespace: &str) -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": namespace, "to_revision": 3, "reason": "1.3.0 never became available"})
}

#[tokio::test]
async fn a_slow_plugin_runs_after_initialize_once_for_history_undo_and_status_with_empty_stdin() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("exec-plugin");
    std::fs::write(dir.path().join("token"), &real.endpoint().admin_token).unwrap();
    // The host seeds its own namespaces; the kubeconfig's namespace is the one it names "shop".
    let host = host_with(plugin_kubeconfig(real, dir.path(), "default")).await;
    let shop = host.cluster.ns("shop");
    assert_eq!(
        runs(dir.path()),
        0,
        "initialize and tools/list were answered before the plugin ran"
    );
    host.client
        .peer()
        .send_request(rmcp::model::ClientRequest::PingRequest(Default::default()))
        .await
        .expect("ping");

    let history = structured(&host.call("k8s_rollout_history", deploy(&shop)).await).clone();
    assert_eq!(history["context"], "managed");
    host.answer(Answer::approve("jane"));
    let undone = structured(&host.call("k8s_rollout_undo", undo(&shop)).await).clone();
    assert_eq!(undone["context"], "managed", "{undone}");
    structured(&host.call("k8s_rollout_status", deploy(&shop)).await);

    assert_eq!(
        runs(dir.path()),
        1,
        "one run served reads, the write and the identity"
    );
    let stdin = std::fs::read_to_string(dir.path().join("stdin-bytes")).unwrap();
    assert_eq!(stdin.trim(), "0", "the plugin read nothing from its stdin");
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("exec-info")).unwrap())
            .unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["spec"]["interactive"], false);
    assert_eq!(info["spec"]["cluster"]["server"], real.endpoint().url);
    assert!(
        host.asked()
            .iter()
            .any(|question| question.contains("Writes as: kube user \"admin\"")),
        "{:?}",
        host.asked()
    );
}

#[tokio::test]
async fn a_revoked_token_fails_the_write_unsent_again_and_a_read_is_retried_once_fresh() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("exec-plugin-revoked");
    let host = host_with(plugin_kubeconfig(real, dir.path(), "default")).await;
    let shop = host.cluster.ns("shop");
    let first = account_token(real, dir.path(), &shop, "first");
    let second = account_token(real, dir.path(), &shop, "second");
    let third = account_token(real, dir.path(), &shop, "third");
    std::fs::write(dir.path().join("token"), &first).unwrap();
    structured(&host.call("k8s_rollout_history", deploy(&shop)).await);
    assert_eq!(runs(dir.path()), 1);

    // While the human decides, the token stops working; the plugin would now print another.
    let (revoked_dir, revoked_ns) = (dir.path().to_path_buf(), shop.clone());
    let next = second.clone();
    host.while_asked(move || {
        revoke(real, &revoked_dir, &revoked_ns, "first", &first);
        std::fs::write(revoked_dir.join("token"), &next).unwrap();
    });
    host.answer(Answer::approve("jane"));
    let message = refusal(&host.call("k8s_rollout_undo", undo(&shop)).await);
    println!("{message}");
    assert!(message.contains("401 Unauthorized"), "{message}");
    let patches: Vec<_> = host
        .writes()
        .await
        .into_iter()
        .filter(|write| write.method == "PATCH")
        .collect();
    assert_eq!(
        patches.len(),
        1,
        "the refused write was not sent again: {patches:?}"
    );
    assert_eq!(patches[0].status, 401);
    let records = host.audit();
    let last = records.last().unwrap();
    assert_eq!(last["event"], "failed", "{last}");

    // The next call gets a fresh token from the plugin.
    host.while_asked(|| {});
    structured(&host.call("k8s_rollout_history", deploy(&shop)).await);
    assert_eq!(runs(dir.path()), 2, "the plugin ran again after the 401");

    // A read refused with 401 is retried once with the plugin's next token.
    revoke(real, dir.path(), &shop, "second", &second);
    std::fs::write(dir.path().join("token"), &third).unwrap();
    let history = structured(&host.call("k8s_rollout_history", deploy(&shop)).await).clone();
    assert_eq!(history["context"], "managed");
    assert_eq!(runs(dir.path()), 3);
}
