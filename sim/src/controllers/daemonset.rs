//! The DaemonSet controller, ported from `pkg/controller/daemon` (daemon_controller.go,
//! update.go): one pod per simulated node, a ControllerRevision per distinct template
//! (`<name>-<hash>`, dedup by data bytes, the current one's revision bumped to max + 1 when an old
//! template returns), rolling updates bounded by `maxUnavailable` / `maxSurge`, history clean-up
//! that keeps revisions live pods still run, and the status counters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::hash::template_hash;
use crate::json;
use crate::registry::DS_TEMPLATE_GENERATION;
use crate::resources::ResourceKind;
use crate::selector::Selector;
use crate::world::World;

use super::history::{self, HASH_LABEL};
use super::pods::{self, PodName, PodSpecifics};
use super::{by_creation, name, scaled_value, update, update_status};

/// The label carrying the DaemonSet's template generation on its pods.
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// Syncs one DaemonSet.
pub fn sync(world: &mut World, ns: &str, ds_name: &str) -> Result<(), ApiError> {
    let Some((ds, selector)) = super::workload(world, ResourceKind::DaemonSet, ns, ds_name) else {
        return Ok(());
    };
    let (cur, old) = construct_history(world, &ds, &selector)?;
    let hash = json::str_at(&cur, &["metadata", "labels", HASH_LABEL]).to_string();
    let ds = world.get(ResourceKind::DaemonSet, ns, ds_name)?;
    manage(world, &ds, &hash)?;
    if json::str_at(&ds, &["spec", "updateStrategy", "type"]) == "RollingUpdate" {
        rolling_update(world, &ds, &hash)?;
    }
    cleanup_history(world, &ds, &old)?;
    update_daemonset_status(world, &ds, &hash)
}

/// `constructHistory`: the current revision (created or re-numbered) and the old ones.
fn construct_history(
    world: &mut World,
    ds: &Value,
    selector: &Selector,
) -> Result<(Value, Vec<Value>), ApiError> {
    let mut current = Vec::new();
    let mut old = Vec::new();
    for h in super::claim(
        world,
        ResourceKind::ControllerRevision,
        ResourceKind::DaemonSet,
        ds,
        selector,
    )? {
        let mut h = (*h).clone();
        if json::at(&h, &["metadata", "labels", HASH_LABEL]).is_none() {
            let label = name(&h).to_string();
            json::object_at(&mut h, &["metadata", "labels"])
                .insert(HASH_LABEL.into(), json!(label));
            h = (*update(world, ResourceKind::ControllerRevision, h)?).clone();
        }
        if history::matches(ds, &h) {
            current.push(h);
        } else {
            old.push(h);
        }
    }
    let next = old.iter().map(history::number).max().unwrap_or(0) + 1;
    let cur = if current.is_empty() {
        snapshot(world, ds, next)?
    } else {
        let mut cur = dedup(world, ds, current)?;
        if history::number(&cur) < next {
            cur["revision"] = json!(next);
            cur = (*update(world, ResourceKind::ControllerRevision, cur)?).clone();
        }
        cur
    };
    Ok((cur, old))
}

fn snapshot(world: &mut World, ds: &Value, revision: i64) -> Result<Value, ApiError> {
    let template = json::at(ds, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null);
    let collision_count = json::i64_at(ds, &["status", "collisionCount"]);
    let hash = template_hash(&template, collision_count);
    let cr_name = format!("{}-{hash}", name(ds));
    let cr = history::new_revision(
        ResourceKind::DaemonSet,
        ds,
        &cr_name,
        &hash,
        history::revision_data(ds),
        revision,
    );
    match super::create(world, ResourceKind::ControllerRevision, cr) {
        Ok(created) => Ok((*created).clone()),
        Err(ApiError::AlreadyExists { .. }) => {
            let ns = json::str_at(ds, &["metadata", "namespace"]);
            let existing = world.get(ResourceKind::ControllerRevision, ns, &cr_name)?;
            if history::matches(ds, &existing) {
                return Ok((*existing).clone());
            }
            let mut bumped = ds.clone();
            json::set_at(
                &mut bumped,
                &["status", "collisionCount"],
                json!(collision_count.unwrap_or(0) + 1),
            );
            update_status(world, ResourceKind::DaemonSet, bumped)?;
            Err(ApiError::AlreadyExists {
                kind: ResourceKind::ControllerRevision,
                name: cr_name,
            })
        }
        Err(err) => Err(err),
    }
}

/// `dedupCurHistories`: keeps the highest revision among equal ones, relabels pods, deletes the rest.
fn dedup(world: &mut World, ds: &Value, mut current: Vec<Value>) -> Result<Value, ApiError> {
    current.sort_by(history::by_revision);
    let Some(keep) = current.pop() else {
        return Err(ApiError::BadRequest("no current history".into()));
    };
    let keep_hash = json::str_at(&keep, &["metadata", "labels", HASH_LABEL]).to_string();
    for duplicate in &current {
        for pod in daemon_pods(world, ds) {
            if json::str_at(&pod, &["metadata", "labels", HASH_LABEL]) != keep_hash {
                let mut relabeled = (*pod).clone();
                json::object_at(&mut relabeled, &["metadata", "labels"])
                    .insert(HASH_LABEL.into(), json!(keep_hash));
                update(world, ResourceKind::Pod, relabeled)?;
            }
        }
        super::delete(world, ResourceKind::ControllerRevision, duplicate)?;
    }
    Ok(keep)
}

fn daemon_pods(world: &World, ds: &Value) -> Vec<Arc<Value>> {
    let mut pods: Vec<Arc<Value>> = world
        .store
        .owned(ResourceKind::Pod, super::uid(ds))
        .into_iter()
        .filter(|p| super::is_controlled_by(p, ds) && !pods::is_terminal(p))
        .collect();
    pods.sort_by(|a, b| by_creation(a, b));
    pods
}

fn pods_by_node(world: &World, ds: &Value) -> BTreeMap<String, Vec<Arc<Value>>> {
    let mut by_node: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
    for pod in daemon_pods(world, ds) {
        let node = json::str_at(&pod, &["spec", "nodeName"]).to_string();
        by_node.entry(node).or_default().push(pod);
    }
    by_node
}

fn template_generation(ds: &Value) -> String {
    json::str_at(ds, &["metadata", "annotations", DS_TEMPLATE_GENERATION]).to_string()
}

/// `util.IsPodUpdated`.
fn is_updated(ds: &Value, pod: &Value, hash: &str) -> bool {
    let labels = |k: &str| json::str_at(pod, &["metadata", "labels", k]).to_string();
    let generation = template_generation(ds);
    (!hash.is_empty() && labels(HASH_LABEL) == hash)
        || (!generation.is_empty() && labels(TEMPLATE_GENERATION_LABEL) == generation)
}

fn min_ready_seconds(ds: &Value) -> i64 {
    json::i64_at(ds, &["spec", "minReadySeconds"]).unwrap_or(0)
}

fn surge_and_unavailable(ds: &Value, desired: i64) -> (i64, i64) {
    let rolling = json::at(ds, &["spec", "updateStrategy", "rollingUpdate"]);
    let surge = scaled_value(rolling.and_then(|r| r.get("maxSurge")), desired, true);
    let mut unavailable =
        scaled_value(rolling.and_then(|r| r.get("maxUnavailable")), desired, true);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `manage`: a pod on every node that has none; extra pods removed.
fn manage(world: &mut World, ds: &Value, hash: &str) -> Result<(), ApiError> {
    let by_node = pods_by_node(world, ds);
    let nodes = world.cluster.nodes.clone();
    let (surge, _) = surge_and_unavailable(ds, nodes.len() as i64);
    for node in &nodes {
        let on_node = by_node.get(node).cloned().unwrap_or_default();
        if on_node.is_empty() {
            create_pod(world, ds, hash, node)?;
            continue;
        }
        // Oldest first; with surge an updated pod may run beside the old one until it is available.
        let keep = if surge > 0 { 2 } else { 1 };
        for extra in on_node.iter().skip(keep) {
            super::delete(world, ResourceKind::Pod, extra)?;
        }
    }
    for (node, pods_there) in &by_node {
        if !nodes.contains(node) {
            for pod in pods_there {
                super::delete(world, ResourceKind::Pod, pod)?;
            }
        }
    }
    Ok(())
}

fn create_pod(world: &mut World, ds: &Value, hash: &str, node: &str) -> Result<(), ApiError> {
    let template = json::at(ds, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null);
    let mut labels = BTreeMap::new();
    labels.insert(HASH_LABEL.to_string(), hash.to_string());
    labels.insert(
        TEMPLATE_GENERATION_LABEL.to_string(),
        template_generation(ds),
    );
    pods::create(
        world,
        ResourceKind::DaemonSet,
        ds,
        &template,
        PodSpecifics {
            name: PodName::Generate(format!("{}-", name(ds))),
            labels,
            node: Some(node.to_string()),
            hostname: None,
        },
    )?;
    Ok(())
}

/// A node's updated pod and old pod.
type NodePods = (Option<Arc<Value>>, Option<Arc<Value>>);

/// `findUpdatedPodsOnNode`: the node's new and old pod, or `None` when there are several of a kind.
fn updated_and_old(ds: &Value, pods_there: &[Arc<Value>], hash: &str) -> Option<NodePods> {
    let mut new = None;
    let mut old = None;
    for pod in pods_there {
        let slot = if is_updated(ds, pod, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod.clone());
    }
    Some((new, old))
}

/// `rollingUpdate`.
fn rolling_update(world: &mut World, ds: &Value, hash: &str) -> Result<(), ApiError> {
    let by_node = pods_by_node(world, ds);
    let desired = world.cluster.nodes.len() as i64;
    let (max_surge, max_unavailable) = surge_and_unavailable(ds, desired);
    let min_ready = min_ready_seconds(ds);
    let mut to_delete: Vec<Arc<Value>> = Vec::new();
    if max_surge == 0 {
        let mut num_unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods_there in by_node.values() {
            let Some((new, old)) = updated_and_old(ds, pods_there, hash) else {
                num_unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => num_unavailable += 1,
                (Some(new), None) => {
                    if !pods::is_available(world, &new, min_ready) {
                        num_unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !pods::is_available(world, &old, min_ready) {
                        replacements.push(old);
                    } else if num_unavailable < max_unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let remaining =
            (max_unavailable - num_unavailable).clamp(0, candidates.len() as i64) as usize;
        to_delete.extend(replacements);
        to_delete.extend(candidates.into_iter().take(remaining));
    } else {
        let mut num_surge = 0;
        let mut surge_nodes = Vec::new();
        for (node, pods_there) in &by_node {
            let Some((new, old)) = updated_and_old(ds, pods_there, hash) else {
                num_surge += 1;
                continue;
            };
            match (new, old) {
                (_, None) => {}
                (None, Some(old)) => {
                    if !pods::is_available(world, &old, min_ready) {
                        surge_nodes.push(node.clone());
                    } else if num_surge < max_surge {
                        num_surge += 1;
                        surge_nodes.push(node.clone());
                    }
                }
                (Some(new), Some(old)) => {
                    if pods::is_available(world, &new, min_ready) {
                        to_delete.push(old);
                    } else {
                        num_surge += 1;
                    }
                }
            }
        }
        for node in surge_nodes {
            create_pod(world, ds, hash, &node)?;
        }
    }
    for pod in to_delete {
        super::delete(world, ResourceKind::Pod, &pod)?;
    }
    Ok(())
}

/// `cleanupHistory`: old revisions beyond the limit, oldest first, unless live pods run them.
fn cleanup_history(world: &mut World, ds: &Value, old: &[Value]) -> Result<(), ApiError> {
    let keep = json::i64_at(ds, &["spec", "revisionHistoryLimit"])
        .unwrap_or(10)
        .max(0);
    let mut to_kill = old.len() as i64 - keep;
    if to_kill <= 0 {
        return Ok(());
    }
    let live: BTreeSet<String> = daemon_pods(world, ds)
        .iter()
        .map(|p| json::str_at(p, &["metadata", "labels", HASH_LABEL]).to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let mut ordered: Vec<&Value> = old.iter().collect();
    ordered.sort_by(|a, b| history::by_revision(a, b));
    for h in ordered {
        if to_kill <= 0 {
            break;
        }
        if live.contains(json::str_at(h, &["metadata", "labels", HASH_LABEL])) {
            continue;
        }
        super::delete(world, ResourceKind::ControllerRevision, h)?;
        to_kill -= 1;
    }
    Ok(())
}

/// `updateDaemonSetStatus`.
fn update_daemonset_status(world: &mut World, ds: &Value, hash: &str) -> Result<(), ApiError> {
    let ds = world.get(
        ResourceKind::DaemonSet,
        json::str_at(ds, &["metadata", "namespace"]),
        name(ds),
    )?;
    let by_node = pods_by_node(world, &ds);
    let min_ready = min_ready_seconds(&ds);
    let (mut desired, mut current, mut ready, mut available, mut updated) = (0, 0, 0, 0, 0);
    for node in &world.cluster.nodes {
        desired += 1;
        let Some(oldest) = by_node.get(node).and_then(|p| p.first()) else {
            continue;
        };
        current += 1;
        if pods::is_ready(oldest) {
            ready += 1;
            if pods::is_available(world, oldest, min_ready) {
                available += 1;
            }
        }
        if is_updated(&ds, oldest, hash) {
            updated += 1;
        }
    }
    let misscheduled = by_node
        .keys()
        .filter(|n| !world.cluster.nodes.contains(n))
        .count();
    let mut status = json!({
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
    });
    let optional = [
        (
            "observedGeneration",
            json::i64_at(&ds, &["metadata", "generation"]).unwrap_or(0),
        ),
        ("updatedNumberScheduled", updated),
        ("numberAvailable", available),
        ("numberUnavailable", desired - available),
    ];
    for (k, v) in optional {
        if v != 0 {
            status[k] = json!(v);
        }
    }
    for k in ["collisionCount", "conditions"] {
        if let Some(v) = json::at(&ds, &["status", k]) {
            status[k] = v.clone();
        }
    }
    if ds.get("status") != Some(&status) {
        let mut updated_ds = (*ds).clone();
        updated_ds["status"] = status;
        update_status(world, ResourceKind::DaemonSet, updated_ds)?;
    }
    Ok(())
}
