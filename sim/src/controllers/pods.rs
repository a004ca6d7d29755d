//! Pods as the workload controllers create them and as a kubelet would report them. Labels and
//! owner references come from the caller (ReplicaSet, DaemonSet or StatefulSet controller); the
//! status follows the scenario's rollout model: ready at once (`Instant`, and always while a
//! scenario is being seeded) or pending until a tick makes it ready (`Stepwise`); a container
//! whose image tag says `crashloop`, `unpullable` or `notready` fails that way for ever
//! ([`ImageFailure`]), a crash-looping one restarting once per tick.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::clock::parse_time;
use crate::errors::ApiError;
use crate::hash::fnv32;
use crate::json;
use crate::resources::ResourceKind;
use crate::rollout::{ImageFailure, Pace};
use crate::world::World;

use super::{controller_ref, controller_uid, update_status};

/// How a new pod is named.
pub enum PodName {
    /// `generateName`: `<prefix><5 random characters>`.
    Generate(String),
    /// A fixed name (StatefulSet ordinals).
    Fixed(String),
}

/// What the owning controller puts on a new pod beyond its template.
pub struct PodSpecifics {
    /// Name or name prefix.
    pub name: PodName,
    /// Labels added to the template's (`pod-template-hash`, `controller-revision-hash`, ...).
    pub labels: BTreeMap<String, String>,
    /// The node, for DaemonSet pods; others are placed round-robin.
    pub node: Option<String>,
    /// `spec.hostname` / `spec.subdomain`, for StatefulSet pods.
    pub hostname: Option<(String, String)>,
}

/// Creates a pod from `template` controlled by `owner`.
pub fn create(
    world: &mut World,
    owner_kind: ResourceKind,
    owner: &Value,
    template: &Value,
    specifics: PodSpecifics,
) -> Result<Arc<Value>, ApiError> {
    let ns = json::str_at(owner, &["metadata", "namespace"]).to_string();
    let index = world.cluster.pods_created;
    world.cluster.pods_created += 1;
    let node_count = world.cluster.nodes.len().max(1) as u64;
    let node = specifics.node.unwrap_or_else(|| {
        world
            .cluster
            .nodes
            .get((index % node_count) as usize)
            .cloned()
            .unwrap_or_else(|| "sim-node-1".to_string())
    });
    let mut labels = json::string_map(template, &["metadata", "labels"]);
    labels.extend(specifics.labels);
    let mut meta = json!({
        "namespace": ns,
        "labels": labels,
        "ownerReferences": [controller_ref(owner_kind, owner)],
    });
    match specifics.name {
        PodName::Generate(prefix) => meta["generateName"] = json!(prefix),
        PodName::Fixed(name) => meta["name"] = json!(name),
    }
    if let Some(a) = json::at(template, &["metadata", "annotations"]) {
        meta["annotations"] = a.clone();
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(s) = spec.as_object_mut() {
        s.insert("nodeName".into(), json!(node));
        s.entry("serviceAccountName").or_insert(json!("default"));
        s.insert("serviceAccount".into(), s["serviceAccountName"].clone());
        s.entry("enableServiceLinks").or_insert(json!(true));
        s.entry("preemptionPolicy")
            .or_insert(json!("PreemptLowerPriority"));
        s.entry("priority").or_insert(json!(0));
        s.entry("tolerations").or_insert_with(|| {
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        });
        if let Some((hostname, subdomain)) = specifics.hostname {
            s.insert("hostname".into(), json!(hostname));
            if !subdomain.is_empty() {
                s.insert("subdomain".into(), json!(subdomain));
            }
        }
    }
    let mut pod = json!({"metadata": meta, "spec": spec});
    let node_index = world
        .cluster
        .nodes
        .iter()
        .position(|n| *n == node)
        .unwrap_or(0);
    let state = initial_state(world, &pod);
    pod["status"] = status(world, &pod, state, node_index, index);
    world.create(ResourceKind::Pod, &ns, pod, false)
}

/// Where a pod is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PodState {
    Ready,
    Starting,
    Failing(ImageFailure),
}

/// How the pod's images make it fail, the first failing container deciding.
fn pod_failure(pod: &Value) -> Option<ImageFailure> {
    images(pod).find_map(ImageFailure::of)
}

fn initial_state(world: &World, pod: &Value) -> PodState {
    if let Some(failure) = pod_failure(pod) {
        PodState::Failing(failure)
    } else if world.cluster.seeding || world.cluster.rollout.pace() == Pace::Instant {
        PodState::Ready
    } else {
        PodState::Starting
    }
}

fn images(pod: &Value) -> impl Iterator<Item = &str> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(move |l| {
            json::at(pod, &["spec", l])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|c| json::str_at(c, &["image"]))
}

fn status(world: &World, pod: &Value, state: PodState, node_index: usize, pod_index: u64) -> Value {
    let now = world.clock.now_rfc3339();
    let ready = state == PodState::Ready;
    let flag = |b: bool| if b { "True" } else { "False" };
    let container_names: Vec<&str> = json::at(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| json::str_at(c, &["name"]))
        .collect();
    let unready_msg = format!(
        "containers with unready status: [{}]",
        container_names.join(" ")
    );
    let condition = |kind: &str, ok: bool, with_reason: bool| {
        let mut c = json!({"type": kind, "status": flag(ok), "lastProbeTime": null, "lastTransitionTime": now});
        if !ok && with_reason {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(unready_msg);
        }
        c
    };
    let conditions = json!([
        condition("PodReadyToStartContainers", true, false),
        condition("Initialized", true, false),
        condition("Ready", ready, true),
        condition("ContainersReady", ready, true),
        condition("PodScheduled", true, false),
    ]);
    let host_ip = format!("10.0.0.{}", 10 + node_index);
    let pod_ip = format!("10.244.{}.{}", node_index, 2 + pod_index % 250);
    let pod_name = json::str_at(pod, &["metadata", "name"]);
    let container_status = |c: &Value, init: bool| {
        let image = json::str_at(c, &["image"]);
        let name = json::str_at(c, &["name"]);
        let digest = format!("{:08x}", fnv32(image.as_bytes())).repeat(8);
        let (state_value, is_ready, running) = match (state, init, ImageFailure::of(image)) {
            (PodState::Failing(_), _, Some(ImageFailure::CrashLoop)) => (
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={name} pod={pod_name}")}}),
                false,
                false,
            ),
            (PodState::Failing(_), _, Some(ImageFailure::Unpullable)) => (
                json!({"waiting": {"reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{image}\": not found")}}),
                false,
                false,
            ),
            (PodState::Failing(_), _, Some(ImageFailure::NotReady)) => {
                (json!({"running": {"startedAt": now}}), false, true)
            }
            (PodState::Starting, false, _) => (
                json!({"waiting": {"reason": "ContainerCreating"}}),
                false,
                false,
            ),
            (PodState::Starting, true, _) => (
                json!({"waiting": {"reason": "PodInitializing"}}),
                false,
                false,
            ),
            (PodState::Ready | PodState::Failing(_), false, _) => {
                (json!({"running": {"startedAt": now}}), true, true)
            }
            (PodState::Ready | PodState::Failing(_), true, _) => (
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}),
                false,
                true,
            ),
        };
        let mut s = json!({
            "name": name, "image": image, "imageID": "", "ready": is_ready,
            "restartCount": 0, "started": is_ready, "state": state_value, "lastState": {},
        });
        if ImageFailure::of(image) == Some(ImageFailure::CrashLoop) {
            s["restartCount"] = json!(1);
            s["lastState"] = crash(&now);
        }
        if running {
            s["imageID"] = json!(format!(
                "{}@sha256:{digest}",
                image.split(':').next().unwrap_or(image)
            ));
            s["containerID"] = json!(format!(
                "containerd://{}",
                &format!("{digest}{digest}")[..64]
            ));
        }
        s
    };
    let statuses = |list: &str, init: bool| -> Vec<Value> {
        json::at(pod, &["spec", list])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| container_status(c, init))
            .collect()
    };
    let phase_running = match state {
        PodState::Ready => true,
        PodState::Starting => false,
        PodState::Failing(failure) => failure != ImageFailure::Unpullable,
    };
    let mut s = json!({
        "phase": if phase_running { "Running" } else { "Pending" },
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": now,
        "containerStatuses": statuses("containers", false),
        "qosClass": qos_class(pod),
    });
    let init = statuses("initContainers", true);
    if !init.is_empty() {
        s["initContainerStatuses"] = json!(init);
    }
    if phase_running {
        s["podIP"] = json!(pod_ip);
        s["podIPs"] = json!([{"ip": pod_ip}]);
    }
    s
}

/// The last termination of a crash-looping container.
fn crash(now: &str) -> Value {
    json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now}})
}

/// `BestEffort`, `Guaranteed` or `Burstable`, from the containers' requests and limits.
fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = json::at(pod, &["spec", "containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let empty = Map::new();
    let res = |c: &Value, k: &str| {
        json::at(c, &["resources", k])
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    if containers
        .iter()
        .all(|c| res(c, "requests").is_empty() && res(c, "limits").is_empty())
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = res(c, "limits");
        let requests = res(c, "requests");
        ["cpu", "memory"].iter().all(|r| {
            limits.get(*r).is_some() && requests.get(*r).is_none_or(|q| Some(q) == limits.get(*r))
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether the pod's `Ready` condition is true.
pub fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| json::str_at(c, &["status"]) == "True")
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    json::at(pod, &["status", "conditions"])?
        .as_array()?
        .iter()
        .find(|c| json::str_at(c, &["type"]) == "Ready")
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready_seconds` at `now`.
pub fn is_available(world: &World, pod: &Value, min_ready_seconds: i64) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since = ready_condition(pod)
        .map(|c| json::str_at(c, &["lastTransitionTime"]))
        .and_then(parse_time);
    since.is_some_and(|t| t.as_second() + min_ready_seconds <= world.clock.now().as_second())
}

/// Whether the pod has ended (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        json::str_at(pod, &["status", "phase"]),
        "Succeeded" | "Failed"
    )
}

/// The kubelet's share of a tick: crash-looping containers restart (and crash) once more, pulls
/// that failed back off; in the stepwise model, the oldest pending pod of each owner becomes
/// ready. Failing pods never do.
pub fn progress(world: &mut World) {
    let failing: Vec<Arc<Value>> = world
        .store
        .list(ResourceKind::Pod, None, None)
        .filter(|pod| pod_failure(pod).is_some() && !is_terminal(pod))
        .cloned()
        .collect();
    let now = world.clock.now_rfc3339();
    for pod in failing {
        let mut updated = (*pod).clone();
        let mut changed = false;
        if let Some(statuses) = updated
            .pointer_mut("/status/containerStatuses")
            .and_then(Value::as_array_mut)
        {
            for status in statuses {
                match json::str_at(status, &["state", "waiting", "reason"]) {
                    "CrashLoopBackOff" => {
                        let restarts = status["restartCount"].as_i64().unwrap_or(0);
                        status["restartCount"] = json!(restarts + 1);
                        status["lastState"] = crash(&now);
                        changed = true;
                    }
                    "ErrImagePull" => {
                        let image = json::str_at(status, &["image"]).to_string();
                        status["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                        changed = true;
                    }
                    _ => {}
                }
            }
        }
        if changed && let Err(err) = update_status(world, ResourceKind::Pod, updated) {
            tracing::debug!(%err, "could not update a failing pod");
        }
    }
    if world.cluster.rollout.pace() != Pace::Stepwise {
        return;
    }
    let mut oldest_pending: BTreeMap<String, Arc<Value>> = BTreeMap::new();
    for pod in world.store.list(ResourceKind::Pod, None, None) {
        if is_ready(pod) || is_terminal(pod) || pod_failure(pod).is_some() {
            continue;
        }
        let owner = controller_uid(pod).unwrap_or_default().to_string();
        let older = oldest_pending
            .get(&owner)
            .is_none_or(|o| super::by_creation(pod, o).is_lt());
        if older {
            oldest_pending.insert(owner, pod.clone());
        }
    }
    for pod in oldest_pending.into_values() {
        let mut updated = (*pod).clone();
        let node_index = world
            .cluster
            .nodes
            .iter()
            .position(|n| n == json::str_at(&pod, &["spec", "nodeName"]))
            .unwrap_or(0);
        let pod_index = u64::from(fnv32(super::name(&pod).as_bytes()));
        let mut new_status = status(world, &pod, PodState::Ready, node_index, pod_index);
        if let Some(start) = json::at(&pod, &["status", "startTime"]) {
            new_status["startTime"] = start.clone();
        }
        updated["status"] = new_status;
        if let Err(err) = update_status(world, ResourceKind::Pod, updated) {
            tracing::debug!(%err, "could not mark a pod ready");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        let pod = |res: Value| json!({"spec": {"containers": [{"name": "a", "resources": res}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
    }
}
