//! Credentials that do not work, each told apart with the context and the fix: an exec plugin
//! that is missing (with its installHint), fails (its stderr), or wants a terminal, a removed
//! auth-provider, a server nobody listens on (kube-sim), a wrong or expired token
//! (401) and a server certificate the context's CA does not trust (kube-real). A kubeconfig with
//! one good context and the broken ones: each broken call fails cleanly, and the good context
//! still answers after it (the server keeps serving).

use std::path::Path;

use kube_sim::{Scenario, Sim};
use serde_json::{Value, json};

use super::host::{Host, HostOptions, Lifecycle, refusal, structured, tempdir};

fn cluster(name: &str, server: &str, ca: Option<&str>) -> Value {
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca {
        cluster["certificate-authority-data"] = json!(ca);
    }
    json!({"name": name, "cluster": cluster})
}

fn context(name: &str, cluster: &str, user: &str) -> Value {
    json!({"name": name, "context": {"cluster": cluster, "user": user, "namespace": "shop"}})
}

async fn host_on(kubeconfig: &Value, dir: &Path, backend: super::backend::Backend) -> Host {
    let path = dir.join("kubeconfig.json");
    std::fs::write(&path, kubeconfig.to_string()).unwrap();
    let mut options = HostOptions::new(Lifecycle::Handshake)
        .on(backend)
        .arg("--allow-context")
        .arg("*")
        .arg("--request-timeout")
        .arg("5s");
    options.kubeconfig = Some(path);
    Host::start_with(Scenario::empty(), options).await
}

fn history_in(context: &str, namespace: &str) -> Value {
    json!({"resource_type": "deployment", "name": "api-server", "namespace": namespace, "context": context})
}

#[tokio::test]
async fn exec_plugins_and_unreachable_servers_are_named_with_the_fix() {
    let sim = Sim::start(Scenario::demo()).await;
    let dir = tempdir::Dir::new("credentials");
    let failing = dir.path().join("failing-plugin");
    std::fs::write(
        &failing,
        "#!/bin/sh\necho 'token expired: run login' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &failing,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let exec = |command: &str| json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command, "interactiveMode": "Never", "installHint": "install kubectl-login from https://example.com/login"}});
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "good",
        "clusters": [cluster("sim", &sim.url(), None), cluster("nowhere", "http://127.0.0.1:9", None)],
        "users": [
            {"name": "plain", "user": {}},
            {"name": "missing", "user": exec("/nonexistent/kubectl-login")},
            {"name": "failing", "user": exec(failing.to_str().unwrap())},
            {"name": "always", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws", "interactiveMode": "Always"}}},
            {"name": "gcp", "user": {"auth-provider": {"name": "gcp"}}},
        ],
        "contexts": [
            context("good", "sim", "plain"),
            context("missing-plugin", "sim", "missing"),
            context("failing-plugin", "sim", "failing"),
            context("always-interactive", "sim", "always"),
            context("gcp-provider", "sim", "gcp"),
            context("unreachable", "nowhere", "plain"),
        ],
    });
    let host = host_on(&kubeconfig, dir.path(), super::backend::Backend::Sim).await;
    let cases = [
        (
            "missing-plugin",
            "context \"missing-plugin\": the exec credential plugin \"/nonexistent/kubectl-login\" was not found (install kubectl-login from https://example.com/login)",
            "MCP hosts start servers with a minimal PATH, not your login shell's: give its absolute path",
        ),
        (
            "failing-plugin",
            "failed (exit status: 3); its stderr: \"token expired: run login\"",
            "run it in a terminal to see why",
        ),
        (
            "always-interactive",
            "context \"always-interactive\": the exec credential plugin \"aws\" has interactiveMode: Always",
            "log in once in a terminal",
        ),
        (
            "gcp-provider",
            "context \"gcp-provider\": the user's auth-provider \"gcp\" is no longer supported",
            "gke-gcloud-auth-plugin",
        ),
        (
            "unreachable",
            "cannot reach the API server at http://127.0.0.1:9 (context \"unreachable\")",
            "check that the cluster is up and the kubeconfig points at it",
        ),
    ];
    for (context, what, fix) in cases {
        let message = refusal(
            &host
                .call("k8s_rollout_history", history_in(context, "shop"))
                .await,
        );
        println!("{context}: {message}");
        assert!(message.contains(what), "{message}");
        assert!(message.contains(fix), "{message}");
        let report = structured(
            &host
                .call("k8s_rollout_history", history_in("good", "shop"))
                .await,
        )
        .clone();
        assert_eq!(report["context"], "good");
    }
}

/// A CA that signed nothing the API server presents.
fn stranger_ca() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    base64_encode(pem.as_bytes())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::prelude::BASE64_STANDARD.encode(bytes)
}

/// On kube-real: a wrong token is a 401 and a foreign CA an untrusted certificate, each named.
#[tokio::test]
async fn a_wrong_token_and_a_wrong_ca_are_told_apart_on_a_real_api_server() {
    let Some(super::backend::RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let seeded = Host::start_on(
        super::backend::Backend::Real,
        Scenario::demo(),
        Lifecycle::Handshake,
    )
    .await;
    let shop = seeded.cluster.ns("shop");
    let endpoint = real.endpoint();
    let ca = base64_encode(endpoint.ca_pem.as_bytes());
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "good",
        "clusters": [cluster("real", &endpoint.url, Some(&ca)), cluster("real-stranger-ca", &endpoint.url, Some(&stranger_ca()))],
        "users": [
            {"name": "admin", "user": {"token": endpoint.admin_token}},
            {"name": "wrong", "user": {"token": "not-a-token-this-server-issued"}},
        ],
        "contexts": [
            context("good", "real", "admin"),
            context("wrong-token", "real", "wrong"),
            context("wrong-ca", "real-stranger-ca", "admin"),
        ],
    });
    let dir = tempdir::Dir::new("credentials");
    let host = host_on(&kubeconfig, dir.path(), super::backend::Backend::Real).await;
    let cases = [
        (
            "wrong-token",
            format!(
                "the API server at {} rejected the credentials of context \"wrong-token\" (401 Unauthorized",
                endpoint.url
            ),
            "the token is expired or wrong; get a fresh one",
        ),
        (
            "wrong-ca",
            format!(
                "the API server at {} (context \"wrong-ca\") presented a certificate that the context's certificate authority does not trust",
                endpoint.url
            ),
            "check the cluster's certificate-authority-data in the kubeconfig",
        ),
    ];
    for (context, what, fix) in cases {
        let message = refusal(
            &host
                .call("k8s_rollout_history", history_in(context, &shop))
                .await,
        );
        println!("{context}: {message}");
        assert!(message.contains(&what), "{message}");
        assert!(message.contains(fix), "{message}");
        let report = structured(
            &host
                .call("k8s_rollout_history", history_in("good", &shop))
                .await,
        )
        .clone();
        assert_eq!(report["context"], "good");
    }
    drop(seeded);
}
