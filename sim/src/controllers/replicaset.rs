//! The ReplicaSet controller: keeps `spec.replicas` pods of the template alive, deleting the least
//! useful first (not ready before ready, newest first), and reports `status` computed, as
//! `syncReplicaSet` does, from the pods it saw before acting (the next pass reports the result).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;
use crate::world::World;

use super::pods::{self, PodName, PodSpecifics};
use super::{by_creation, delete, update_status};

/// Syncs one ReplicaSet.
pub fn sync(world: &mut World, ns: &str, name: &str) -> Result<(), ApiError> {
    let Some(rs) = world.store.get(ResourceKind::ReplicaSet, ns, name).cloned() else {
        return Ok(());
    };
    let selector =
        Selector::from_label_selector(json::at(&rs, &["spec", "selector"])).unwrap_or_default();
    let mut active: Vec<Value> = world
        .store
        .owned(ResourceKind::Pod, super::uid(&rs))
        .into_iter()
        .filter(|p| {
            super::is_controlled_by(p, &rs) && !pods::is_terminal(p) && selector.matches_object(p)
        })
        .map(|p| (*p).clone())
        .collect();
    let status = calculate_status(world, &rs, &active);
    let wanted = json::i64_at(&rs, &["spec", "replicas"]).unwrap_or(1).max(0) as usize;
    if active.len() < wanted {
        let template = rs["spec"]["template"].clone();
        for _ in active.len()..wanted {
            pods::create(
                world,
                ResourceKind::ReplicaSet,
                &rs,
                &template,
                PodSpecifics {
                    name: PodName::Generate(format!("{name}-")),
                    labels: BTreeMap::new(),
                    node: None,
                    hostname: None,
                },
            )?;
        }
    } else if active.len() > wanted {
        // Not ready before ready; among equals, the newest goes first.
        active.sort_by(|a, b| {
            pods::is_ready(a)
                .cmp(&pods::is_ready(b))
                .then_with(|| by_creation(b, a))
        });
        for pod in &active[..active.len() - wanted] {
            delete(world, ResourceKind::Pod, pod)?;
        }
    }
    if rs.get("status") != Some(&status) {
        let mut updated = (*rs).clone();
        updated["status"] = status;
        update_status(world, ResourceKind::ReplicaSet, updated)?;
    }
    Ok(())
}

fn calculate_status(world: &World, rs: &Value, active: &[Value]) -> Value {
    let template_labels = json::at(rs, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let min_ready = json::i64_at(rs, &["spec", "minReadySeconds"]).unwrap_or(0);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .all(|(k, v)| json::at(p, &["metadata", "labels", k]) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(world, p, min_ready))
        .count();
    let mut status = json!({"replicas": active.len()});
    for (key, value) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if value > 0 {
            status[key] = json!(value);
        }
    }
    if world.cluster.counts_terminating_replicas() {
        // Pods go at once when deleted here, so none is ever terminating.
        status["terminatingReplicas"] = json!(0);
    }
    if let Some(generation) = json::i64_at(rs, &["metadata", "generation"]) {
        status["observedGeneration"] = json!(generation);
    }
    status
}
