//! Replaying a kube-sim [`Scenario`] on a real cluster, and the waits that make a real
//! cluster's state comparable to the sim's: each template change is applied through the API and
//! rolled out to rest before the next (as the sim's instant model leaves every revision), the
//! workloads side by side, in namespaces the caller chooses. Times cannot be set: everything
//! happened seconds ago. Test and development use: a failed request panics, naming the object
//! and the API's answer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube_sim::{ImageFailure, ReplayAction, ResourceKind, Scenario};
use serde_json::{Value, json};

/// How long a step or a settle may take.
const WAIT: Duration = Duration::from_secs(120);

/// A client that reads and writes objects by kube-sim's [`ResourceKind`].
#[derive(Clone)]
pub struct Objects {
    client: kube::Client,
}

/// Creates a namespace for each of `scenario`'s (those it declares and those its manifests
/// name): fresh ones (`shop-7-4242`, see [`crate::create_namespace`]) or, with `fresh` false,
/// under the scenario's own names. Returns scenario name -> real name.
pub async fn namespaces(
    client: &kube::Client,
    scenario: &Scenario,
    fresh: bool,
) -> BTreeMap<String, String> {
    let mut wanted: Vec<String> = scenario.namespaces().to_vec();
    for step in scenario.replay() {
        if let ReplayAction::Apply(_, manifest) | ReplayAction::Create(_, manifest) = step.action
            && let Some(ns) = manifest["metadata"]["namespace"].as_str()
            && !wanted.iter().any(|w| w == ns)
        {
            wanted.push(ns.to_string());
        }
    }
    let mut namespaces = BTreeMap::new();
    for logical in wanted {
        let actual = if fresh {
            crate::create_namespace(client, &logical).await
        } else {
            crate::create_namespace_named(client, &logical).await
        }
        .unwrap_or_else(|e| panic!("creating a namespace for {logical:?}: {e}"));
        namespaces.insert(logical, actual);
    }
    namespaces
}

impl Objects {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// Plays `scenario` into `namespaces` (from [`namespaces`]) and returns when every
    /// workload has settled.
    pub async fn replay(&self, scenario: &Scenario, namespaces: &BTreeMap<String, String>) {
        // Each object's steps in order, objects side by side: a workload's revisions are rolled
        // out one after the other, while the other workloads roll out theirs.
        let mut objects: Vec<(String, Vec<ReplayAction>)> = Vec::new();
        for step in scenario.replay() {
            let key = match step.action {
                ReplayAction::Apply(kind, manifest) | ReplayAction::Create(kind, manifest) => {
                    format!(
                        "{kind:?}/{}/{}",
                        manifest["metadata"]["namespace"], manifest["metadata"]["name"]
                    )
                }
                ReplayAction::BulkHistory => {
                    panic!(
                        "bulk histories are built by the sim's fast path: only kube-sim can seed them"
                    )
                }
                ReplayAction::Unknown(message) => panic!("{message}"),
            };
            match objects.iter_mut().find(|(k, _)| *k == key) {
                Some((_, actions)) => actions.push(step.action),
                None => objects.push((key, vec![step.action])),
            }
        }
        futures::future::join_all(
            objects
                .iter()
                .map(|(_, actions)| self.replay_object(actions, namespaces)),
        )
        .await;
    }

    /// One object's steps: each applied and, for a workload, waited on until it settles.
    async fn replay_object(
        &self,
        actions: &[ReplayAction<'_>],
        namespaces: &BTreeMap<String, String>,
    ) {
        for action in actions {
            match *action {
                ReplayAction::Apply(kind, manifest) => {
                    let (ns, name) = self.apply(kind, manifest, namespaces).await;
                    if is_workload(kind) {
                        self.settle(kind, &ns, &name).await;
                    }
                }
                ReplayAction::Create(kind, manifest) => {
                    let mut manifest = manifest.clone();
                    map_namespace(&mut manifest, namespaces);
                    let ns = manifest["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    self.send("POST", &collection_path(kind, &ns), Some(&manifest))
                        .await
                        .unwrap_or_else(|e| panic!("creating {manifest}: {e}"));
                }
                ReplayAction::BulkHistory | ReplayAction::Unknown(_) => {}
            }
        }
    }

    /// Creates the object or updates it like `kubectl apply` (the sim's seeding does the same):
    /// labels and spec replaced, annotations merged. Returns its (namespace, name).
    async fn apply(
        &self,
        kind: ResourceKind,
        manifest: &Value,
        namespaces: &BTreeMap<String, String>,
    ) -> (String, String) {
        let mut manifest = manifest.clone();
        map_namespace(&mut manifest, namespaces);
        let ns = manifest["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if self.get(kind, &ns, &name).await.is_none() {
            self.send("POST", &collection_path(kind, &ns), Some(&manifest))
                .await
                .unwrap_or_else(|e| panic!("creating {kind:?} {ns}/{name}: {e}"));
        } else {
            self.update(kind, &ns, &name, "", |existing| {
                match manifest["metadata"].get("labels") {
                    Some(labels) => existing["metadata"]["labels"] = labels.clone(),
                    None => {
                        existing["metadata"]
                            .as_object_mut()
                            .map(|m| m.remove("labels"));
                    }
                }
                if let Some(annotations) = manifest["metadata"]["annotations"].as_object() {
                    for (key, value) in annotations {
                        existing["metadata"]["annotations"][key] = value.clone();
                    }
                }
                if let Some(spec) = manifest.get("spec") {
                    existing["spec"] = spec.clone();
                }
            })
            .await;
        }
        (ns, name)
    }

    /// One object, or None when it does not exist.
    pub async fn get(&self, kind: ResourceKind, ns: &str, name: &str) -> Option<Value> {
        match self.send("GET", &object_path(kind, ns, name), None).await {
            Ok(value) => Some(value),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => panic!("GET {kind:?} {ns}/{name}: {e}"),
        }
    }

    /// Every object of `kind` in `ns`, in name order.
    pub async fn list(&self, kind: ResourceKind, ns: &str) -> Vec<Value> {
        let list = self
            .send("GET", &collection_path(kind, ns), None)
            .await
            .unwrap_or_else(|e| panic!("LIST {kind:?} in {ns}: {e}"));
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        items.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        items
    }

    /// GET, change, PUT (`subresource` is `""` or `"/status"`); again on a conflict, since
    /// controllers write status all the time.
    pub async fn update(
        &self,
        kind: ResourceKind,
        ns: &str,
        name: &str,
        subresource: &str,
        change: impl Fn(&mut Value),
    ) -> Value {
        for _ in 0..20 {
            let mut object = self
                .get(kind, ns, name)
                .await
                .unwrap_or_else(|| panic!("{kind:?} {ns}/{name} exists"));
            change(&mut object);
            let path = format!("{}{subresource}", object_path(kind, ns, name));
            match self.send("PUT", &path, Some(&object)).await {
                Ok(updated) => return updated,
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(e) => panic!("PUT {path}: {e}"),
            }
        }
        panic!("{kind:?} {ns}/{name}: 20 conflicts in a row")
    }

    /// One request to the API server, JSON in and out.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, kube::Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .expect("a request");
        self.client.request::<Value>(request).await
    }

    /// Until the controller has observed the latest spec and the rollout has come to rest
    /// ([`settled`]) with the same status on two reads 300 ms apart, so a test reads a status
    /// that stands still.
    pub async fn settle(&self, kind: ResourceKind, ns: &str, name: &str) {
        let deadline = Instant::now() + WAIT;
        let mut previous: Option<Value> = None;
        // Settled and unchanged for three reads in a row (600 ms): a controller between two
        // steps of a rollout can look settled for one.
        let mut steady = 0;
        loop {
            let object = self.get(kind, ns, name).await;
            let status = object.as_ref().map(|o| o["status"].clone());
            let done = object
                .as_ref()
                .is_some_and(|o| observed(o) && settled(kind, o));
            steady = if done && status == previous {
                steady + 1
            } else {
                0
            };
            if steady >= 2 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?} {ns}/{name}: waited {} s for its rollout to settle: {}",
                WAIT.as_secs(),
                status.unwrap_or_default()
            );
            previous = if done { status } else { None };
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Moves a manifest into the namespace its scenario namespace stands for.
fn map_namespace(manifest: &mut Value, namespaces: &BTreeMap<String, String>) {
    if let Some(ns) = manifest["metadata"]["namespace"].as_str()
        && let Some(actual) = namespaces.get(ns)
    {
        manifest["metadata"]["namespace"] = json!(actual);
    }
}

fn is_workload(kind: ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::Deployment | ResourceKind::DaemonSet | ResourceKind::StatefulSet
    )
}

pub fn collection_path(kind: ResourceKind, ns: &str) -> String {
    let prefix = if kind.group().is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{}", kind.api_version())
    };
    if kind.namespaced() {
        format!("{prefix}/namespaces/{ns}/{}", kind.plural())
    } else {
        format!("{prefix}/{}", kind.plural())
    }
}

pub fn object_path(kind: ResourceKind, ns: &str, name: &str) -> String {
    format!("{}/{name}", collection_path(kind, ns))
}

fn observed(object: &Value) -> bool {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    object["status"]["observedGeneration"]
        .as_i64()
        .unwrap_or(-1)
        >= generation
}

/// Whether a workload's rollout has come to rest, as the sim's instant model leaves it: complete,
/// or (for a bad image, see kube_sim::ImageFailure) failed past a short progress deadline, or
/// as far as it goes (paused, a bad image with a long deadline, OnDelete).
fn settled(kind: ResourceKind, object: &Value) -> bool {
    let spec = &object["spec"];
    let status = &object["status"];
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let failing = spec["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| ImageFailure::of(c["image"].as_str().unwrap_or_default()).is_some());
    match kind {
        ResourceKind::Deployment => {
            if spec["paused"].as_bool() == Some(true) {
                return true;
            }
            let replicas = spec["replicas"].as_i64().unwrap_or(1);
            // Old pods gone too (kube-sim deletes them at once; a real kubelet takes a moment).
            let complete = int(&status["updatedReplicas"]) == replicas
                && int(&status["replicas"]) == replicas
                && int(&status["availableReplicas"]) == replicas
                && int(&status["terminatingReplicas"]) == 0;
            let exceeded = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["reason"] == "ProgressDeadlineExceeded");
            let deadline = spec["progressDeadlineSeconds"].as_i64().unwrap_or(600);
            complete || (failing && (exceeded || deadline > 30))
        }
        ResourceKind::DaemonSet => {
            let desired = int(&status["desiredNumberScheduled"]);
            if failing || spec["updateStrategy"]["type"] == "OnDelete" {
                return int(&status["currentNumberScheduled"]) == desired;
            }
            desired > 0
                && int(&status["updatedNumberScheduled"]) == desired
                && int(&status["numberAvailable"]) == desired
        }
        ResourceKind::StatefulSet => {
            let replicas = spec["replicas"].as_i64().unwrap_or(1);
            if failing {
                return true;
            }
            if spec["updateStrategy"]["type"] == "OnDelete" {
                return int(&status["readyReplicas"]) == replicas;
            }
            let partition = int(&spec["updateStrategy"]["rollingUpdate"]["partition"]);
            int(&status["readyReplicas"]) == replicas
                && int(&status["updatedReplicas"]) >= replicas - partition
                && (partition > 0 || status["updateRevision"] == status["currentRevision"])
        }
        _ => true,
    }
}
