//! The state behind the API: the store, the clock, the identifier generator, the simulated
//! cluster (nodes, rollout model) and the controllers' work queue. Every committed write lands in
//! [`World::committed`], which enqueues the controllers that watch that kind of object, the way
//! informers do; [`World::run_controllers`] then drains the queue until the cluster settles.

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

use crate::admission::Admission;
use crate::clock::Clock;
use crate::controllers;
use crate::ids::Ids;
use crate::json;
use crate::resources::ResourceKind;
use crate::rollout::RolloutModel;
use crate::selector::Selector;
use crate::store::Store;

/// A workload a controller syncs: kind, namespace, name.
pub type WorkKey = (ResourceKind, String, String);

/// Upper bound on syncs in one settle, so a controller bug cannot hang a request.
const MAX_SYNCS_PER_SETTLE: usize = 200_000;

/// The simulated cluster's fixed facts.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Node names, for DaemonSets and pod placement.
    pub nodes: Vec<String>,
    /// How pods become ready.
    pub rollout: RolloutModel,
    /// While seeding a scenario, pods are ready at once whatever the pace.
    pub seeding: bool,
    /// Pods created so far, for addresses and placement.
    pub pods_created: u64,
    /// The Kubernetes minor version served, for status fields that depend on it.
    pub kube_minor: u32,
}

impl Cluster {
    /// Whether Deployment and ReplicaSet status report `terminatingReplicas` (the
    /// DeploymentReplicaSetTerminatingReplicas feature, on by default from 1.35).
    pub fn counts_terminating_replicas(&self) -> bool {
        self.kube_minor >= 35
    }

    /// Whether a StatefulSet's `rollingUpdate.maxUnavailable` defaults to 1 (the
    /// MaxUnavailableStatefulSet feature, on by default from 1.37).
    pub fn defaults_stateful_set_max_unavailable(&self) -> bool {
        self.kube_minor >= 37
    }
}

/// Everything behind the API.
pub struct World {
    /// Stored objects.
    pub store: Store,
    /// Simulated time.
    pub clock: Clock,
    /// UIDs and generated names.
    pub ids: Ids,
    /// Nodes and rollout model.
    pub cluster: Cluster,
    /// Mutating admission rules.
    pub admission: Admission,
    queue: VecDeque<WorkKey>,
    queued: HashSet<WorkKey>,
}

impl World {
    /// A world with an empty store.
    pub fn new(clock: Clock, seed: u64, cluster: Cluster, history_limit: usize) -> Self {
        Self {
            store: Store::new(history_limit),
            clock,
            ids: Ids::new(seed),
            cluster,
            admission: Admission::default(),
            queue: VecDeque::new(),
            queued: HashSet::new(),
        }
    }

    /// Enqueues the controllers interested in a committed write, as informer event handlers do.
    pub fn committed(&mut self, kind: ResourceKind, object: &Value) {
        let ns = json::str_at(object, &["metadata", "namespace"]).to_string();
        let name = json::str_at(object, &["metadata", "name"]).to_string();
        match kind {
            ResourceKind::Deployment | ResourceKind::DaemonSet | ResourceKind::StatefulSet => {
                self.enqueue((kind, ns, name));
            }
            ResourceKind::ReplicaSet => {
                self.enqueue((kind, ns.clone(), name));
                match controller_of(object) {
                    Some((owner_kind, owner)) => self.enqueue((owner_kind, ns, owner)),
                    None => self.enqueue_selecting(ResourceKind::Deployment, &ns, object),
                }
            }
            ResourceKind::Pod | ResourceKind::ControllerRevision => match controller_of(object) {
                Some((owner_kind, owner)) => self.enqueue((owner_kind, ns, owner)),
                None if kind == ResourceKind::ControllerRevision => {
                    self.enqueue_selecting(ResourceKind::DaemonSet, &ns, object);
                    self.enqueue_selecting(ResourceKind::StatefulSet, &ns, object);
                }
                None => {}
            },
            ResourceKind::Namespace
            | ResourceKind::Event
            | ResourceKind::EventsEvent
            | ResourceKind::SelfSubjectReview => {}
        }
    }

    /// Enqueues every workload of `kind` in `ns` whose selector selects `object` (orphans to adopt).
    fn enqueue_selecting(&mut self, kind: ResourceKind, ns: &str, object: &Value) {
        let matching: Vec<String> = self
            .store
            .list(kind, Some(ns), None)
            .filter(|w| {
                Selector::from_label_selector(json::at(w, &["spec", "selector"]))
                    .is_ok_and(|s| !s.is_everything() && s.matches_object(object))
            })
            .map(|w| json::str_at(w, &["metadata", "name"]).to_string())
            .collect();
        for name in matching {
            self.enqueue((kind, ns.to_string(), name));
        }
    }

    fn enqueue(&mut self, key: WorkKey) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    /// Enqueues every workload, for time-driven checks (progress deadlines, `minReadySeconds`).
    /// ReplicaSets without replicas or pods have nothing time-dependent and are skipped, which
    /// keeps a tick cheap with tens of thousands of historical ReplicaSets.
    pub fn resync_all(&mut self) {
        let mut keys = Vec::new();
        for kind in [
            ResourceKind::Deployment,
            ResourceKind::DaemonSet,
            ResourceKind::StatefulSet,
        ] {
            keys.extend(self.store.list(kind, None, None).map(|o| work_key(kind, o)));
        }
        keys.extend(
            self.store
                .list(ResourceKind::ReplicaSet, None, None)
                .filter(|rs| {
                    json::i64_at(rs, &["spec", "replicas"]).unwrap_or(0) > 0
                        || json::i64_at(rs, &["status", "replicas"]).unwrap_or(0) > 0
                })
                .map(|o| work_key(ResourceKind::ReplicaSet, o)),
        );
        for key in keys {
            self.enqueue(key);
        }
    }

    /// Runs controllers until no work is left.
    pub fn run_controllers(&mut self) {
        let mut syncs = 0;
        while let Some(key) = self.queue.pop_front() {
            self.queued.remove(&key);
            syncs += 1;
            if syncs > MAX_SYNCS_PER_SETTLE {
                tracing::warn!(
                    ?key,
                    "controllers did not settle; leaving the rest of the queue"
                );
                self.queue.clear();
                self.queued.clear();
                break;
            }
            if let Err(err) = controllers::sync(self, &key) {
                tracing::debug!(?key, %err, "sync failed");
            }
        }
    }

    /// One step of simulated progress: the kubelet makes pending pods ready (one per owner when
    /// stepwise), then every workload is re-synced and the controllers settle.
    pub fn tick(&mut self) {
        controllers::pods::progress(self);
        self.resync_all();
        self.run_controllers();
    }
}

fn work_key(kind: ResourceKind, object: &Value) -> WorkKey {
    let (ns, name) = crate::store::key_of(object);
    (kind, ns, name)
}

/// The kind and name of an object's controller owner, for the kinds the sim runs controllers for.
pub fn controller_of(object: &Value) -> Option<(ResourceKind, String)> {
    let refs = json::at(object, &["metadata", "ownerReferences"])?.as_array()?;
    let owner = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    let kind = match json::str_at(owner, &["kind"]) {
        "Deployment" => ResourceKind::Deployment,
        "ReplicaSet" => ResourceKind::ReplicaSet,
        "DaemonSet" => ResourceKind::DaemonSet,
        "StatefulSet" => ResourceKind::StatefulSet,
        _ => return None,
    };
    Some((kind, json::str_at(owner, &["name"]).to_string()))
}
