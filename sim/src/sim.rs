//! The running simulator and its test controls. [`Sim::start`] seeds a scenario, binds a free
//! port on 127.0.0.1 and serves the API from a dedicated thread with its own runtime, so a test may
//! block (running kubectl, say) without starving the server. Everything else is a handle: the URL
//! and kubeconfig for clients, the request log, faults and denials, direct reads and writes "as
//! another client", and the clock and controller knobs.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::admission::Mutation;
use crate::clock::{Clock, ClockMode};
use crate::errors::ApiError;
use crate::faults::{Fault, Faults, Verb};
use crate::kubeconfig;
use crate::registry::ListQuery;
use crate::request_log::{RequestLog, RequestRecord};
use crate::resources::{ResourceKind, Subresource};
use crate::scenario::{self, Scenario};
use crate::server;
use crate::world::{Cluster, World};

/// How often a running clock makes the controllers look at the time.
const RESYNC_PERIOD: Duration = Duration::from_secs(5);

/// When the simulated controllers react to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControllerMode {
    /// After every write, before the response is sent: deterministic, but hides races.
    #[default]
    Sync,
    /// This long after a write (real time); the write returns first, as on a real cluster.
    Delayed(Duration),
    /// Only when the test calls [`Sim::reconcile`], [`Sim::tick`] or advances the clock.
    OnTick,
}

/// Cluster-level settings of a sim (the workloads come from the [`Scenario`]).
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub(crate) kube_minor: u32,
    pub(crate) controllers: ControllerMode,
    pub(crate) nodes: usize,
    pub(crate) user: String,
    pub(crate) groups: Vec<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) clock: ClockMode,
    pub(crate) start_time: Option<Timestamp>,
    pub(crate) seed: u64,
    pub(crate) port: u16,
    pub(crate) watch_history: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            kube_minor: 33,
            controllers: ControllerMode::Sync,
            nodes: 3,
            user: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            namespace: None,
            clock: ClockMode::Frozen,
            start_time: None,
            seed: 0x6b75_6265_7369_6d00,
            port: 0,
            watch_history: 10_000,
        }
    }
}

impl SimOptions {
    /// Defaults: Kubernetes 1.33, synchronous controllers, 3 nodes, user `kubernetes-admin` (groups
    /// `system:masters`, `system:authenticated`), a
    /// frozen clock starting now, a random free port.
    pub fn new() -> Self {
        Self::default()
    }

    /// The options of a demo: the release kube-real builds by default (1.36), one the server is
    /// tested against, so a demo shows no untested-release warning. (The default, 1.33, is the
    /// newest the kubectl dispatcher's `kubectl.1.NN` cover, for the differential tests.)
    pub fn demo() -> Self {
        Self::new().kube_version(36)
    }

    /// The minor version `/version` reports (`27` for 1.27); the kubectl dispatcher picks the
    /// matching `kubectl.1.NN`.
    pub fn kube_version(mut self, minor: u32) -> Self {
        self.kube_minor = minor;
        self
    }

    /// When controllers run.
    pub fn controllers(mut self, mode: ControllerMode) -> Self {
        self.controllers = mode;
        self
    }

    /// How many nodes DaemonSets cover (1 to 1,000).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n.clamp(1, 1_000);
        self
    }

    /// The user name in the kubeconfig, in 403 messages and in `SelfSubjectReview` answers.
    pub fn user(mut self, name: &str) -> Self {
        self.user = name.to_string();
        self
    }

    /// The groups a `SelfSubjectReview` answers with (default `system:masters`,
    /// `system:authenticated`, as for a kubeadm admin).
    pub fn groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }

    /// The kubeconfig context's default namespace.
    pub fn context_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// Let the clock follow the wall clock (the binary does this).
    pub fn running_clock(mut self) -> Self {
        self.clock = ClockMode::Running;
        self
    }

    /// The simulated time at the end of seeding (default: now).
    pub fn start_time(mut self, at: Timestamp) -> Self {
        self.start_time = Some(at);
        self
    }

    /// Seed of the UID and name generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many recent events watches can resume from (default 10,000); older resourceVersions
    /// get 410 Gone.
    pub fn watch_history(mut self, events: usize) -> Self {
        self.watch_history = events.max(1);
        self
    }

    /// A fixed port (default: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// Why a sim could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario could not be replayed (an invalid manifest, say).
    #[error("seeding the scenario failed: {0}")]
    Seed(#[from] ApiError),
    /// The listener could not be bound or the server thread not started.
    #[error("starting the server failed: {0}")]
    Io(#[from] io::Error),
}

/// State shared by the server tasks and the [`Sim`] handle.
pub(crate) struct Shared {
    world: Mutex<World>,
    faults: Mutex<Faults>,
    pub(crate) log: RequestLog,
    /// Watches whose stream is still open (a client that stops watching closes its stream).
    pub(crate) open_watches: std::sync::atomic::AtomicUsize,
    pub(crate) options: SimOptions,
    pub(crate) server_address: String,
    runtime: tokio::runtime::Handle,
}

impl Shared {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the controllers react to a committed write according to the controller mode.
    pub(crate) fn after_write(self: &Arc<Self>, world: &mut World) {
        match self.options.controllers {
            ControllerMode::Sync => world.run_controllers(),
            ControllerMode::Delayed(delay) => {
                let shared = self.clone();
                self.runtime.spawn(async move {
                    tokio::time::sleep(delay).await;
                    shared.world().run_controllers();
                });
            }
            ControllerMode::OnTick => {}
        }
    }
}

/// A running simulated cluster. Dropping it stops the server.
pub struct Sim {
    shared: Arc<Shared>,
    clock: Clock,
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sim {
    /// Starts a sim with default options. Panics (with the reason) if the scenario is invalid or
    /// no port can be bound, which is what a test wants; see [`Sim::try_start`].
    pub async fn start(scenario: Scenario) -> Sim {
        Self::start_with(scenario, SimOptions::default()).await
    }

    /// Starts a sim with `options`; panics like [`Sim::start`].
    pub async fn start_with(scenario: Scenario, options: SimOptions) -> Sim {
        match Self::try_start(scenario, options).await {
            Ok(sim) => sim,
            Err(err) => panic!("kube-sim could not start: {err}"),
        }
    }

    /// Starts a sim, reporting failures.
    pub async fn try_start(scenario: Scenario, options: SimOptions) -> Result<Sim, SimError> {
        let (ready_tx, ready_rx) =
            oneshot::channel::<Result<(Arc<Shared>, Clock, SocketAddr), SimError>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || run_server(scenario, options, ready_tx, shutdown_rx))?;
        let started = ready_rx
            .await
            .map_err(|_| io::Error::other("the server thread ended before it was ready"))?;
        let (shared, clock, addr) = match started {
            Ok(s) => s,
            Err(err) => {
                let _ = thread.join();
                return Err(err);
            }
        };
        Ok(Sim {
            shared,
            clock,
            url: format!("http://{addr}"),
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The kubeconfig for this sim (context `kube-sim`).
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(
            &self.url,
            &self.shared.options.user,
            self.shared.options.namespace.as_deref(),
        )
    }

    /// Writes [`Sim::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> io::Result<()> {
        kubeconfig::write(
            path,
            &self.url,
            &self.shared.options.user,
            self.shared.options.namespace.as_deref(),
        )
    }

    /// The options the sim runs with.
    pub fn options(&self) -> &SimOptions {
        &self.shared.options
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// The POST, PUT, PATCH and DELETE requests so far (dry-run ones included, flagged).
    pub fn mutating_requests(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(RequestRecord::is_mutating)
            .collect()
    }

    /// How many watch streams are open now: a client that stops watching (cancels, times out,
    /// drops the connection) brings this back down.
    pub fn open_watches(&self) -> usize {
        self.shared
            .open_watches
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Injects a fault.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.faults().inject(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.faults().clear_faults();
    }

    /// Answers `verb` on `resource` (e.g. `deployments`, `deployments/scale`) with 403 Forbidden
    /// in every namespace.
    pub fn deny(&self, verb: Verb, resource: &str) {
        self.shared.faults().deny(verb, resource, None);
    }

    /// Like [`Sim::deny`], in one namespace only.
    pub fn deny_in(&self, verb: Verb, resource: &str, namespace: &str) {
        self.shared.faults().deny(verb, resource, Some(namespace));
    }

    /// Lifts every denial.
    pub fn clear_denials(&self) {
        self.shared.faults().clear_denials();
    }

    /// Adds a mutating admission rule (see [`Mutation`]): from now on, matching updates and
    /// patches, dry runs included, are changed by it before they are validated and stored.
    pub fn mutate_writes(&self, rule: Mutation) {
        self.shared.world().admission.add(rule);
    }

    /// Removes every mutating admission rule.
    pub fn clear_mutations(&self) {
        self.shared.world().admission.clear();
    }

    /// One object (`resource` as kubectl accepts it: `deployments`, `deploy`, `Deployment`).
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let kind = ResourceKind::parse(resource)?;
        self.shared
            .world()
            .get(kind, namespace, name)
            .ok()
            .map(|v| (*v).clone())
    }

    /// Every object of `resource` in `namespace` (all namespaces if empty), in name order.
    pub fn list(&self, resource: &str, namespace: &str) -> Vec<Value> {
        let Some(kind) = ResourceKind::parse(resource) else {
            return Vec::new();
        };
        let ns = (!namespace.is_empty()).then_some(namespace);
        self.shared
            .world()
            .list(kind, ns, &ListQuery::default())
            .map(|page| page.items.iter().map(|v| (**v).clone()).collect())
            .unwrap_or_default()
    }

    /// Changes an object as another client would (validation, new resourceVersion, generation,
    /// controllers per the controller mode); not recorded in the request log.
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        self.change(resource, namespace, name, Subresource::Main, change)
    }

    /// Like [`Sim::update`] on the `/status` subresource.
    pub fn update_status(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        self.change(resource, namespace, name, Subresource::Status, change)
    }

    fn change(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let kind = ResourceKind::parse(resource).ok_or(ApiError::NoRoute)?;
        let mut world = self.shared.world();
        let mut object = (*world.get(kind, namespace, name)?).clone();
        change(&mut object);
        let updated = world.update(kind, namespace, name, object, subresource, false)?;
        self.shared.after_write(&mut world);
        Ok((*updated).clone())
    }

    /// Creates an object as another client would (e.g. a foreign or malformed ReplicaSet); not
    /// recorded in the request log.
    pub fn create(
        &self,
        resource: &str,
        namespace: &str,
        object: Value,
    ) -> Result<Value, ApiError> {
        let kind = ResourceKind::parse(resource).ok_or(ApiError::NoRoute)?;
        let mut world = self.shared.world();
        let created = world.create(kind, namespace, object, false)?;
        self.shared.after_write(&mut world);
        Ok((*created).clone())
    }

    /// Stores an object that skipped the API server's validation (a ReplicaSet without a pod
    /// template, a ControllerRevision with a string `revision`...), as only a write around the
    /// API server leaves one; not recorded in the request log.
    pub fn create_unchecked(
        &self,
        resource: &str,
        namespace: &str,
        object: Value,
    ) -> Result<Value, ApiError> {
        let kind = ResourceKind::parse(resource).ok_or(ApiError::NoRoute)?;
        let mut world = self.shared.world();
        let created = world.create_unchecked(kind, namespace, object)?;
        self.shared.after_write(&mut world);
        Ok((*created).clone())
    }

    /// Deletes an object (and its dependents) as another client would.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> Result<(), ApiError> {
        let kind = ResourceKind::parse(resource).ok_or(ApiError::NoRoute)?;
        let mut world = self.shared.world();
        world.delete(kind, namespace, name, &Default::default(), false)?;
        self.shared.after_write(&mut world);
        Ok(())
    }

    /// The simulated clock; [`Clock::advance`] lets controllers react to the new time.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One step of simulated progress: in the stepwise model one pending pod per workload becomes
    /// ready; then every controller runs until the cluster settles.
    pub fn tick(&self) {
        self.shared.world().tick();
    }

    /// Runs every controller until the cluster settles (the only way they run in
    /// [`ControllerMode::OnTick`], besides ticks and clock advances).
    pub fn reconcile(&self) {
        let mut world = self.shared.world();
        world.resync_all();
        world.run_controllers();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Ready = oneshot::Sender<Result<(Arc<Shared>, Clock, SocketAddr), SimError>>;

/// The server thread: seeds the world, binds, reports readiness, serves until shutdown.
fn run_server(
    scenario: Scenario,
    options: SimOptions,
    ready: Ready,
    shutdown: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            let _ = ready.send(Err(err.into()));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await {
            Ok(l) => l,
            Err(err) => {
                let _ = ready.send(Err(err.into()));
                return;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(err) => {
                let _ = ready.send(Err(err.into()));
                return;
            }
        };
        let clock = Clock::new(
            options.start_time.unwrap_or_else(Timestamp::now),
            options.clock,
        );
        let cluster = Cluster {
            nodes: (1..=options.nodes)
                .map(|i| format!("sim-node-{i}"))
                .collect(),
            rollout: scenario.rollout().clone(),
            seeding: false,
            pods_created: 0,
            kube_minor: options.kube_minor,
        };
        let mut world = World::new(clock.clone(), options.seed, cluster, options.watch_history);
        if let Err(err) = scenario::seed(&mut world, &scenario) {
            let _ = ready.send(Err(err.into()));
            return;
        }
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            faults: Mutex::new(Faults::default()),
            log: RequestLog::default(),
            open_watches: Default::default(),
            server_address: addr.to_string(),
            options,
            runtime: tokio::runtime::Handle::current(),
        });
        let weak = Arc::downgrade(&shared);
        clock.on_advance(Box::new(move || {
            if let Some(shared) = weak.upgrade() {
                let mut world = shared.world();
                world.resync_all();
                world.run_controllers();
            }
        }));
        let running = shared.options.clock == ClockMode::Running;
        if ready.send(Ok((shared.clone(), clock, addr))).is_err() {
            return;
        }
        if running {
            // Time moves by itself: re-check deadlines and minReadySeconds now and then.
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(RESYNC_PERIOD);
                loop {
                    every.tick().await;
                    let mut world = shared.world();
                    world.resync_all();
                    world.run_controllers();
                }
            });
        }
        tokio::select! {
            _ = server::serve(listener, shared) => {}
            _ = shutdown => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
