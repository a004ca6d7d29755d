//! Mutating admission on both backends, one rule for both: a JSON merge patch applied to the
//! updates of one workload kind in one namespace that carry a given annotation. On kube-sim it
//! is the sim's own rule ([`kube_sim::Mutation`]); on kube-real it is a real mutating
//! admission webhook: an HTTPS server of the test's own on loopback (a certificate from rcgen
//! for 127.0.0.1, trusted through the configuration's `caBundle`), which applies the merge
//! patch to the object under review and answers with the JSON Patch between the two, registered
//! for that kind and namespace with a `matchConditions` expression for the annotation.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kube_sim::{Mutation, ResourceKind};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::backend::TestCluster;

/// A mutation in force until dropped (on kube-real: the webhook keeps serving while this lives,
/// and its configuration is deleted afterwards).
pub struct Admission {
    server: Option<tokio::task::JoinHandle<()>>,
    configuration: Option<(TestCluster, String)>,
}

impl Admission {
    /// Deletes the webhook's configuration (kube-real) and stops its server.
    pub async fn remove(mut self) {
        if let Some((cluster, name)) = self.configuration.take() {
            cluster.delete_cluster_scoped(CONFIGURATIONS, &name).await;
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

const CONFIGURATIONS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

/// Mutates every update of `kind` objects in the scenario namespace `namespace` that carry the
/// annotation `annotated`, with the JSON merge patch `merge`; dry runs included. On kube-real
/// it returns once a dry-run update of the object `probe` shows the mutation (the API server
/// picks up a new webhook configuration a moment after it is created).
pub async fn mutate(
    cluster: &TestCluster,
    kind: ResourceKind,
    namespace: &str,
    probe: &str,
    annotated: &str,
    merge: Value,
) -> Admission {
    if cluster.backend() == super::backend::Backend::Sim {
        cluster.sim().mutate_writes(
            Mutation::on(kind, merge)
                .in_namespace(namespace)
                .when_annotated(annotated),
        );
        return Admission {
            server: None,
            configuration: None,
        };
    }
    let (address, ca, server) = serve(merge.clone()).await;
    let real_namespace = cluster.ns(namespace);
    let name = format!("e2e-{real_namespace}-{}", kind.plural());
    let configuration = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "mutate.e2e.k8s-rollout-mcp.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "clientConfig": {
                "url": format!("https://{address}/mutate"),
                "caBundle": base64::engine::general_purpose::STANDARD.encode(ca),
            },
            "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"],
                       "resources": [kind.plural()], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": real_namespace}},
            "matchConditions": [{
                "name": "annotated",
                "expression": format!("has(object.metadata.annotations) && '{annotated}' in object.metadata.annotations"),
            }],
        }],
    });
    cluster
        .create_cluster_scoped(CONFIGURATIONS, &configuration)
        .await;
    wait_until_in_force(cluster, kind, namespace, probe, annotated, &merge).await;
    Admission {
        server: Some(server),
        configuration: Some((cluster.clone(), name)),
    }
}

/// Until a dry-run update of `probe` carrying the annotation comes back mutated (10 s at most).
async fn wait_until_in_force(
    cluster: &TestCluster,
    kind: ResourceKind,
    namespace: &str,
    probe: &str,
    annotated: &str,
    merge: &Value,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = cluster
            .dry_run_update(kind.plural(), namespace, probe, |object| {
                object["metadata"]["annotations"][annotated] = json!("probe");
            })
            .await;
        let mut mutated = answer.clone();
        json_patch::merge(&mut mutated, merge);
        if mutated == answer {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook was not in force after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The webhook's HTTPS server: its address, its certificate (PEM) and its task.
async fn serve(merge: Value) -> (SocketAddr, String, tokio::task::JoinHandle<()>) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let certificate = params.self_signed(&key).expect("a certificate");
    let pem = certificate.pem();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("a TLS configuration");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("an address");
    let merge = Arc::new(merge);
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, merge) = (acceptor.clone(), merge.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let merge = merge.clone();
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        let answer = review(&body, &merge).to_string();
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, pem, server)
}

/// The answer to one AdmissionReview: allowed, with the JSON Patch from the object to the object
/// with `merge` applied.
fn review(body: &[u8], merge: &Value) -> Value {
    let review: Value = serde_json::from_slice(body).unwrap_or_default();
    let request = &review["request"];
    let object = &request["object"];
    let mut mutated = object.clone();
    json_patch::merge(&mut mutated, merge);
    let patch = json_patch::diff(object, &mutated);
    let mut response = json!({"uid": request["uid"], "allowed": true});
    if !patch.0.is_empty() {
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&patch).unwrap())
        );
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}
