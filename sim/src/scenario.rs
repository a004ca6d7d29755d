//! Scenarios: what a sim starts with, described as history. Workloads are seeded through a
//! sequence of template changes at times in the past, so the simulated controllers create the
//! ReplicaSets and ControllerRevisions exactly as they would have (revision numbers,
//! change-causes, hashes, creation times); objects are only written by hand when a test asks for a
//! foreign or malformed one. Long histories for benchmarks take a fast path that builds the old
//! ReplicaSets with the controller's own constructor instead of replaying every rollout.
//!
//! ```
//! use kube_sim::Scenario;
//! let scenario = Scenario::builder()
//!     .deployment("shop", "api-server", |d| {
//!         d.replicas(3)
//!             .revision(|t| t.image("app", "ghcr.io/example/api-server:1.0.0").change_cause("initial release").days_ago(30))
//!             .revision(|t| t.image("app", "ghcr.io/example/api-server:1.1.0").change_cause("add tracing").days_ago(20))
//!     })
//!     .build();
//! # let _ = scenario;
//! ```

use std::time::Duration;

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::controllers::deployment;
use crate::defaults;
use crate::errors::ApiError;
use crate::json;
use crate::resources::{ResourceKind, Subresource};
use crate::rollout::RolloutModel;
use crate::world::World;

/// Where an unplaced first revision goes, and the gap between unplaced revisions.
const DEFAULT_FIRST: SignedDuration = SignedDuration::from_hours(7 * 24);
const DEFAULT_GAP: SignedDuration = SignedDuration::from_hours(1);
/// Spacing of the revisions of a bulk history.
const BULK_SPACING: SignedDuration = SignedDuration::from_mins(1);
/// Namespaces that exist on every cluster.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// What a sim starts with.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    namespaces: Vec<String>,
    steps: Vec<Step>,
    rollout: RolloutModel,
}

#[derive(Debug, Clone)]
struct Step {
    ago: SignedDuration,
    action: Action,
}

#[derive(Debug, Clone)]
enum Action {
    /// Create the object, or update its labels, annotations and spec (like `kubectl apply`).
    Apply(ResourceKind, Value),
    /// Create the object verbatim (foreign or malformed objects).
    Create(ResourceKind, Value),
    /// A deployment with a long history: the live manifest and the earlier revisions' manifests.
    BulkHistory { live: Value, history: Vec<Value> },
    /// A manifest of a kind the sim does not serve; seeding fails with this message.
    Unknown(String),
}

impl Scenario {
    /// A builder.
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder::default()
    }

    /// No workloads (the system namespaces still exist, as on any cluster).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The demo: namespace `shop` with deployment `api-server` (four revisions, the last one a
    /// bad deploy stuck past its progress deadline), daemonset `node-agent` (three revisions) and
    /// statefulset `orders-db` (three revisions); namespace `staging` with its own `api-server`.
    pub fn demo() -> Self {
        crate::demo::scenario()
    }

    /// The same scenario with pods becoming ready at `pace` (bad images still fail).
    pub fn with_pace(mut self, pace: crate::rollout::Pace) -> Self {
        self.rollout = self.rollout.with_pace(pace);
        self
    }

    /// The scenario's rollout model.
    pub fn rollout(&self) -> &RolloutModel {
        &self.rollout
    }

    /// The namespaces it creates (besides the system ones).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Its steps in the order seeding plays them (oldest first), for replaying the same history
    /// on a real cluster, where times cannot be set and controllers act on their own.
    pub fn replay(&self) -> Vec<ReplayStep<'_>> {
        let mut steps: Vec<&Step> = self.steps.iter().collect();
        steps.sort_by_key(|s| std::cmp::Reverse(s.ago));
        steps
            .into_iter()
            .map(|step| ReplayStep {
                ago: step.ago,
                action: match &step.action {
                    Action::Apply(kind, manifest) => ReplayAction::Apply(*kind, manifest),
                    Action::Create(kind, manifest) => ReplayAction::Create(*kind, manifest),
                    Action::BulkHistory { .. } => ReplayAction::BulkHistory,
                    Action::Unknown(message) => ReplayAction::Unknown(message),
                },
            })
            .collect()
    }
}

/// One step of [`Scenario::replay`].
#[derive(Debug, Clone, Copy)]
pub struct ReplayStep<'a> {
    /// How long before the start it happens on the sim.
    pub ago: SignedDuration,
    pub action: ReplayAction<'a>,
}

/// What a [`ReplayStep`] does.
#[derive(Debug, Clone, Copy)]
pub enum ReplayAction<'a> {
    /// Create the object, or update it like `kubectl apply`: labels and spec from the manifest,
    /// annotations merged into the existing ones.
    Apply(ResourceKind, &'a Value),
    /// Create the object verbatim (a foreign or malformed one).
    Create(ResourceKind, &'a Value),
    /// A long history built by the sim's fast path, which writes old ReplicaSets as the
    /// controller would have left them: only a sim can seed it.
    BulkHistory,
    /// A manifest of a kind the sim does not serve, with the seeding error.
    Unknown(&'a str),
}

/// Builds a [`Scenario`].
#[derive(Debug, Default)]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl ScenarioBuilder {
    /// Creates a namespace (namespaces that workloads use are created anyway).
    pub fn namespace(mut self, name: &str) -> Self {
        if !self.scenario.namespaces.iter().any(|n| n == name) {
            self.scenario.namespaces.push(name.to_string());
        }
        self
    }

    /// A Deployment built from its revisions.
    pub fn deployment(
        self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(WorkloadBuilder) -> WorkloadBuilder,
    ) -> Self {
        self.workload(ResourceKind::Deployment, namespace, name, f)
    }

    /// A DaemonSet built from its revisions.
    pub fn daemonset(
        self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(WorkloadBuilder) -> WorkloadBuilder,
    ) -> Self {
        self.workload(ResourceKind::DaemonSet, namespace, name, f)
    }

    /// A StatefulSet built from its revisions.
    pub fn statefulset(
        self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(WorkloadBuilder) -> WorkloadBuilder,
    ) -> Self {
        self.workload(ResourceKind::StatefulSet, namespace, name, f)
    }

    fn workload(
        mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        f: impl FnOnce(WorkloadBuilder) -> WorkloadBuilder,
    ) -> Self {
        self = self.namespace(namespace);
        let built = f(WorkloadBuilder::new(kind, namespace, name));
        self.scenario.steps.extend(built.into_steps());
        self
    }

    /// Applies a full manifest `ago` before the start (created, or updated like `kubectl apply`);
    /// the kind comes from the manifest.
    pub fn step(self, manifest: Value, ago: Duration) -> Self {
        let kind = json::str_at(&manifest, &["kind"]).to_string();
        self.push(&kind, manifest, ago, Action::Apply)
    }

    /// Creates `manifest` of `resource` verbatim `ago` before the start, bypassing controllers'
    /// ownership (e.g. a ReplicaSet with matching labels but another owner).
    pub fn object(self, resource: &str, manifest: Value, ago: Duration) -> Self {
        self.push(resource, manifest, ago, Action::Create)
    }

    fn push(
        mut self,
        resource: &str,
        manifest: Value,
        ago: Duration,
        action: fn(ResourceKind, Value) -> Action,
    ) -> Self {
        let action = match ResourceKind::parse(resource) {
            Some(kind) => {
                let namespace = json::str_at(&manifest, &["metadata", "namespace"]).to_string();
                if kind.namespaced() && !namespace.is_empty() {
                    self = self.namespace(&namespace);
                }
                action(kind, manifest)
            }
            None => Action::Unknown(format!(
                "the scenario uses a resource the sim does not serve: {resource:?}"
            )),
        };
        self.scenario.steps.push(Step {
            ago: signed(ago),
            action,
        });
        self
    }

    /// The rollout model (instant by default).
    pub fn rollout(mut self, model: RolloutModel) -> Self {
        self.scenario.rollout = model;
        self
    }

    /// The scenario.
    pub fn build(self) -> Scenario {
        self.scenario
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// Builds one workload's history: its shape (replicas, selector, strategy, ...) and a sequence
/// of revisions, each a template change at some time in the past.
#[derive(Debug)]
pub struct WorkloadBuilder {
    kind: ResourceKind,
    manifest: Value,
    revisions: Vec<(Option<SignedDuration>, Action)>,
    dirty_after_last: bool,
}

impl WorkloadBuilder {
    fn new(kind: ResourceKind, namespace: &str, name: &str) -> Self {
        let mut spec = json!({
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        });
        if kind == ResourceKind::StatefulSet {
            spec["serviceName"] = json!(name);
        }
        Self {
            kind,
            manifest: json!({
                "apiVersion": kind.api_version(),
                "kind": kind.kind(),
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                "spec": spec,
            }),
            revisions: Vec::new(),
            dirty_after_last: false,
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Value)) -> Self {
        f(&mut self.manifest);
        self.dirty_after_last = !self.revisions.is_empty();
        self
    }

    /// `spec.replicas` (Deployments and StatefulSets).
    pub fn replicas(self, n: i64) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "replicas"], json!(n)))
    }

    /// A label on the workload itself.
    pub fn label(self, key: &str, value: &str) -> Self {
        self.edit(|m| {
            json::object_at(m, &["metadata", "labels"]).insert(key.into(), json!(value));
        })
    }

    /// An annotation on the workload itself.
    pub fn annotation(self, key: &str, value: &str) -> Self {
        self.edit(|m| {
            json::object_at(m, &["metadata", "annotations"]).insert(key.into(), json!(value));
        })
    }

    /// Adds `key=value` to the selector's `matchLabels` and to the template's labels.
    pub fn selector_label(self, key: &str, value: &str) -> Self {
        self.edit(|m| {
            json::object_at(m, &["spec", "selector", "matchLabels"])
                .insert(key.into(), json!(value));
            json::object_at(m, &["spec", "template", "metadata", "labels"])
                .insert(key.into(), json!(value));
        })
    }

    /// Adds a `matchExpressions` requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`). For `In`
    /// and `Exists` the template gets a label that satisfies it (the first value, or `"true"`).
    pub fn selector_expression(self, key: &str, operator: &str, values: &[&str]) -> Self {
        self.edit(|m| {
            let mut req = json!({"key": key, "operator": operator});
            if !values.is_empty() {
                req["values"] = json!(values);
            }
            let exprs = json::object_at(m, &["spec", "selector"])
                .entry("matchExpressions")
                .or_insert_with(|| json!([]));
            if let Some(list) = exprs.as_array_mut() {
                list.push(req);
            }
            let satisfying = match operator {
                "In" => values.first().copied(),
                "Exists" => Some("true"),
                _ => None,
            };
            if let Some(v) = satisfying {
                json::object_at(m, &["spec", "template", "metadata", "labels"])
                    .insert(key.into(), json!(v));
            }
        })
    }

    /// `spec.revisionHistoryLimit`.
    pub fn revision_history_limit(self, n: i64) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "revisionHistoryLimit"], json!(n)))
    }

    /// `spec.progressDeadlineSeconds` (Deployments).
    pub fn progress_deadline_seconds(self, n: i64) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "progressDeadlineSeconds"], json!(n)))
    }

    /// `spec.minReadySeconds`.
    pub fn min_ready_seconds(self, n: i64) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "minReadySeconds"], json!(n)))
    }

    /// `spec.paused` (Deployments); set after the revisions, it pauses the live deployment.
    pub fn paused(self, paused: bool) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "paused"], json!(paused)))
    }

    /// The `Recreate` strategy (Deployments).
    pub fn recreate(self) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "strategy"], json!({"type": "Recreate"})))
    }

    /// A `RollingUpdate` strategy with these bounds (ints or percentages, as JSON).
    pub fn rolling_update(self, max_surge: Value, max_unavailable: Value) -> Self {
        let key = if self.kind == ResourceKind::Deployment {
            "strategy"
        } else {
            "updateStrategy"
        };
        self.edit(|m| {
            json::set_at(
                m,
                &["spec", key],
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}}),
            )
        })
    }

    /// The `OnDelete` update strategy (DaemonSets and StatefulSets).
    pub fn on_delete(self) -> Self {
        self.edit(|m| json::set_at(m, &["spec", "updateStrategy"], json!({"type": "OnDelete"})))
    }

    /// A rolling update partition (StatefulSets).
    pub fn partition(self, n: i64) -> Self {
        self.edit(|m| {
            json::set_at(
                m,
                &["spec", "updateStrategy"],
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": n}}),
            )
        })
    }

    /// Any other change to the workload manifest.
    pub fn manifest(self, f: impl FnOnce(&mut Value)) -> Self {
        self.edit(f)
    }

    /// The next revision: `f` changes the template (and optionally annotations, replicas, time)
    /// starting from the previous revision.
    pub fn revision(mut self, f: impl FnOnce(TemplateChange) -> TemplateChange) -> Self {
        let change = f(TemplateChange {
            manifest: self.manifest.clone(),
            ago: None,
        });
        self.manifest = change.manifest.clone();
        self.revisions
            .push((change.ago, Action::Apply(self.kind, change.manifest)));
        self.dirty_after_last = false;
        self
    }

    /// `count` revisions at once for a Deployment (benchmarks): `f(i, change)` builds revision
    /// `i + 1`. The last one is rolled out by the controller; the earlier ones are seeded as the
    /// scaled-down ReplicaSets the controller would have left (one minute apart), without
    /// replaying each rollout. Their `metadata.generation` is 1. Unless a limit was set,
    /// `revisionHistoryLimit` is raised to keep them all.
    pub fn bulk_history(
        mut self,
        count: usize,
        f: impl Fn(usize, TemplateChange) -> TemplateChange,
    ) -> Self {
        if count == 0 {
            return self;
        }
        if json::at(&self.manifest, &["spec", "revisionHistoryLimit"]).is_none() {
            json::set_at(
                &mut self.manifest,
                &["spec", "revisionHistoryLimit"],
                json!(count + 10),
            );
        }
        let mut history = Vec::with_capacity(count);
        let mut ago = None;
        for i in 0..count {
            let change = f(
                i,
                TemplateChange {
                    manifest: self.manifest.clone(),
                    ago: None,
                },
            );
            ago = change.ago.or(ago);
            history.push(change.manifest);
        }
        let live = history.pop().unwrap_or_else(|| self.manifest.clone());
        self.manifest = live.clone();
        let action = if self.kind == ResourceKind::Deployment {
            Action::BulkHistory { live, history }
        } else {
            Action::Apply(self.kind, live)
        };
        self.revisions.push((ago, action));
        self.dirty_after_last = false;
        self
    }

    fn into_steps(self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut previous: Option<SignedDuration> = None;
        for (ago, action) in self.revisions {
            let ago = ago
                .unwrap_or_else(|| match previous {
                    Some(p) => p.saturating_sub(DEFAULT_GAP),
                    None => DEFAULT_FIRST,
                })
                .max(SignedDuration::ZERO);
            previous = Some(ago);
            steps.push(Step { ago, action });
        }
        if self.dirty_after_last || steps.is_empty() {
            let ago = previous
                .map(|p| p.saturating_sub(SignedDuration::from_secs(60)))
                .unwrap_or(DEFAULT_FIRST);
            steps.push(Step {
                ago: ago.max(SignedDuration::ZERO),
                action: Action::Apply(self.kind, self.manifest),
            });
        }
        steps
    }
}

/// One revision's change to a workload, starting from the previous revision.
#[derive(Debug, Clone)]
pub struct TemplateChange {
    manifest: Value,
    ago: Option<SignedDuration>,
}

impl TemplateChange {
    fn pod_spec(&mut self) -> &mut serde_json::Map<String, Value> {
        json::object_at(&mut self.manifest, &["spec", "template", "spec"])
    }

    fn container(&mut self, list: &str, name: &str) -> &mut serde_json::Map<String, Value> {
        let items = self.pod_spec().entry(list).or_insert_with(|| json!([]));
        if !items.is_array() {
            *items = json!([]);
        }
        let Some(items) = items.as_array_mut() else {
            unreachable!("made an array above")
        };
        let index = match items
            .iter()
            .position(|c| json::str_at(c, &["name"]) == name)
        {
            Some(i) => i,
            None => {
                items.push(json!({"name": name}));
                items.len() - 1
            }
        };
        json::ensure_object(&mut items[index])
    }

    fn upsert_by_name(list: &mut Value, item: Value) {
        if !list.is_array() {
            *list = json!([]);
        }
        if let Some(items) = list.as_array_mut() {
            let name = json::str_at(&item, &["name"]).to_string();
            match items
                .iter_mut()
                .find(|e| json::str_at(e, &["name"]) == name)
            {
                Some(existing) => *existing = item,
                None => items.push(item),
            }
        }
    }

    /// Sets a container's image (adding the container if it is new).
    pub fn image(mut self, container: &str, image: &str) -> Self {
        self.container("containers", container)
            .insert("image".into(), json!(image));
        self
    }

    /// Sets an init container's image (adding it if new).
    pub fn init_image(mut self, container: &str, image: &str) -> Self {
        self.container("initContainers", container)
            .insert("image".into(), json!(image));
        self
    }

    /// Removes a container.
    pub fn remove_container(mut self, container: &str) -> Self {
        if let Some(items) = self
            .pod_spec()
            .get_mut("containers")
            .and_then(Value::as_array_mut)
        {
            items.retain(|c| json::str_at(c, &["name"]) != container);
        }
        self
    }

    fn env_var(mut self, container: &str, var: Value) -> Self {
        let env = self
            .container("containers", container)
            .entry("env")
            .or_insert_with(|| json!([]));
        Self::upsert_by_name(env, var);
        self
    }

    /// Sets an environment variable to a literal value.
    pub fn env(self, container: &str, name: &str, value: &str) -> Self {
        self.env_var(container, json!({"name": name, "value": value}))
    }

    /// Sets an environment variable from a Secret key.
    pub fn env_from_secret(self, container: &str, name: &str, secret: &str, key: &str) -> Self {
        self.env_var(
            container,
            json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}),
        )
    }

    /// Sets an environment variable from a ConfigMap key.
    pub fn env_from_config_map(
        self,
        container: &str,
        name: &str,
        config_map: &str,
        key: &str,
    ) -> Self {
        self.env_var(container, json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key}}}))
    }

    /// Removes an environment variable.
    pub fn remove_env(mut self, container: &str, name: &str) -> Self {
        if let Some(env) = self
            .container("containers", container)
            .get_mut("env")
            .and_then(Value::as_array_mut)
        {
            env.retain(|e| json::str_at(e, &["name"]) != name);
        }
        self
    }

    /// Adds a container port (TCP).
    pub fn port(mut self, container: &str, port: i64) -> Self {
        let ports = self
            .container("containers", container)
            .entry("ports")
            .or_insert_with(|| json!([]));
        if let Some(list) = ports.as_array_mut()
            && !list
                .iter()
                .any(|p| json::i64_at(p, &["containerPort"]) == Some(port))
        {
            list.push(json!({"containerPort": port}));
        }
        self
    }

    /// Sets a container's resource requests and limits (`[("cpu", "100m")]`).
    pub fn resources(
        mut self,
        container: &str,
        requests: &[(&str, &str)],
        limits: &[(&str, &str)],
    ) -> Self {
        let to_map = |pairs: &[(&str, &str)]| -> Value {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let mut res = json!({});
        if !requests.is_empty() {
            res["requests"] = to_map(requests);
        }
        if !limits.is_empty() {
            res["limits"] = to_map(limits);
        }
        self.container("containers", container)
            .insert("resources".into(), res);
        self
    }

    /// Sets a container's readiness probe (a `Probe` object).
    pub fn readiness_probe(mut self, container: &str, probe: Value) -> Self {
        self.container("containers", container)
            .insert("readinessProbe".into(), probe);
        self
    }

    /// Sets a container's liveness probe (a `Probe` object).
    pub fn liveness_probe(mut self, container: &str, probe: Value) -> Self {
        self.container("containers", container)
            .insert("livenessProbe".into(), probe);
        self
    }

    /// Sets a container's command.
    pub fn command(mut self, container: &str, command: &[&str]) -> Self {
        self.container("containers", container)
            .insert("command".into(), json!(command));
        self
    }

    /// Sets a container's args.
    pub fn args(mut self, container: &str, args: &[&str]) -> Self {
        self.container("containers", container)
            .insert("args".into(), json!(args));
        self
    }

    /// Adds or replaces a pod volume (a `Volume` object with a `name`).
    pub fn volume(mut self, volume: Value) -> Self {
        let volumes = self
            .pod_spec()
            .entry("volumes")
            .or_insert_with(|| json!([]));
        Self::upsert_by_name(volumes, volume);
        self
    }

    /// Mounts a volume into a container.
    pub fn volume_mount(mut self, container: &str, volume: &str, path: &str) -> Self {
        let mounts = self
            .container("containers", container)
            .entry("volumeMounts")
            .or_insert_with(|| json!([]));
        if let Some(list) = mounts.as_array_mut() {
            list.retain(|m| json::str_at(m, &["mountPath"]) != path);
            list.push(json!({"name": volume, "mountPath": path}));
        }
        self
    }

    /// A label on the pod template (also on the pods).
    pub fn template_label(mut self, key: &str, value: &str) -> Self {
        json::object_at(
            &mut self.manifest,
            &["spec", "template", "metadata", "labels"],
        )
        .insert(key.into(), json!(value));
        self
    }

    /// An annotation on the pod template.
    pub fn template_annotation(mut self, key: &str, value: &str) -> Self {
        json::object_at(
            &mut self.manifest,
            &["spec", "template", "metadata", "annotations"],
        )
        .insert(key.into(), json!(value));
        self
    }

    /// Any other change to the pod template.
    pub fn template(mut self, f: impl FnOnce(&mut Value)) -> Self {
        let template = json::object_at(&mut self.manifest, &["spec", "template"]);
        let mut value = Value::Object(std::mem::take(template));
        f(&mut value);
        json::set_at(&mut self.manifest, &["spec", "template"], value);
        self
    }

    /// `kubernetes.io/change-cause` on the workload for this revision (what `rollout history` shows).
    pub fn change_cause(self, cause: &str) -> Self {
        self.annotation("kubernetes.io/change-cause", cause)
    }

    /// An annotation on the workload, from this revision on.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        json::object_at(&mut self.manifest, &["metadata", "annotations"])
            .insert(key.into(), json!(value));
        self
    }

    /// `spec.replicas` from this revision on.
    pub fn replicas(mut self, n: i64) -> Self {
        json::set_at(&mut self.manifest, &["spec", "replicas"], json!(n));
        self
    }

    /// `spec.paused` from this revision on.
    pub fn paused(mut self, paused: bool) -> Self {
        json::set_at(&mut self.manifest, &["spec", "paused"], json!(paused));
        self
    }

    /// When this revision was made, relative to the sim's start.
    pub fn ago(mut self, ago: Duration) -> Self {
        self.ago = Some(signed(ago));
        self
    }

    /// `n` days before the start.
    pub fn days_ago(self, n: u64) -> Self {
        self.ago(Duration::from_secs(n.saturating_mul(86_400)))
    }

    /// `n` hours before the start.
    pub fn hours_ago(self, n: u64) -> Self {
        self.ago(Duration::from_secs(n.saturating_mul(3_600)))
    }

    /// `n` minutes before the start.
    pub fn minutes_ago(self, n: u64) -> Self {
        self.ago(Duration::from_secs(n.saturating_mul(60)))
    }
}

/// Replays a scenario into `world`, whose clock reads the start time; leaves the clock there.
pub(crate) fn seed(world: &mut World, scenario: &Scenario) -> Result<(), ApiError> {
    let start = world.clock.now();
    let mut steps: Vec<&Step> = scenario.steps.iter().collect();
    steps.sort_by_key(|s| std::cmp::Reverse(s.ago));
    let oldest = steps.first().map(|s| s.ago).unwrap_or(SignedDuration::ZERO);
    let at = |ago: SignedDuration| start.checked_sub(ago).unwrap_or(start);
    world.cluster.seeding = true;
    world.clock.set(at(
        oldest.saturating_add(SignedDuration::from_hours(24 * 30))
    ));
    for ns in SYSTEM_NAMESPACES {
        world.create(
            ResourceKind::Namespace,
            "",
            json!({"metadata": {"name": ns}}),
            false,
        )?;
    }
    world
        .clock
        .set(at(oldest.saturating_add(SignedDuration::from_hours(24))));
    for ns in &scenario.namespaces {
        if world.get(ResourceKind::Namespace, "", ns).is_err() {
            world.create(
                ResourceKind::Namespace,
                "",
                json!({"metadata": {"name": ns}}),
                false,
            )?;
        }
    }
    for step in steps {
        world.clock.set(at(step.ago));
        match &step.action {
            Action::Apply(kind, manifest) => apply(world, *kind, manifest.clone())?,
            Action::Create(kind, manifest) => {
                let ns = json::str_at(manifest, &["metadata", "namespace"]).to_string();
                world.create(*kind, &ns, manifest.clone(), false)?;
            }
            Action::BulkHistory { live, history } => {
                bulk_history(world, live, history, at(step.ago))?
            }
            Action::Unknown(message) => return Err(ApiError::BadRequest(message.clone())),
        }
        world.run_controllers();
    }
    world.clock.set(start);
    world.cluster.seeding = false;
    world.resync_all();
    world.run_controllers();
    Ok(())
}

/// Creates the object, or updates it the way `kubectl apply` would change it: labels and spec
/// from the manifest, annotations merged (so controller-written ones stay).
fn apply(world: &mut World, kind: ResourceKind, manifest: Value) -> Result<(), ApiError> {
    let ns = json::str_at(&manifest, &["metadata", "namespace"]).to_string();
    let name = json::str_at(&manifest, &["metadata", "name"]).to_string();
    let Ok(existing) = world.get(kind, &ns, &name) else {
        world.create(kind, &ns, manifest, false)?;
        return Ok(());
    };
    let mut body = (*existing).clone();
    json::remove_at(&mut body, &["metadata", "resourceVersion"]);
    match json::at(&manifest, &["metadata", "labels"]) {
        Some(l) => json::set_at(&mut body, &["metadata", "labels"], l.clone()),
        None => {
            json::remove_at(&mut body, &["metadata", "labels"]);
        }
    }
    for (k, v) in json::string_map(&manifest, &["metadata", "annotations"]) {
        json::object_at(&mut body, &["metadata", "annotations"]).insert(k, json!(v));
    }
    if let Some(spec) = manifest.get("spec") {
        body["spec"] = spec.clone();
    }
    world.update(kind, &ns, &name, body, Subresource::Main, false)?;
    Ok(())
}

/// Creates the deployment at the time of its first revision, stores the old revisions as the
/// controller would have left them, then lets the controller roll out the live one at `live_at`.
fn bulk_history(
    world: &mut World,
    live: &Value,
    history: &[Value],
    live_at: jiff::Timestamp,
) -> Result<(), ApiError> {
    let ns = json::str_at(live, &["metadata", "namespace"]).to_string();
    let spacing =
        |n: usize| SignedDuration::from_secs(BULK_SPACING.as_secs().saturating_mul(n as i64));
    let first_at = live_at
        .checked_sub(spacing(history.len()))
        .unwrap_or(live_at);
    world.clock.set(first_at);
    let created = world.create(ResourceKind::Deployment, &ns, live.clone(), false)?;
    for (i, manifest) in history.iter().enumerate() {
        let mut snapshot = (*created).clone();
        snapshot["spec"]["template"] = manifest["spec"]["template"].clone();
        snapshot["metadata"]["annotations"] = manifest["metadata"]
            .get("annotations")
            .cloned()
            .unwrap_or_else(|| json!({}));
        defaults::apply(ResourceKind::Deployment, &world.cluster, &mut snapshot);
        let mut rs = deployment::historical_replica_set(&snapshot, i as i64 + 1);
        let created_at = first_at.checked_add(spacing(i)).unwrap_or(first_at);
        rs["apiVersion"] = json!("apps/v1");
        rs["kind"] = json!("ReplicaSet");
        rs["metadata"]["uid"] = json!(world.ids.uid());
        rs["metadata"]["creationTimestamp"] = json!(crate::clock::format_time(created_at));
        rs["metadata"]["generation"] = json!(1);
        rs["status"] = json!({"replicas": 0, "observedGeneration": 1});
        defaults::apply(ResourceKind::ReplicaSet, &world.cluster, &mut rs);
        world.store.insert(ResourceKind::ReplicaSet, rs)?;
    }
    world.clock.set(live_at);
    world.committed(ResourceKind::Deployment, &created);
    Ok(())
}
