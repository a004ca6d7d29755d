//! The StatefulSet controller, ported from `pkg/controller/statefulset` (stateful_set_control.go,
//! stateful_set_utils.go): ControllerRevisions hashed from their data bytes (`<name>-<hash>`,
//! revision = last + 1, an equal older revision re-numbered instead of duplicated),
//! `status.currentRevision` / `updateRevision`, pods `<name>-<ordinal>` created in order and
//! updated from the highest ordinal down to the partition, one at a time while `OrderedReady`, and
//! `OnDelete` leaving pods alone until someone deletes them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::hash::revision_hash;
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;
use crate::world::World;

use super::history::{self, HASH_LABEL};
use super::pods::{self, PodName, PodSpecifics};
use super::{name, update, update_status};

/// Syncs one StatefulSet.
pub fn sync(world: &mut World, ns: &str, set_name: &str) -> Result<(), ApiError> {
    let Some((set, selector)) = super::workload(world, ResourceKind::StatefulSet, ns, set_name)
    else {
        return Ok(());
    };
    let revisions = claim_revisions(world, &set, &selector)?;
    let (current, update_rev, collision_count) = revisions_of(world, &set, &revisions)?;
    let status = update_pods(
        world,
        &set,
        &selector,
        &current,
        &update_rev,
        collision_count,
    )?;
    update_set_status(world, &set, status)?;
    let revisions = claim_revisions(world, &set, &selector)?;
    truncate_history(world, &set, &selector, revisions, &current, &update_rev)
}

/// The set's ControllerRevisions (after adoption and release), oldest revision first.
fn claim_revisions(
    world: &mut World,
    set: &Value,
    selector: &Selector,
) -> Result<Vec<Value>, ApiError> {
    let mut revisions: Vec<Value> = super::claim(
        world,
        ResourceKind::ControllerRevision,
        ResourceKind::StatefulSet,
        set,
        selector,
    )?
    .iter()
    .map(|r| (**r).clone())
    .collect();
    revisions.sort_by(history::by_revision);
    Ok(revisions)
}

/// `getStatefulSetRevisions`: (current, update, collision count).
fn revisions_of(
    world: &mut World,
    set: &Value,
    revisions: &[Value],
) -> Result<(Value, Value, i64), ApiError> {
    let mut collision_count = json::i64_at(set, &["status", "collisionCount"]).unwrap_or(0);
    let next = revisions.last().map(history::number).unwrap_or(0) + 1;
    let data = history::revision_data(set);
    let bytes = json::to_vec(&data);
    let equal: Vec<&Value> = revisions
        .iter()
        .filter(|r| history::data_bytes(r) == bytes)
        .collect();
    let update_rev = match (equal.last(), revisions.last()) {
        (Some(eq), Some(last)) if history::data_bytes(last) == history::data_bytes(eq) => {
            last.clone()
        }
        (Some(eq), _) => {
            let mut bumped = (*eq).clone();
            bumped["revision"] = json!(next);
            (*update(world, ResourceKind::ControllerRevision, bumped)?).clone()
        }
        (None, _) => loop {
            let hash = revision_hash(&bytes, Some(collision_count));
            let cr_name = format!("{}-{hash}", name(set));
            let cr = history::new_revision(
                ResourceKind::StatefulSet,
                set,
                &cr_name,
                &hash,
                data.clone(),
                next,
            );
            match super::create(world, ResourceKind::ControllerRevision, cr) {
                Ok(created) => break (*created).clone(),
                Err(ApiError::AlreadyExists { .. }) => {
                    let ns = json::str_at(set, &["metadata", "namespace"]);
                    let existing = world.get(ResourceKind::ControllerRevision, ns, &cr_name)?;
                    if history::data_bytes(&existing) == bytes {
                        break (*existing).clone();
                    }
                    collision_count += 1;
                }
                Err(err) => return Err(err),
            }
        },
    };
    let current_name = json::str_at(set, &["status", "currentRevision"]);
    let current = revisions
        .iter()
        .find(|r| name(r) == current_name)
        .cloned()
        .unwrap_or_else(|| update_rev.clone());
    Ok((current, update_rev, collision_count))
}

fn ordinal_start(set: &Value) -> i64 {
    json::i64_at(set, &["spec", "ordinals", "start"]).unwrap_or(0)
}

fn ordinal_of(set: &Value, pod: &Value) -> Option<i64> {
    name(pod)
        .strip_prefix(&format!("{}-", name(set)))?
        .parse()
        .ok()
}

fn pod_revision(pod: &Value) -> &str {
    json::str_at(pod, &["metadata", "labels", HASH_LABEL])
}

fn is_running_and_ready(pod: &Value) -> bool {
    json::str_at(pod, &["status", "phase"]) == "Running" && pods::is_ready(pod)
}

/// The pods of the set, by ordinal.
fn set_pods(world: &World, set: &Value, selector: &Selector) -> BTreeMap<i64, Arc<Value>> {
    world
        .store
        .owned(ResourceKind::Pod, super::uid(set))
        .into_iter()
        .filter(|p| super::is_controlled_by(p, set) && selector.matches_object(p))
        .filter_map(|p| ordinal_of(set, &p).map(|o| (o, p)))
        .collect()
}

/// `updateStatefulSet`: one step of creating, deleting and updating pods; returns the status.
fn update_pods(
    world: &mut World,
    set: &Value,
    selector: &Selector,
    current: &Value,
    update_rev: &Value,
    collision_count: i64,
) -> Result<Value, ApiError> {
    let current_name = name(current).to_string();
    let update_name = name(update_rev).to_string();
    let min_ready = json::i64_at(set, &["spec", "minReadySeconds"]).unwrap_or(0);
    let pods_by_ordinal = set_pods(world, set, selector);
    let mut counts = Counts::default();
    for pod in pods_by_ordinal.values() {
        counts.replicas += 1;
        if is_running_and_ready(pod) {
            counts.ready += 1;
            if pods::is_available(world, pod, min_ready) {
                counts.available += 1;
            }
        }
        counts.count_revision(pod_revision(pod), &current_name, &update_name);
    }
    let status = |counts: &Counts| {
        let mut s = json!({
            "replicas": counts.replicas,
            "availableReplicas": counts.available,
            "currentRevision": current_name,
            "updateRevision": update_name,
            "collisionCount": collision_count,
        });
        let optional = [
            (
                "observedGeneration",
                json::i64_at(set, &["metadata", "generation"]).unwrap_or(0),
            ),
            ("readyReplicas", counts.ready),
            ("currentReplicas", counts.current),
            ("updatedReplicas", counts.updated),
        ];
        for (k, v) in optional {
            if v != 0 {
                s[k] = json!(v);
            }
        }
        s
    };
    let start = ordinal_start(set);
    let count = json::i64_at(set, &["spec", "replicas"]).unwrap_or(1).max(0);
    let monotonic = json::str_at(set, &["spec", "podManagementPolicy"]) != "Parallel";
    let rolling = json::str_at(set, &["spec", "updateStrategy", "type"]) == "RollingUpdate";
    let partition = json::i64_at(
        set,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
    )
    .unwrap_or(0);
    for ordinal in start..start + count {
        let Some(pod) = pods_by_ordinal.get(&ordinal) else {
            // `newVersionedStatefulSetPod`: below the partition, pods keep the current revision.
            let from_current = rolling && ordinal - start < partition;
            let revision = if from_current { current } else { update_rev };
            create_pod(world, set, revision, ordinal)?;
            counts.replicas += 1;
            counts.count_revision(name(revision), &current_name, &update_name);
            if monotonic {
                return Ok(status(&counts));
            }
            continue;
        };
        if pods::is_terminal(pod) {
            super::delete(world, ResourceKind::Pod, pod)?;
            if monotonic {
                return Ok(status(&counts));
            }
            continue;
        }
        if !is_running_and_ready(pod) && monotonic {
            return Ok(status(&counts));
        }
    }
    let condemned: Vec<&Arc<Value>> = pods_by_ordinal
        .iter()
        .rev()
        .filter(|(o, _)| **o < start || **o >= start + count)
        .map(|(_, p)| p)
        .collect();
    for pod in condemned {
        super::delete(world, ResourceKind::Pod, pod)?;
        if monotonic {
            return Ok(status(&counts));
        }
    }
    if !rolling {
        return Ok(status(&counts));
    }
    for ordinal in (start + partition.max(0)..start + count).rev() {
        let Some(pod) = pods_by_ordinal.get(&ordinal) else {
            continue;
        };
        if pod_revision(pod) != update_name {
            super::delete(world, ResourceKind::Pod, pod)?;
            if pod_revision(pod) == current_name {
                counts.current -= 1;
            }
            return Ok(status(&counts));
        }
        if !is_running_and_ready(pod) {
            return Ok(status(&counts));
        }
    }
    Ok(status(&counts))
}

#[derive(Default)]
struct Counts {
    replicas: i64,
    ready: i64,
    available: i64,
    current: i64,
    updated: i64,
}

impl Counts {
    fn count_revision(&mut self, revision: &str, current: &str, update: &str) {
        if revision == current {
            self.current += 1;
        }
        if revision == update {
            self.updated += 1;
        }
    }
}

fn create_pod(
    world: &mut World,
    set: &Value,
    revision: &Value,
    ordinal: i64,
) -> Result<(), ApiError> {
    let mut template = history::template_of(revision);
    if template.get("spec").is_none() {
        template = json::at(set, &["spec", "template"])
            .cloned()
            .unwrap_or(Value::Null);
    }
    let pod_name = format!("{}-{ordinal}", name(set));
    let mut labels = BTreeMap::new();
    labels.insert(HASH_LABEL.to_string(), name(revision).to_string());
    labels.insert(
        "statefulset.kubernetes.io/pod-name".to_string(),
        pod_name.clone(),
    );
    labels.insert(
        "apps.kubernetes.io/pod-index".to_string(),
        ordinal.to_string(),
    );
    let service = json::str_at(set, &["spec", "serviceName"]).to_string();
    pods::create(
        world,
        ResourceKind::StatefulSet,
        set,
        &template,
        PodSpecifics {
            name: PodName::Fixed(pod_name.clone()),
            labels,
            node: None,
            hostname: Some((pod_name, service)),
        },
    )?;
    Ok(())
}

/// `updateStatefulSetStatus` with `completeRollingUpdate`.
fn update_set_status(world: &mut World, set: &Value, mut status: Value) -> Result<(), ApiError> {
    let rolling = json::str_at(set, &["spec", "updateStrategy", "type"]) == "RollingUpdate";
    let get = |s: &Value, k: &str| json::i64_at(s, &[k]).unwrap_or(0);
    if rolling
        && get(&status, "updatedReplicas") == get(&status, "replicas")
        && get(&status, "readyReplicas") == get(&status, "replicas")
    {
        let updated = get(&status, "updatedReplicas");
        if updated != 0 {
            status["currentReplicas"] = json!(updated);
        } else if let Some(m) = status.as_object_mut() {
            m.remove("currentReplicas");
        }
        status["currentRevision"] = status["updateRevision"].clone();
    }
    if let Some(c) = json::at(set, &["status", "conditions"]) {
        status["conditions"] = c.clone();
    }
    let fresh = world.get(
        ResourceKind::StatefulSet,
        json::str_at(set, &["metadata", "namespace"]),
        name(set),
    )?;
    if fresh.get("status") != Some(&status) {
        let mut updated = (*fresh).clone();
        updated["status"] = status;
        update_status(world, ResourceKind::StatefulSet, updated)?;
    }
    Ok(())
}

/// `truncateHistory`: non-live revisions beyond `revisionHistoryLimit`, oldest first.
fn truncate_history(
    world: &mut World,
    set: &Value,
    selector: &Selector,
    mut revisions: Vec<Value>,
    current: &Value,
    update_rev: &Value,
) -> Result<(), ApiError> {
    let mut live: BTreeSet<String> = set_pods(world, set, selector)
        .values()
        .map(|p| pod_revision(p).to_string())
        .collect();
    live.insert(name(current).to_string());
    live.insert(name(update_rev).to_string());
    revisions.sort_by(history::by_revision);
    let history: Vec<&Value> = revisions
        .iter()
        .filter(|r| !live.contains(name(r)))
        .collect();
    let limit = json::i64_at(set, &["spec", "revisionHistoryLimit"])
        .unwrap_or(10)
        .max(0) as usize;
    if history.len() <= limit {
        return Ok(());
    }
    for r in &history[..history.len() - limit] {
        super::delete(world, ResourceKind::ControllerRevision, r)?;
    }
    Ok(())
}
