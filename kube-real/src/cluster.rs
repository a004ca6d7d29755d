//! Starting and stopping one cluster: etcd, then the API server (127.0.0.1 only, our own CA and
//! serving certificate, static token and client-certificate authentication, RBAC, service-account keys, an audit log),
//! then the controller-manager, the scheduler and kwok, then N fake Nodes, and readiness checks
//! between the steps. Everything lives in one temporary directory, removed on stop.
//!
//! The processes are started and owned by a supervisor thread that lives as long as the cluster,
//! so their parent-death signal fires when the cluster is dropped without a stop, or when the
//! process that started it dies in any way.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::audit;
use crate::build::{self, Binaries, BuildOutcome};
use crate::kubeconfig;
use crate::pki;
use crate::processes::Process;

/// How long each component gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a component gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The identities in the token file. Only `admin` and `harness` are recorded in the audit log.
pub const ADMIN_USER: &str = "admin";
pub const HARNESS_USER: &str = "kube-real-harness";
/// The User-Agent of the harness's own requests, so request logs can leave them out on any
/// cluster (on an existing one the harness and the product may share credentials).
pub const HARNESS_AGENT: &str = "kube-real-harness";
const COMPONENT_USERS: [&str; 3] = [
    "kube-real-controller-manager",
    "kube-real-scheduler",
    "kube-real-kwok",
];

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fake Nodes to create (kwok makes them Ready).
    pub nodes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { nodes: 3 }
    }
}

/// Why a cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error(
        "{component} did not become ready within {seconds} s: {detail}\n--- last lines of its log ---\n{log}"
    )]
    NotReady {
        component: &'static str,
        seconds: u64,
        detail: String,
        log: String,
    },
    #[error("{component} exited ({status}) while starting\n--- last lines of its log ---\n{log}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
    },
    #[error("the supervisor thread stopped before the cluster was ready")]
    Supervisor,
}

impl StartError {
    /// Whether a component could not bind the port [`free_port`] found free: another process
    /// took it in between, and a start on new ports succeeds.
    fn lost_a_port(&self) -> bool {
        match self {
            Self::Exited { log, .. } | Self::NotReady { log, .. } => {
                log.contains("address already in use")
            }
            _ => false,
        }
    }
}

/// What a started cluster looks like from outside.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The CA that signed the serving certificate (PEM).
    pub ca_pem: String,
    pub admin_token: String,
    pub harness_token: String,
    /// The cluster's directory (certificates, logs, the audit log).
    pub dir: PathBuf,
    pub audit_log: PathBuf,
    pub version: String,
    /// kubectl of the same release, built beside the control plane.
    pub kubectl: PathBuf,
    pub build: BuildOutcome,
    /// From the start of the build to Nodes Ready.
    pub start_time: Duration,
    /// From etcd's start to Nodes Ready (excluding the build).
    pub ready_time: Duration,
}

/// A running cluster. [`Cluster::stop`] stops it; dropping it without a stop kills its processes
/// (and leaves its directory for the next start to sweep).
pub struct Cluster {
    endpoint: Endpoint,
    supervisor: Supervisor,
}

impl Cluster {
    /// Builds if needed and starts a cluster; blocks until it is ready. A start that lost a
    /// port to another process is made again on new ports, up to [`START_ATTEMPTS`] in all.
    pub fn start(options: Options) -> Result<Self, StartError> {
        let mut attempt = 1;
        loop {
            let options = options.clone();
            match Supervisor::start(move |dir, processes| start_all(&options, dir, processes)) {
                Err(lost) if lost.lost_a_port() && attempt < START_ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "kube-real lost a port while starting; starting again on new ports: {lost}"
                    );
                    attempt += 1;
                }
                started => {
                    let (endpoint, supervisor) = started?;
                    return Ok(Self {
                        endpoint,
                        supervisor,
                    });
                }
            }
        }
    }

    /// Where and how to reach it.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The admin kubeconfig (context `kube-real`, user `admin` in `system:masters`).
    pub fn admin_kubeconfig(&self, namespace: Option<&str>) -> String {
        kubeconfig::render(
            &self.endpoint.url,
            &self.endpoint.ca_pem,
            ADMIN_USER,
            &self.endpoint.admin_token,
            namespace,
        )
    }

    /// A client certificate for `user` (in `group`, if any), which the API server accepts; RBAC
    /// gives it what the test binds to that user or group (`system:masters`: everything). The
    /// key is `key_pem` (PKCS#8) or a new P-256 key.
    pub fn client_certificate(
        &self,
        user: &str,
        group: Option<&str>,
        key_pem: Option<&str>,
    ) -> std::io::Result<pki::ClientCertificate> {
        pki::client_certificate(&self.endpoint.dir, user, group, key_pem)
    }

    /// A kube client for the harness's own setup and reads (recorded in the audit log as
    /// `kube-real-harness`, so they are told apart from the admin's). Build one per runtime.
    pub async fn harness_client(&self) -> kube::Client {
        let text = kubeconfig::render(
            &self.endpoint.url,
            &self.endpoint.ca_pem,
            HARNESS_USER,
            &self.endpoint.harness_token,
            None,
        );
        client_from(&text, HARNESS_AGENT).await
    }

    /// Stops every process and removes the directory; blocks until done. Idempotent.
    pub fn stop(&self) {
        self.supervisor.stop();
    }
}

/// kwok and fake Nodes attached to an existing cluster (a kind cluster, say), so pods behave
/// as their image says there too. [`Attached::stop`] deletes the Nodes and stops kwok.
pub struct Attached {
    kubeconfig: String,
    nodes: Vec<String>,
    supervisor: Supervisor,
}

/// The annotation on attached fake Nodes; kwok manages only those.
pub const FAKE_NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

impl Attached {
    /// Builds kwok if needed, starts it against the cluster of `kubeconfig_text` (its current
    /// context) and creates `nodes` fake Nodes; blocks until they are Ready.
    pub fn start(kubeconfig_text: String, nodes: usize) -> Result<Self, StartError> {
        let text = kubeconfig_text.clone();
        let (names, supervisor) =
            Supervisor::start(move |dir, processes| attach_all(&text, nodes, dir, processes))?;
        Ok(Self {
            kubeconfig: kubeconfig_text,
            nodes: names,
            supervisor,
        })
    }

    /// The fake Nodes' names.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Deletes the fake Nodes, stops kwok, removes its directory.
    pub fn stop(&self) {
        let text = self.kubeconfig.clone();
        let nodes = self.nodes.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let api: Api<Node> = Api::all(client_from(&text, HARNESS_AGENT).await);
                for node in nodes {
                    let _ = api.delete(&node, &Default::default()).await;
                }
            })
        });
        let _ = deleted.join();
        self.supervisor.stop();
    }
}

/// The thread that starts a set of processes, owns them (their parent-death signal is tied to
/// it) and stops them when told or when its handle is dropped.
struct Supervisor {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    stopped: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Supervisor {
    /// Runs `start` on a new supervisor thread in a fresh directory; returns what it returned.
    fn start<T: Send + 'static>(
        start: impl FnOnce(&Path, &mut Vec<Process>) -> Result<T, StartError> + Send + 'static,
    ) -> Result<(T, Self), StartError> {
        sweep_stale_dirs();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (stopped_tx, stopped_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kube-real-supervisor".into())
            .spawn(move || {
                let dir = std::env::temp_dir().join(format!(
                    "kube-real-{}-{}",
                    std::process::id(),
                    pki::token().get(..8).unwrap_or("0")
                ));
                let mut processes = Vec::new();
                let started = start(&dir, &mut processes);
                let failed = started.is_err();
                let _ = ready_tx.send(started);
                if !failed {
                    // Returns on a stop, or when the handle (holding the sender) is dropped.
                    let _ = stop_rx.recv();
                }
                for process in processes.iter_mut().rev() {
                    process.stop(STOP_GRACE);
                }
                let _ = std::fs::remove_dir_all(&dir);
                let _ = stopped_tx.send(());
            })
            .map_err(|e| StartError::Io("a supervisor thread".into(), e))?;
        let value = ready_rx.recv().map_err(|_| StartError::Supervisor)??;
        Ok((
            value,
            Self {
                stop: Mutex::new(Some(stop_tx)),
                stopped: Mutex::new(Some(stopped_rx)),
            },
        ))
    }

    /// Stops the processes and waits until they are gone. Idempotent.
    fn stop(&self) {
        let sender = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
            if let Some(stopped) = self
                .stopped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                let _ = stopped.recv();
            }
        }
    }
}

/// A kube client from kubeconfig text (its current context), sending `user_agent`.
pub async fn client_from(kubeconfig_text: &str, user_agent: &str) -> kube::Client {
    let config =
        kube::config::Kubeconfig::from_yaml(kubeconfig_text).expect("the kubeconfig parses");
    let mut config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .expect("the kubeconfig is complete");
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(user_agent).expect("a valid User-Agent"),
    ));
    kube::Client::try_from(config).expect("a client for the cluster")
}

fn start_all(
    options: &Options,
    dir: &Path,
    processes: &mut Vec<Process>,
) -> Result<Endpoint, StartError> {
    let began = Instant::now();
    let io = |what: &str| {
        let what = what.to_string();
        move |e| StartError::Io(what, e)
    };
    let (binaries, build) = build::ensure_built()?;
    std::fs::create_dir_all(dir).map_err(io("the cluster directory"))?;
    let ready_began = Instant::now();
    let pki = pki::generate(dir).map_err(io("certificates and keys"))?;

    let admin_token = pki::token();
    let harness_token = pki::token();
    let component_tokens: Vec<String> = COMPONENT_USERS.iter().map(|_| pki::token()).collect();
    let mut token_file = format!("{admin_token},{ADMIN_USER},admin-uid,\"system:masters\"\n");
    token_file.push_str(&format!(
        "{harness_token},{HARNESS_USER},harness-uid,\"system:masters\"\n"
    ));
    for (user, token) in COMPONENT_USERS.iter().zip(&component_tokens) {
        token_file.push_str(&format!("{token},{user},{user}-uid,\"system:masters\"\n"));
    }
    let token_path = dir.join("tokens.csv");
    pki::write_secret(&token_path, &token_file).map_err(io("the token file"))?;
    let policy = dir.join("audit-policy.yaml");
    std::fs::write(&policy, audit::POLICY).map_err(io("the audit policy"))?;
    let audit_log = dir.join("audit.log");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("a runtime"))?;

    // etcd
    let (etcd_client, etcd_peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{etcd_client}");
    let peer_url = format!("http://127.0.0.1:{etcd_peer}");
    processes.push(spawn(
        &binaries,
        "etcd",
        &[
            "--name=default".into(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ],
        dir,
    )?);
    wait_until(processes, "etcd", || etcd_healthy(etcd_client))?;

    // kube-apiserver
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    processes.push(spawn(
        &binaries,
        "kube-apiserver",
        &[
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            "--endpoint-reconciler-type=none".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", pki.serving_cert.display()),
            format!("--tls-private-key-file={}", pki.serving_key.display()),
            format!("--token-auth-file={}", token_path.display()),
            format!("--client-ca-file={}", pki.client_ca_file.display()),
            "--authorization-mode=RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!(
                "--service-account-key-file={}",
                pki.service_account_public_key.display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                pki.service_account_key.display()
            ),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--allow-privileged=true".into(),
            format!("--audit-policy-file={}", policy.display()),
            format!("--audit-log-path={}", audit_log.display()),
            // No rotation: the API server's default rotates at 100 MB, and a test suite writes
            // more; a rotated log moves the records a test's mark points at into another file.
            "--audit-log-maxsize=0".into(),
            "--profiling=false".into(),
            // Dozens of test namespaces roll out at once: no request limits (kwokctl's
            // DisableQPSLimits does the same).
            "--max-requests-inflight=0".into(),
            "--max-mutating-requests-inflight=0".into(),
            "--enable-priority-and-fairness=false".into(),
        ],
        dir,
    )?);
    let admin_kubeconfig = kubeconfig::render(&url, &pki.ca_pem, ADMIN_USER, &admin_token, None);
    let admin = runtime.block_on(client_from(&admin_kubeconfig, HARNESS_AGENT));
    wait_until(processes, "kube-apiserver", || {
        runtime
            .block_on(
                admin.request_text(
                    http::Request::get("/readyz")
                        .body(Vec::new())
                        .expect("a request"),
                ),
            )
            .map(|body| body == "ok")
            .map_err(|e| e.to_string())
    })?;

    // The controller-manager, the scheduler and kwok, each with its own identity.
    let component_kubeconfig = |index: usize| -> Result<PathBuf, StartError> {
        let user = COMPONENT_USERS[index];
        let path = dir.join(format!("{user}.kubeconfig"));
        let text = kubeconfig::render(&url, &pki.ca_pem, user, &component_tokens[index], None);
        kubeconfig::write(&path, &text).map_err(io("a component kubeconfig"))?;
        Ok(path)
    };
    let kcm_kubeconfig = component_kubeconfig(0)?;
    processes.push(spawn(
        &binaries,
        "kube-controller-manager",
        &[
            format!("--kubeconfig={}", kcm_kubeconfig.display()),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()),
            format!("--cert-dir={}", dir.join("kcm-certs").display()),
            format!(
                "--service-account-private-key-file={}",
                pki.service_account_key.display()
            ),
            format!("--root-ca-file={}", pki.ca_file.display()),
            "--node-monitor-period=5s".into(),
            "--node-monitor-grace-period=40s".into(),
            "--profiling=false".into(),
            // The defaults (20 requests a second, 5 workers) throttle a test suite, not a cluster.
            "--kube-api-qps=5000".into(),
            "--kube-api-burst=10000".into(),
            "--concurrent-deployment-syncs=10".into(),
            "--concurrent-replicaset-syncs=10".into(),
            "--concurrent-daemonset-syncs=10".into(),
            "--concurrent-statefulset-syncs=10".into(),
        ],
        dir,
    )?);
    let scheduler_kubeconfig = component_kubeconfig(1)?;
    processes.push(spawn(
        &binaries,
        "kube-scheduler",
        &[
            format!("--kubeconfig={}", scheduler_kubeconfig.display()),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()),
            format!("--cert-dir={}", dir.join("scheduler-certs").display()),
            "--profiling=false".into(),
            "--kube-api-qps=5000".into(),
            "--kube-api-burst=10000".into(),
        ],
        dir,
    )?);
    let kwok_kubeconfig = component_kubeconfig(2)?;
    start_kwok_and_nodes(
        &binaries,
        &kwok_kubeconfig,
        None,
        options.nodes,
        &runtime,
        &admin,
        dir,
        processes,
    )?;
    drop(runtime);

    Ok(Endpoint {
        url,
        ca_pem: pki.ca_pem,
        admin_token,
        harness_token,
        dir: dir.to_path_buf(),
        audit_log,
        version: binaries.version().to_string(),
        kubectl: binaries.path("kubectl"),
        build,
        start_time: began.elapsed(),
        ready_time: ready_began.elapsed(),
    })
}

/// Starts kwok with our stages (managing every Node, or only those with
/// [`FAKE_NODE_ANNOTATION`] when `only_fake` names it), creates `count` Nodes and waits until
/// they are Ready and untainted. Returns their names.
#[allow(clippy::too_many_arguments)]
fn start_kwok_and_nodes(
    binaries: &Binaries,
    kubeconfig: &Path,
    only_fake: Option<(&str, &str)>,
    count: usize,
    runtime: &tokio::runtime::Runtime,
    client: &kube::Client,
    dir: &Path,
    processes: &mut Vec<Process>,
) -> Result<Vec<String>, StartError> {
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--node-ip=127.0.0.1".into(),
        "--node-lease-duration-seconds=40".into(),
        "--cidr=10.244.0.0/16".into(),
    ];
    match only_fake {
        None => args.push("--manage-all-nodes=true".into()),
        Some((key, value)) => args.push(format!(
            "--manage-nodes-with-annotation-selector={key}={value}"
        )),
    }
    for stage in binaries.stages() {
        args.push(format!("--config={}", stage.display()));
    }
    processes.push(spawn(binaries, "kwok", &args, dir)?);
    let names: Vec<String> = (0..count).map(|i| format!("kube-real-node-{i}")).collect();
    runtime.block_on(create_nodes(client, &names, only_fake))?;
    let nodes: Api<Node> = Api::all(client.clone());
    wait_until(processes, "kwok", || {
        let ready = names
            .iter()
            .filter(|name| {
                runtime
                    .block_on(nodes.get_opt(name))
                    .ok()
                    .flatten()
                    .is_some_and(|node| node_ready(&node))
            })
            .count();
        if ready == names.len() {
            Ok(true)
        } else {
            Err(format!("{ready} of {count} Nodes Ready and untainted"))
        }
    })?;
    Ok(names)
}

/// kwok and fake Nodes on an existing cluster, with its own kubeconfig (written to `dir`).
fn attach_all(
    kubeconfig_text: &str,
    count: usize,
    dir: &Path,
    processes: &mut Vec<Process>,
) -> Result<Vec<String>, StartError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e| StartError::Io(what, e)
    };
    let (binaries, _) = build::ensure_built()?;
    std::fs::create_dir_all(dir).map_err(io("the kwok directory"))?;
    let kubeconfig = dir.join("kwok.kubeconfig");
    kubeconfig::write(&kubeconfig, kubeconfig_text).map_err(io("kwok's kubeconfig"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("a runtime"))?;
    let client = runtime.block_on(client_from(kubeconfig_text, HARNESS_AGENT));
    start_kwok_and_nodes(
        &binaries,
        &kubeconfig,
        Some(FAKE_NODE_ANNOTATION),
        count,
        &runtime,
        &client,
        dir,
        processes,
    )
}

fn spawn(
    binaries: &Binaries,
    name: &'static str,
    args: &[String],
    dir: &Path,
) -> Result<Process, StartError> {
    Process::spawn(name, &binaries.path(name), args, dir)
        .map_err(|e| StartError::Io(format!("starting {name}"), e))
}

/// Polls `check` until it says ready, the component exits, or [`READY_TIMEOUT`] passes.
fn wait_until(
    processes: &mut [Process],
    component: &'static str,
    mut check: impl FnMut() -> Result<bool, String>,
) -> Result<(), StartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut detail;
    loop {
        for process in processes.iter_mut() {
            if let Some(status) = process.exited() {
                return Err(StartError::Exited {
                    component: process.name,
                    status: status.to_string(),
                    log: process.log_tail(),
                });
            }
        }
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => detail = "not ready".into(),
            Err(e) => detail = e,
        }
        if Instant::now() > deadline {
            let log = processes
                .iter()
                .find(|p| p.name == component)
                .map(Process::log_tail)
                .unwrap_or_default();
            return Err(StartError::NotReady {
                component,
                seconds: READY_TIMEOUT.as_secs(),
                detail,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn etcd_healthy(port: u16) -> Result<bool, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer.contains("\"health\":\"true\""))
}

async fn create_nodes(
    client: &kube::Client,
    names: &[String],
    annotation: Option<(&str, &str)>,
) -> Result<(), StartError> {
    let nodes: Api<Node> = Api::all(client.clone());
    for name in names {
        let mut node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
        });
        if let Some((key, value)) = annotation {
            node["metadata"]["annotations"] = json!({key: value});
        }
        let node: Node = serde_json::from_value(node).expect("a Node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .map_err(|e| {
                StartError::Io(
                    format!("creating Node {name}"),
                    std::io::Error::other(e.to_string()),
                )
            })?;
    }
    Ok(())
}

/// Ready=True and no taints (the node lifecycle controller removes `not-ready` once Ready).
fn node_ready(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    let untainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_none_or(|taints| taints.is_empty());
    ready && untainted
}

/// Starts in all when a component loses its port to another process ([`Cluster::start`]).
const START_ATTEMPTS: u32 = 3;

/// A free TCP port on 127.0.0.1 (free when asked; the component binds it right after, unless
/// another process takes it first: see [`START_ATTEMPTS`]).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Removes the directories of clusters whose process died without stopping them.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kube-real-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_port_taken_in_between_starts_again() {
        let exited = |log: &str| StartError::Exited {
            component: "etcd",
            status: "exit status: 1".into(),
            log: log.into(),
        };
        let lost = "listen tcp 127.0.0.1:41234: bind: address already in use";
        assert!(exited(lost).lost_a_port());
        assert!(
            StartError::NotReady {
                component: "kube-apiserver",
                seconds: 60,
                detail: "not ready".into(),
                log: lost.into(),
            }
            .lost_a_port()
        );
        assert!(!exited("open /tmp/x: permission denied").lost_a_port());
        assert!(!StartError::Supervisor.lost_a_port());
    }
}
