//! In-cluster configuration on kube-real: with no kubeconfig and `KUBERNETES_SERVICE_HOST` set,
//! the server reads the ServiceAccount token and CA where kube-rs looks for them in a pod
//! (`/var/run/secrets/kubernetes.io/serviceaccount`), says so at start-up, and answers history.
//!
//! The machine's own `/var/run/secrets` is never touched: the server runs in a private user
//! and mount namespace (`unshare --user --map-root-user --mount`) in which a tmpfs covers
//! `/run` (`/var/run` links to it) and the token and CA are copied into it.

use std::process::Stdio;

use kube_sim::Scenario;
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;

use super::backend::Backend;
use super::host::{Host, Lifecycle, params, structured, tempdir};

const BINARY: &str = env!("CARGO_BIN_EXE_k8s-rollout-mcp");

/// Whether this machine lets an unprivileged process make a user and mount namespace.
fn unshare_works() -> bool {
    std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[tokio::test]
async fn without_a_kubeconfig_in_a_pod_the_service_account_is_used() {
    let Some(super::backend::RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    if !unshare_works() {
        eprintln!("skipping: unshare --user --map-root-user --mount is not permitted here");
        return;
    }
    let seeded = Host::start_on(Backend::Real, Scenario::demo(), Lifecycle::Handshake).await;
    let shop = seeded.cluster.ns("shop");
    let endpoint = real.endpoint();
    let admin = real.harness_client().await;
    kube_real::create_namespace_named(&admin, &shop)
        .await
        .unwrap();
    let kubeconfig = kube_real::service_account_kubeconfig(real, &admin, &shop, "default")
        .await
        .unwrap();
    // The token is the one `kubectl create token` would print; this ServiceAccount may read
    // its namespace's workloads through a RoleBinding to the built-in `view` ClusterRole.
    let token = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("\"token\": \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a token in the kubeconfig")
        .to_string();
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "in-cluster-view", "namespace": shop},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": shop}],
    }))
    .unwrap();
    kube::Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(admin.clone(), &shop)
        .create(&Default::default(), &binding)
        .await
        .unwrap();

    let dir = tempdir::Dir::new("in-cluster");
    let secrets = dir.path().join("serviceaccount");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("token"), &token).unwrap();
    std::fs::write(secrets.join("ca.crt"), &endpoint.ca_pem).unwrap();
    std::fs::write(secrets.join("namespace"), &shop).unwrap();
    let port = endpoint
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/');
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io && cp -r {secrets} /run/secrets/kubernetes.io/serviceaccount && exec {BINARY} --audit-log {audit}",
        secrets = secrets.display(),
        audit = dir.path().join("audit.jsonl").display(),
    );
    let log = dir.path().join("stderr.log");
    let mut command = tokio::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", port)
        .env("RUST_LOG", "info");
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("the server starts in-cluster");
    let result = client
        .call_tool(params(
            "k8s_rollout_history",
            json!({"resource_type": "deployment", "name": "api-server"}),
        ))
        .await
        .unwrap();
    let report = structured(&result).clone();
    let _ = client.cancel().await;
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    println!(
        "start-up: {}",
        stderr.lines().find(|l| l.contains("serving")).unwrap_or("")
    );
    assert_eq!(report["context"], "in-cluster");
    assert_eq!(
        report["namespace"], shop,
        "the ServiceAccount's namespace is the default"
    );
    assert!(
        report["revisions"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        stderr.contains("context=in-cluster")
            && stderr.contains("the in-cluster ServiceAccount config (KUBERNETES_SERVICE_HOST is set and there is no kubeconfig)"),
        "{stderr}"
    );
    drop(seeded);
}
