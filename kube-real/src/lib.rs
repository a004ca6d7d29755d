//! kube-real: a real Kubernetes control plane on loopback, for tests and development. etcd,
//! kube-apiserver, kube-controller-manager and kube-scheduler are built from Kubernetes' own Go
//! modules (`realkube/`; any served release, [`build`]), with kubectl of the same release beside
//! them; kwok plays the kubelets of N fake Nodes, and pods behave as their image says (a tag
//! containing `crashloop`, `unpullable` or `notready` fails that way, as on kube-sim).
//!
//! - [`Cluster::start`] builds if needed and starts one cluster; the `kube-real` binary wraps it.
//! - [`Attached::start`] gives an existing cluster (kind, say) kwok and fake Nodes instead, so
//!   the same image convention holds there (`kube-real attach`).
//! - [`shared`] is the one cluster of a test binary, started on first use and killed when the test
//!   process exits; tests take a fresh namespace each ([`create_namespace`]) and may mint a
//!   kubeconfig for a ServiceAccount ([`service_account_kubeconfig`]).
//! - The API server's audit log is the request log ([`audit`]).
//! - [`replay`] plays a kube-sim scenario on it, so both backends start from the same history.

pub mod audit;
pub mod build;
mod cluster;
pub mod kubeconfig;
mod pki;
mod processes;
pub mod replay;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;

pub use cluster::{
    ADMIN_USER, Attached, Cluster, Endpoint, FAKE_NODE_ANNOTATION, HARNESS_AGENT, HARNESS_USER,
    Options, StartError, client_from,
};
pub use pki::ClientCertificate;

/// The label on every namespace a test binary creates.
pub const NAMESPACE_LABEL: &str = "kube-real.test/run";

/// The cluster of this test binary: started on first call (which blocks until it is ready) and
/// stopped when the process exits. `Err` if it cannot start, with the reason.
pub fn shared() -> Result<&'static Cluster, &'static str> {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let cluster = Cluster::start(Options::default()).map_err(|e| e.to_string())?;
            // SAFETY: registers a plain function; it runs once at exit.
            unsafe { libc::atexit(stop_shared_at_exit) };
            let endpoint = cluster.endpoint();
            eprintln!(
                "kube-real {} at {} (ready in {:.1} s; build: {:?})",
                endpoint.version,
                endpoint.url,
                endpoint.ready_time.as_secs_f64(),
                endpoint.build
            );
            Ok(cluster)
        })
        .as_ref()
        .map_err(String::as_str)
}

extern "C" fn stop_shared_at_exit() {
    if let Ok(cluster) = shared() {
        cluster.stop();
    }
}

/// Creates a namespace named `PREFIX-N-PID` (unique in this cluster's life), labelled with
/// [`NAMESPACE_LABEL`], and waits for its `default` ServiceAccount (pods need it).
pub async fn create_namespace(client: &kube::Client, prefix: &str) -> Result<String, kube::Error> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    );
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {NAMESPACE_LABEL: std::process::id().to_string()}}
    }))
    .expect("a Namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    wait_for_default_account(client, &name).await?;
    Ok(name)
}

/// Creates namespace `name` (if missing) and waits for its `default` ServiceAccount.
pub async fn create_namespace_named(
    client: &kube::Client,
    name: &str,
) -> Result<String, kube::Error> {
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a Namespace");
    let namespaces = Api::<Namespace>::all(client.clone());
    if namespaces.get_opt(name).await?.is_none() {
        // Another test may create it between the read and the create.
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => {}
            Err(error) => return Err(error),
        }
    }
    wait_for_default_account(client, name).await?;
    Ok(name.to_string())
}

async fn wait_for_default_account(
    client: &kube::Client,
    namespace: &str,
) -> Result<(), kube::Error> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    for _ in 0..300 {
        if accounts.get_opt("default").await?.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Creates ServiceAccount `name` in `namespace` (if missing) and returns a kubeconfig for it
/// (a token valid for an hour, from the TokenRequest API, as `kubectl create token` gets one).
pub async fn service_account_kubeconfig(
    cluster: &Cluster,
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, kube::Error> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    if accounts.get_opt(name).await?.is_none() {
        let account: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("a ServiceAccount");
        accounts.create(&PostParams::default(), &account).await?;
    }
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .expect("a TokenRequest");
    let token = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await?
        .status
        .map(|s| s.token)
        .unwrap_or_default();
    let endpoint = cluster.endpoint();
    Ok(kubeconfig::render(
        &endpoint.url,
        &endpoint.ca_pem,
        &format!("system:serviceaccount:{namespace}:{name}"),
        &token,
        Some(namespace),
    ))
}
