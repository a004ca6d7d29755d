//! The two clusters an end-to-end test runs on: kube-sim (instant, with faults, a clock and an
//! exact request log) and kube-real (the real API server and controllers, one per test binary,
//! see the `kube-real` crate). A test body takes a [`Backend`] and gets a [`TestCluster`] seeded
//! from the same [`Scenario`]; on kube-real the scenario's history is replayed through the API
//! (each template change applied, then waited on until the controller has observed it, and the
//! workloads left settled), in fresh namespaces that the test sees under the scenario's names
//! (see [`TestCluster::ns`]).
//!
//! The request log on kube-real is the API server's own audit log, filtered to the identity the
//! product and kubectl use (`admin`) and to the test's namespaces.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::config::Kubeconfig;
use kube_real::replay::Objects;
use kube_sim::{RequestRecord, ResourceKind, Scenario, Sim, SimOptions};
use serde_json::Value;

/// Which cluster a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sim,
    Real,
}

impl Backend {
    /// Whether times can be set: only the sim seeds history "days ago"; on kube-real everything
    /// happened seconds ago.
    pub fn has_clock(self) -> bool {
        self == Backend::Sim
    }
}

/// The real cluster of this test binary, or why there is none. Without Go (or with
/// `KUBE_REAL=off`) the real backend is skipped, with a line saying so, unless
/// `REQUIRE_KUBE_REAL=1` (CI) makes that a failure. With `K8S_ROLLOUT_MCP_E2E_KUBECONFIG` the
/// tests use that existing cluster (its current context) instead of starting one: it needs
/// kwok's fake Nodes (`kube-real attach`) for pods to follow the image convention, and the API
/// server's audit log at `K8S_ROLLOUT_MCP_E2E_AUDIT_LOG` for tests that read the request log
/// (`scripts/kind-e2e.sh` sets up both on kind).
pub fn real() -> Option<&'static RealCluster> {
    static REAL: std::sync::OnceLock<Result<RealCluster, String>> = std::sync::OnceLock::new();
    let found = REAL.get_or_init(|| {
        if std::env::var("KUBE_REAL").as_deref() == Ok("off") {
            return Err("KUBE_REAL=off".to_string());
        }
        if let Ok(path) = std::env::var("K8S_ROLLOUT_MCP_E2E_KUBECONFIG") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("K8S_ROLLOUT_MCP_E2E_KUBECONFIG={path}: {e}"))?;
            let audit_log = std::env::var_os("K8S_ROLLOUT_MCP_E2E_AUDIT_LOG").map(PathBuf::from);
            return Ok(RealCluster::Existing {
                kubeconfig: text,
                audit_log,
            });
        }
        if let Err(e) = kube_real::build::go_available() {
            return Err(format!("the Go toolchain is not available ({e})"));
        }
        kube_real::shared()
            .map(RealCluster::Local)
            .map_err(str::to_string)
    });
    match found {
        Ok(cluster) => Some(cluster),
        Err(why) => {
            assert!(
                std::env::var("REQUIRE_KUBE_REAL").as_deref() != Ok("1"),
                "REQUIRE_KUBE_REAL=1 but kube-real cannot run: {why}"
            );
            eprintln!("skipping the kube-real backend: {why}");
            None
        }
    }
}

/// A real cluster: ours on loopback, or one the user points the tests at.
pub enum RealCluster {
    Local(&'static kube_real::Cluster),
    Existing {
        kubeconfig: String,
        audit_log: Option<PathBuf>,
    },
}

impl RealCluster {
    /// The kubeconfig the product (and kubectl) get.
    fn kubeconfig(&self) -> Kubeconfig {
        let text = match self {
            RealCluster::Local(cluster) => cluster.admin_kubeconfig(None),
            RealCluster::Existing { kubeconfig, .. } => kubeconfig.clone(),
        };
        Kubeconfig::from_yaml(&text).expect("the kubeconfig parses")
    }

    /// The harness's own client (its User-Agent keeps its requests out of the request log).
    async fn harness_client(&self) -> kube::Client {
        match self {
            RealCluster::Local(cluster) => cluster.harness_client().await,
            RealCluster::Existing { kubeconfig, .. } => {
                kube_real::client_from(kubeconfig, kube_real::HARNESS_AGENT).await
            }
        }
    }

    /// The kubectl that is the oracle on this cluster: ours is built with it, of its own
    /// release; for an existing cluster, `kubectl` on PATH.
    pub fn kubectl(&self) -> PathBuf {
        match self {
            RealCluster::Local(cluster) => cluster.endpoint().kubectl.clone(),
            RealCluster::Existing { .. } => PathBuf::from("kubectl"),
        }
    }

    /// The minor version its `/version` reports (`36` for v1.36.3).
    pub async fn minor(&self) -> u32 {
        let version: Value = serde_json::from_str(
            &self
                .harness_client()
                .await
                .request_text(http::Request::get("/version").body(Vec::new()).unwrap())
                .await
                .expect("the API server answers /version"),
        )
        .expect("/version is JSON");
        version["minor"]
            .as_str()
            .and_then(|minor| minor.trim_end_matches('+').parse().ok())
            .unwrap_or_else(|| panic!("a minor version in {version}"))
    }

    /// The API server's audit log, where there is one to read.
    fn audit_log(&self) -> Option<&Path> {
        match self {
            RealCluster::Local(cluster) => Some(&cluster.endpoint().audit_log),
            RealCluster::Existing { audit_log, .. } => audit_log.as_deref(),
        }
    }
}

/// A seeded cluster as a test sees it.
#[derive(Clone)]
pub struct TestCluster {
    inner: Arc<Inner>,
}

enum Inner {
    Sim(Arc<Sim>),
    Real(Real),
}

struct Real {
    cluster: &'static RealCluster,
    objects: Objects,
    /// Scenario namespace -> the fresh one it stands for.
    namespaces: BTreeMap<String, String>,
    mark: Mutex<kube_real::audit::Mark>,
}

impl TestCluster {
    /// Starts a sim or takes fresh namespaces on the real cluster, and seeds `scenario`.
    /// `Backend::Real` needs [`real`] to have returned a cluster.
    pub async fn seed(backend: Backend, scenario: Scenario, options: SimOptions) -> Self {
        let inner = match backend {
            Backend::Sim => Inner::Sim(Arc::new(Sim::start_with(scenario, options).await)),
            Backend::Real => {
                let cluster = real().expect("the kube-real backend is available");
                Inner::Real(Real::seed(cluster, &scenario).await)
            }
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sim(_) => Backend::Sim,
            Inner::Real(_) => Backend::Real,
        }
    }

    /// The sim, for what only it can do (faults, the clock, ticks, open watches).
    pub fn sim(&self) -> &Arc<Sim> {
        match &*self.inner {
            Inner::Sim(sim) => sim,
            Inner::Real(_) => {
                panic!("this step needs kube-sim; the test must not run on kube-real")
            }
        }
    }

    /// The real namespace a scenario namespace stands for (the same name on the sim).
    pub fn ns(&self, logical: &str) -> String {
        match &*self.inner {
            Inner::Sim(_) => logical.to_string(),
            Inner::Real(real) => real
                .namespaces
                .get(logical)
                .cloned()
                .unwrap_or_else(|| logical.to_string()),
        }
    }

    /// Pairs (real, scenario name) of every mapped namespace, longest real name first.
    pub fn namespace_names(&self) -> Vec<(String, String)> {
        match &*self.inner {
            Inner::Sim(_) => Vec::new(),
            Inner::Real(real) => {
                let mut pairs: Vec<(String, String)> = real
                    .namespaces
                    .iter()
                    .map(|(logical, actual)| (actual.clone(), logical.clone()))
                    .collect();
                pairs.sort_by_key(|(actual, _)| std::cmp::Reverse(actual.len()));
                pairs
            }
        }
    }

    /// The kubeconfig for the product, with `namespace` (a scenario name) as the context's.
    pub fn kubeconfig(&self, namespace: Option<&str>) -> String {
        match &*self.inner {
            Inner::Sim(sim) => sim.kubeconfig(),
            Inner::Real(real) => {
                let mut config = real.cluster.kubeconfig();
                if let Some(ns) = namespace {
                    for context in &mut config.contexts {
                        if let Some(context) = context.context.as_mut() {
                            context.namespace = Some(self.ns(ns));
                        }
                    }
                }
                serde_json::to_string(&config).expect("a kubeconfig serialises")
            }
        }
    }

    /// The kubeconfig's current context (`kube-sim`, `kube-real`, or an existing cluster's).
    pub fn context(&self) -> String {
        match &*self.inner {
            Inner::Sim(_) => "kube-sim".to_string(),
            Inner::Real(real) => real
                .cluster
                .kubeconfig()
                .current_context
                .unwrap_or_default(),
        }
    }

    /// The API server's URL.
    pub fn url(&self) -> String {
        match &*self.inner {
            Inner::Sim(sim) => sim.url(),
            Inner::Real(real) => real
                .cluster
                .kubeconfig()
                .clusters
                .first()
                .and_then(|c| c.cluster.as_ref())
                .and_then(|c| c.server.clone())
                .unwrap_or_default(),
        }
    }

    /// One object (`resource` as kubectl spells it), in a scenario namespace.
    pub async fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        match &*self.inner {
            Inner::Sim(sim) => sim.get(resource, namespace, name),
            Inner::Real(real) => real.get(resource, &self.ns(namespace), name).await,
        }
    }

    /// Every object of `resource` in a scenario namespace, in name order.
    pub async fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        match &*self.inner {
            Inner::Sim(sim) => sim.list(resource, namespace),
            Inner::Real(real) => real.list(resource, &self.ns(namespace)).await,
        }
    }

    /// Creates an object in a scenario namespace as another client would (not in the request
    /// log), through the API server's validation on both backends; the object as stored.
    pub async fn create(&self, resource: &str, namespace: &str, mut object: Value) -> Value {
        match &*self.inner {
            Inner::Sim(sim) => sim
                .create(resource, namespace, object)
                .expect("the object is created"),
            Inner::Real(real) => {
                let ns = self.ns(namespace);
                object["metadata"]["namespace"] = Value::from(ns.clone());
                let path = kube_real::replay::collection_path(Real::kind(resource), &ns);
                real.objects
                    .send("POST", &path, Some(&object))
                    .await
                    .unwrap_or_else(|e| panic!("creating {resource} in {ns}: {e}"))
            }
        }
    }

    /// Changes an object as another client would (not in the request log).
    pub async fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        match &*self.inner {
            Inner::Sim(sim) => sim
                .update(resource, namespace, name, change)
                .expect("the update applies"),
            Inner::Real(real) => {
                real.update(resource, &self.ns(namespace), name, "", change)
                    .await
            }
        }
    }

    /// What an update of the object with `change` would store, from a dry run (`PUT` with
    /// `dryRun=All`) as another client would send it.
    pub async fn dry_run_update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        match &*self.inner {
            Inner::Sim(_) => panic!("dry-run updates are for kube-real's webhook probe"),
            Inner::Real(real) => {
                let (kind, ns) = (Real::kind(resource), self.ns(namespace));
                let mut object = real.get(resource, &ns, name).await.expect("the object");
                change(&mut object);
                let path = format!(
                    "{}?dryRun=All",
                    kube_real::replay::object_path(kind, &ns, name)
                );
                real.objects
                    .send("PUT", &path, Some(&object))
                    .await
                    .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
            }
        }
    }

    /// Creates a cluster-scoped object at `collection` (kube-real only; the sim serves none the
    /// tests create).
    pub async fn create_cluster_scoped(&self, collection: &str, object: &Value) {
        let Inner::Real(real) = &*self.inner else {
            panic!("cluster-scoped objects are created on kube-real only")
        };
        real.objects
            .send("POST", collection, Some(object))
            .await
            .unwrap_or_else(|e| panic!("POST {collection}: {e}"));
    }

    /// Deletes a cluster-scoped object (kube-real only), ignoring a missing one.
    pub async fn delete_cluster_scoped(&self, collection: &str, name: &str) {
        if let Inner::Real(real) = &*self.inner {
            let _ = real
                .objects
                .send("DELETE", &format!("{collection}/{name}"), None)
                .await;
        }
    }

    /// Like [`TestCluster::update`] on the status subresource.
    pub async fn update_status(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        match &*self.inner {
            Inner::Sim(sim) => sim
                .update_status(resource, namespace, name, change)
                .expect("the status update applies"),
            Inner::Real(real) => {
                real.update(resource, &self.ns(namespace), name, "/status", change)
                    .await
            }
        }
    }

    /// Every request the product (or kubectl) sent since the last [`TestCluster::clear_requests`].
    pub async fn requests(&self) -> Vec<RequestRecord> {
        match &*self.inner {
            Inner::Sim(sim) => sim.requests(),
            Inner::Real(real) => real.requests().await,
        }
    }

    /// The requests that changed or tried to change the cluster, dry runs included.
    pub async fn mutating_requests(&self) -> Vec<RequestRecord> {
        self.requests()
            .await
            .into_iter()
            .filter(RequestRecord::is_mutating)
            .collect()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        match &*self.inner {
            Inner::Sim(sim) => sim.clear_requests(),
            Inner::Real(real) => {
                if let Some(log) = real.cluster.audit_log() {
                    *real.mark.lock().unwrap() = kube_real::audit::mark(log);
                }
            }
        }
    }

    /// Waits until the workload's controller has seen its latest spec and the rollout has come
    /// to rest (complete, past its deadline, or stuck on a bad image). Instant on the sim, whose
    /// controllers settle inside each write.
    pub async fn settle(&self, resource: &str, namespace: &str, name: &str) {
        if let Inner::Real(real) = &*self.inner {
            let kind = ResourceKind::parse(resource).expect("a workload kind");
            real.objects.settle(kind, &self.ns(namespace), name).await;
        }
    }
}

impl Real {
    async fn seed(cluster: &'static RealCluster, scenario: &Scenario) -> Self {
        let client = cluster.harness_client().await;
        let namespaces = kube_real::replay::namespaces(&client, scenario, true).await;
        let objects = Objects::new(client);
        objects.replay(scenario, &namespaces).await;
        let mark = cluster
            .audit_log()
            .map(kube_real::audit::mark)
            .unwrap_or_default();
        Self {
            cluster,
            objects,
            namespaces,
            mark: Mutex::new(mark),
        }
    }

    fn kind(resource: &str) -> ResourceKind {
        ResourceKind::parse(resource)
            .unwrap_or_else(|| panic!("{resource:?} is not a resource kube-sim knows"))
    }

    async fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.objects.get(Self::kind(resource), ns, name).await
    }

    async fn list(&self, resource: &str, ns: &str) -> Vec<Value> {
        self.objects.list(Self::kind(resource), ns).await
    }

    async fn update(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        subresource: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        self.objects
            .update(Self::kind(resource), ns, name, subresource, change)
            .await
    }

    /// The requests in this test's namespaces since the mark, but the harness's own, once the
    /// audit log has caught up (the API server writes an entry just after answering).
    /// Waits until the audit log holds every request answered so far: the API server writes
    /// a request's record after answering it, so under load a record can lag its answer. A
    /// GET of our own, sent now, is logged after those; once it is in the log, they are. Bounded:
    /// an audit policy that does not log the GET (another cluster's) leaves the catch-up below.
    async fn audit_caught_up(&self, log: &Path, mark: kube_real::audit::Mark) {
        static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let Some(namespace) = self.namespaces.values().next() else {
            return;
        };
        let sentinel = format!(
            "/api/v1/namespaces/{namespace}/configmaps/e2e-audit-sentinel-{}-{}",
            std::process::id(),
            SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        // Not found, as meant: only its record matters.
        let _ = self.objects.send("GET", &sentinel, None).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline
            && !kube_real::audit::read(log, mark)
                .iter()
                .any(|r| r.path == sentinel)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn requests(&self) -> Vec<RequestRecord> {
        let Some(log) = self.cluster.audit_log() else {
            panic!(
                "this test reads the request log: set K8S_ROLLOUT_MCP_E2E_AUDIT_LOG to the API server's audit log (scripts/kind-e2e.sh does)"
            )
        };
        let mark = *self.mark.lock().unwrap();
        self.audit_caught_up(log, mark).await;
        let ours: Vec<&String> = self.namespaces.values().collect();
        let read = || {
            kube_real::audit::read(log, mark)
                .into_iter()
                .filter(|r| !r.user_agent.starts_with(kube_real::HARNESS_AGENT))
                // kwok's pod status writes, on an existing cluster where it shares credentials.
                .filter(|r| !r.user_agent.starts_with("kwok"))
                .filter(|r| r.namespace.as_ref().is_some_and(|ns| ours.contains(&ns)))
                .collect::<Vec<_>>()
        };
        // Caught up when this test's entries stop growing (other tests' keep coming), or
        // after a bound: controllers may go on writing in our namespaces.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut seen = read().len();
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = read().len();
            if now == seen || std::time::Instant::now() > deadline {
                break;
            }
            seen = now;
        }
        read()
            .into_iter()
            .map(|r| RequestRecord {
                dry_run: r.dry_run(),
                method: r.method,
                path: r.path,
                query: r.query,
                content_type: None,
                user_agent: Some(r.user_agent),
                body: r.body,
                status: r.status,
            })
            .collect()
    }
}
