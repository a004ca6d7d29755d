//! The kubeconfig settings managed clusters use, each through a history, an approved undo and a
//! status on kube-real (kube-sim has no authentication or TLS, so these are kube-real only):
//! client certificates, a rotated token file, HTTP CONNECT (plain and TLS) and SOCKS5 proxies,
//! `tls-server-name`, `insecure-skip-tls-verify`, impersonation, relative paths and a
//! `KUBECONFIG` list.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use kube_sim::Scenario;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::backend::{Backend, RealCluster};
use super::exec_plugin::{account_token, deploy, host_with, undo};
use super::host::{Answer, Host, HostOptions, Lifecycle, refusal, structured, tempdir, text};

/// The cluster entry of kube-real, trusting its CA inline; `extra` adds settings.
fn cluster(real: &kube_real::Cluster, extra: Value) -> Value {
    let endpoint = real.endpoint();
    let mut cluster = json!({
        "server": endpoint.url,
        "certificate-authority-data": BASE64_STANDARD.encode(&endpoint.ca_pem),
    });
    merge(&mut cluster, extra);
    cluster
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// A kubeconfig of one context, `managed`, with `cluster` and `user`.
fn kubeconfig(cluster: Value, user: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "managed",
        "clusters": [{"name": "real", "cluster": cluster}],
        "users": [{"name": "someone", "user": user}],
        "contexts": [{"name": "managed", "context": {"cluster": "real", "user": "someone", "namespace": "default"}}],
    })
}

fn write(dir: &Path, name: &str, config: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn admin_user(real: &kube_real::Cluster) -> Value {
    json!({"token": real.endpoint().admin_token})
}

/// History, an approved undo and status on the host's "shop" namespace, all through the
/// `managed` context; the undo's structured result.
async fn history_undo_status(host: &Host) -> Value {
    let shop = host.cluster.ns("shop");
    let history = structured(&host.call("k8s_rollout_history", deploy(&shop)).await).clone();
    assert_eq!(history["context"], "managed", "{history}");
    host.answer(Answer::approve("jane"));
    let undone = structured(&host.call("k8s_rollout_undo", undo(&shop)).await).clone();
    assert_eq!(undone["context"], "managed", "{undone}");
    let status = structured(&host.call("k8s_rollout_status", deploy(&shop)).await).clone();
    assert_eq!(status["context"], "managed", "{status}");
    let patches: Vec<_> = host
        .writes()
        .await
        .into_iter()
        .filter(|write| write.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].status, 200, "{patches:?}");
    undone
}

/// The API server's records of the undo's PATCH in `namespace` since `since`, once its audit
/// log holds one (it writes an entry just after answering).
async fn undo_patches(
    real: &kube_real::Cluster,
    since: kube_real::audit::Mark,
    namespace: &str,
) -> Vec<kube_real::audit::AuditRecord> {
    let read = || {
        kube_real::audit::read(&real.endpoint().audit_log, since)
            .into_iter()
            .filter(|r| {
                r.verb == "patch" && !r.dry_run() && r.namespace.as_deref() == Some(namespace)
            })
            .collect::<Vec<_>>()
    };
    for _ in 0..50 {
        let patches = read();
        if !patches.is_empty() {
            return patches;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    read()
}

fn asked_writes_as(host: &Host, user: &str) {
    let expected = format!("Writes as: kube user \"{user}\"");
    assert!(
        host.asked()
            .iter()
            .any(|question| question.contains(&expected)),
        "{expected} in {:?}",
        host.asked()
    );
}

/// A PEM key converted by openssl to its traditional form (PKCS#1 RSA, SEC1 EC), as kubeadm
/// and `openssl genrsa` write them.
fn traditional(dir: &Path, pkcs8: &str) -> String {
    let path = dir.join("pkcs8.key");
    std::fs::write(&path, pkcs8).unwrap();
    let output = Command::new("openssl")
        .args(["pkey", "-traditional", "-in"])
        .arg(&path)
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_client_certificate_from_files_with_an_rsa_key_is_who_writes() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-cert-files");
    let generated = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl runs");
    assert!(generated.status.success(), "{generated:?}");
    let rsa = String::from_utf8(generated.stdout).unwrap();
    let issued = real
        .client_certificate("cert-rsa", Some("system:masters"), Some(&rsa))
        .unwrap();
    let key = traditional(dir.path(), &issued.key_pem);
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
    std::fs::write(dir.path().join("client.crt"), &issued.cert_pem).unwrap();
    std::fs::write(dir.path().join("client.key"), &key).unwrap();
    let user = json!({
        "client-certificate": dir.path().join("client.crt"),
        "client-key": dir.path().join("client.key"),
    });
    let config = kubeconfig(cluster(real, json!({})), user);
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    history_undo_status(&host).await;
    asked_writes_as(&host, "cert-rsa");
}

#[tokio::test]
async fn a_client_certificate_inline_with_an_ec_key_is_who_writes() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-cert-inline");
    let issued = real
        .client_certificate("cert-ec", Some("system:masters"), None)
        .unwrap();
    let key = traditional(dir.path(), &issued.key_pem);
    assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{key}");
    let user = json!({
        "client-certificate-data": BASE64_STANDARD.encode(&issued.cert_pem),
        "client-key-data": BASE64_STANDARD.encode(&key),
    });
    let config = kubeconfig(cluster(real, json!({})), user);
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    history_undo_status(&host).await;
    asked_writes_as(&host, "cert-ec");
}

#[tokio::test]
async fn a_token_file_rotated_between_calls_is_read_again() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-token-file");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &real.endpoint().admin_token).unwrap();
    let config = kubeconfig(cluster(real, json!({})), json!({"tokenFile": token_file}));
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    let shop = host.cluster.ns("shop");
    let since = kube_real::audit::mark(&real.endpoint().audit_log);
    let history = structured(&host.call("k8s_rollout_history", deploy(&shop)).await).clone();
    assert_eq!(history["context"], "managed");
    let reads = kube_real::audit::read(&real.endpoint().audit_log, since);
    let read_by: Vec<_> = reads
        .iter()
        .filter(|r| r.namespace.as_deref() == Some(shop.as_str()))
        .map(|r| r.user.as_str())
        .collect();
    assert!(
        !read_by.is_empty() && read_by.iter().all(|user| *user == kube_real::ADMIN_USER),
        "the history read with the file's first token: {read_by:?}"
    );
    let since = kube_real::audit::mark(&real.endpoint().audit_log);

    // Rotated as the kubelet rotates a projected token: a new file renamed over the old one.
    let rotated = account_token(real, dir.path(), &shop, "rotated");
    std::fs::write(dir.path().join("token.new"), &rotated).unwrap();
    std::fs::rename(dir.path().join("token.new"), &token_file).unwrap();
    host.answer(Answer::approve("jane"));
    structured(&host.call("k8s_rollout_undo", undo(&shop)).await);
    structured(&host.call("k8s_rollout_status", deploy(&shop)).await);

    let patches = undo_patches(real, since, &shop).await;
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].status, 200, "{patches:?}");
    assert_eq!(
        patches[0].user,
        format!("system:serviceaccount:{shop}:rotated"),
        "the write used the token now in the file"
    );
}

/// What a loopback proxy was asked to connect to.
type Targets = Arc<Mutex<Vec<String>>>;

/// An HTTP CONNECT proxy on loopback, over TLS with `tls`'s certificate if given; its URL and
/// the targets it connected to.
async fn connect_proxy(tls: Option<TlsAcceptor>) -> (String, Targets) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let targets = Targets::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (seen, tls) = (seen.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(client) = acceptor.accept(client).await {
                            tunnel(client, seen).await;
                        }
                    }
                    None => tunnel(client, seen).await,
                }
            });
        }
    });
    (url, targets)
}

/// Reads a CONNECT request from `client`, records its target and joins the two.
async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(mut client: S, seen: Targets) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        if client.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split(' ').next())
    else {
        let _ = client.write_all(b"HTTP/1.1 405 CONNECT only\r\n\r\n").await;
        return;
    };
    seen.lock().unwrap().push(target.to_string());
    let Ok(mut server) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// A TLS acceptor with a new self-signed certificate for 127.0.0.1, and that certificate (PEM).
fn loopback_tls() -> (TlsAcceptor, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (TlsAcceptor::from(Arc::new(config)), certificate.pem())
}

/// A SOCKS5 proxy (no authentication, CONNECT only) on loopback; its URL and the targets it
/// connected to.
async fn socks5_proxy() -> (String, Targets) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("socks5://{}", listener.local_addr().unwrap());
    let targets = Targets::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Some(target) = socks5_handshake(&mut client).await else {
                    return;
                };
                seen.lock().unwrap().push(target.clone());
                let Ok(mut server) = TcpStream::connect(&target).await else {
                    let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                    return;
                };
                if client
                    .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (url, targets)
}

/// Reads the greeting (choosing "no authentication") and the CONNECT request; the target as
/// `host:port`.
async fn socks5_handshake(client: &mut TcpStream) -> Option<String> {
    let mut greeting = [0; 2];
    client.read_exact(&mut greeting).await.ok()?;
    let mut methods = vec![0; usize::from(greeting[1])];
    client.read_exact(&mut methods).await.ok()?;
    if greeting[0] != 5 || !methods.contains(&0) {
        return None;
    }
    client.write_all(&[5, 0]).await.ok()?;
    let mut request = [0; 4];
    client.read_exact(&mut request).await.ok()?;
    if request[..3] != [5, 1, 0] {
        return None;
    }
    let host = match request[3] {
        1 => {
            let mut ip = [0; 4];
            client.read_exact(&mut ip).await.ok()?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut length = [0; 1];
            client.read_exact(&mut length).await.ok()?;
            let mut name = vec![0; usize::from(length[0])];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        _ => return None,
    };
    let mut port = [0; 2];
    client.read_exact(&mut port).await.ok()?;
    Some(format!("{host}:{}", u16::from_be_bytes(port)))
}

/// The API server's `host:port`.
fn server_address(real: &kube_real::Cluster) -> String {
    real.endpoint()
        .url
        .trim_start_matches("https://")
        .to_string()
}

#[tokio::test]
async fn a_proxy_url_over_http_connect_carries_every_request() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-connect-proxy");
    let (proxy, targets) = connect_proxy(None).await;
    let config = kubeconfig(cluster(real, json!({"proxy-url": proxy})), admin_user(real));
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    history_undo_status(&host).await;
    let targets = targets.lock().unwrap().clone();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|target| *target == server_address(real)),
        "{targets:?}"
    );
}

#[tokio::test]
async fn a_proxy_url_over_https_connect_carries_every_request() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-https-proxy");
    let (tls, proxy_ca) = loopback_tls();
    let (proxy, targets) = connect_proxy(Some(tls)).await;
    // The TLS connection to the proxy trusts the cluster's CA data, so the proxy's CA goes there.
    let both = format!("{}{proxy_ca}", real.endpoint().ca_pem);
    let config = kubeconfig(
        cluster(
            real,
            json!({"proxy-url": proxy, "certificate-authority-data": BASE64_STANDARD.encode(both)}),
        ),
        admin_user(real),
    );
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    history_undo_status(&host).await;
    let targets = targets.lock().unwrap().clone();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|target| *target == server_address(real)),
        "{targets:?}"
    );
}

#[tokio::test]
async fn a_proxy_url_over_socks5_carries_every_request() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-socks5-proxy");
    let (proxy, targets) = socks5_proxy().await;
    let config = kubeconfig(cluster(real, json!({"proxy-url": proxy})), admin_user(real));
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    history_undo_status(&host).await;
    let targets = targets.lock().unwrap().clone();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|target| *target == server_address(real)),
        "{targets:?}"
    );
}

#[tokio::test]
async fn tls_server_name_is_the_name_the_certificate_is_checked_against() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-tls-server-name");
    // kube-real's serving certificate names localhost and 127.0.0.1, nothing else.
    let elsewhere = kubeconfig(
        cluster(real, json!({"tls-server-name": "elsewhere.example"})),
        admin_user(real),
    );
    let host = host_with(write(dir.path(), "elsewhere.json", &elsewhere)).await;
    let shop = host.cluster.ns("shop");
    let message = refusal(&host.call("k8s_rollout_history", deploy(&shop)).await);
    assert!(
        message.contains(
            "presented a certificate that is not valid for the name it was checked against"
        ) && message.contains("\"elsewhere.example\"")
            && message.contains("tls-server-name"),
        "{message}"
    );

    let named = kubeconfig(
        cluster(real, json!({"tls-server-name": "localhost"})),
        admin_user(real),
    );
    let host = host_with(write(dir.path(), "named.json", &named)).await;
    history_undo_status(&host).await;
}

#[tokio::test]
async fn insecure_skip_tls_verify_without_a_ca_works_and_every_approval_and_result_says_so() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-insecure");
    let insecure = json!({"server": real.endpoint().url, "insecure-skip-tls-verify": true});
    let config = kubeconfig(insecure, admin_user(real));
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    let shop = host.cluster.ns("shop");
    let history = host.call("k8s_rollout_history", deploy(&shop)).await;
    host.answer(Answer::approve("jane"));
    let undone = host.call("k8s_rollout_undo", undo(&shop)).await;
    let status = host.call("k8s_rollout_status", deploy(&shop)).await;
    for result in [&history, &undone, &status] {
        structured(result);
        assert!(text(result).contains("NOT verified"), "{}", text(result));
    }
    let asked = host.asked();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|question| question.contains("NOT verified")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn impersonation_is_who_the_api_server_authorizes_the_patch_as() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-impersonation");
    let mut user = admin_user(real);
    merge(
        &mut user,
        json!({"as": "jane-oncall", "as-groups": ["system:masters", "oncall"], "as-uid": "jane-uid-7"}),
    );
    let config = kubeconfig(cluster(real, json!({})), user);
    let host = host_with(write(dir.path(), "kubeconfig.json", &config)).await;
    let since = kube_real::audit::mark(&real.endpoint().audit_log);
    history_undo_status(&host).await;
    asked_writes_as(&host, "jane-oncall");
    let patches = undo_patches(real, since, &host.cluster.ns("shop")).await;
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].user, kube_real::ADMIN_USER);
    assert_eq!(patches[0].impersonated_user.as_deref(), Some("jane-oncall"));
    assert_eq!(patches[0].impersonated_uid.as_deref(), Some("jane-uid-7"));
    assert!(
        patches[0]
            .impersonated_groups
            .iter()
            .any(|group| group == "oncall"),
        "{patches:?}"
    );
}

#[tokio::test]
async fn ca_certificate_and_key_paths_are_relative_to_the_kubeconfigs_directory() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-relative");
    let config_dir = dir.path().join("config");
    let pki = config_dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::write(pki.join("ca.crt"), &real.endpoint().ca_pem).unwrap();
    let issued = real
        .client_certificate("cert-relative", Some("system:masters"), None)
        .unwrap();
    std::fs::write(pki.join("client.crt"), &issued.cert_pem).unwrap();
    std::fs::write(pki.join("client.key"), &issued.key_pem).unwrap();
    let relative = json!({"server": real.endpoint().url, "certificate-authority": "pki/ca.crt"});
    let user = json!({"client-certificate": "pki/client.crt", "client-key": "pki/client.key"});
    let path = write(&config_dir, "kubeconfig.json", &kubeconfig(relative, user));
    // Relative to the kubeconfig's directory, not to the server's working one.
    assert!(!std::env::current_dir().unwrap().join("pki").exists());
    let host = host_with(path).await;
    history_undo_status(&host).await;
    asked_writes_as(&host, "cert-relative");
}

#[tokio::test]
async fn a_kubeconfig_list_skips_a_missing_file_and_merges_the_rest() {
    let Some(RealCluster::Local(real)) = super::backend::real() else {
        return;
    };
    let dir = tempdir::Dir::new("kubeconfig-list");
    let whole = kubeconfig(cluster(real, json!({})), admin_user(real));
    // The context and user in one file, the cluster in another, as people split them.
    let mut contexts = whole.clone();
    contexts["clusters"] = json!([]);
    let clusters = json!({"apiVersion": "v1", "kind": "Config", "clusters": whole["clusters"]});
    let list = std::env::join_paths([
        dir.path().join("missing.json"),
        write(dir.path(), "contexts.json", &contexts),
        write(dir.path(), "clusters.json", &clusters),
    ])
    .unwrap();
    let options = HostOptions::new(Lifecycle::Handshake)
        .on(Backend::Real)
        .env("KUBECONFIG", Path::new(&list));
    let host = Host::start_with(Scenario::demo(), options).await;
    history_undo_status(&host).await;
}
