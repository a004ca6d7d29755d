//! The simulated kube-controller-manager: one module per controller, each a port of the real
//! controller's sync function over JSON objects. They write through the same registry as API
//! clients (so validation, resourceVersions and watch events apply), and share the controller-ref
//! bookkeeping here: adopting orphans a selector matches, releasing dependents it no longer
//! matches, and building controller owner references.

pub mod daemonset;
pub mod deployment;
pub mod history;
pub mod pods;
pub mod replicaset;
pub mod statefulset;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::json;
use crate::resources::{ResourceKind, Subresource};
use crate::selector::Selector;
use crate::world::{WorkKey, World};

/// Runs the controller responsible for `key` once.
pub fn sync(world: &mut World, key: &WorkKey) -> Result<(), ApiError> {
    let (kind, ns, name) = key;
    match kind {
        ResourceKind::Deployment => deployment::sync(world, ns, name),
        ResourceKind::ReplicaSet => replicaset::sync(world, ns, name),
        ResourceKind::DaemonSet => daemonset::sync(world, ns, name),
        ResourceKind::StatefulSet => statefulset::sync(world, ns, name),
        _ => Ok(()),
    }
}

/// `metav1.NewControllerRef(owner, gvk)`.
pub fn controller_ref(kind: ResourceKind, owner: &Value) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind(),
        "name": json::str_at(owner, &["metadata", "name"]),
        "uid": json::str_at(owner, &["metadata", "uid"]),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The UID of `object`'s controller owner reference, if any.
pub fn controller_uid(object: &Value) -> Option<&str> {
    json::at(object, &["metadata", "ownerReferences"])?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// `metav1.IsControlledBy(object, owner)`.
pub fn is_controlled_by(object: &Value, owner: &Value) -> bool {
    controller_uid(object) == Some(json::str_at(owner, &["metadata", "uid"]))
}

/// The object's uid.
pub fn uid(object: &Value) -> &str {
    json::str_at(object, &["metadata", "uid"])
}

/// The object's name.
pub fn name(object: &Value) -> &str {
    json::str_at(object, &["metadata", "name"])
}

/// `ClaimReplicaSets` / `ClaimControllerRevisions`: the objects of `dependent` in the owner's
/// namespace that the owner controls after adopting matching orphans and releasing controlled
/// objects its selector no longer matches.
pub fn claim(
    world: &mut World,
    dependent: ResourceKind,
    owner_kind: ResourceKind,
    owner: &Value,
    selector: &Selector,
) -> Result<Vec<Arc<Value>>, ApiError> {
    let ns = json::str_at(owner, &["metadata", "namespace"]).to_string();
    let owner_uid = uid(owner).to_string();
    let mut claimed: Vec<Arc<Value>> = world.store.owned(dependent, &owner_uid);
    claimed.retain(|o| controller_uid(o) == Some(owner_uid.as_str()));
    let orphans: Vec<Arc<Value>> = world
        .store
        .selected(dependent, Some(&ns), selector, None)
        .filter(|o| controller_uid(o).is_none())
        .cloned()
        .collect();
    let mut result = Vec::with_capacity(claimed.len() + orphans.len());
    for obj in claimed {
        if selector.matches_object(&obj) {
            result.push(obj);
        } else {
            let mut released = (*obj).clone();
            if let Some(refs) = released
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| json::str_at(r, &["uid"]) != owner_uid);
            }
            update(world, dependent, released)?;
        }
    }
    for orphan in orphans {
        let mut adopted = (*orphan).clone();
        let refs = json::object_at(&mut adopted, &["metadata"])
            .entry("ownerReferences")
            .or_insert_with(|| json!([]));
        if let Some(list) = refs.as_array_mut() {
            list.push(controller_ref(owner_kind, owner));
        }
        result.push(update(world, dependent, adopted)?);
    }
    Ok(result)
}

/// An unconditional update of the whole object by a controller.
pub fn update(
    world: &mut World,
    kind: ResourceKind,
    object: Value,
) -> Result<Arc<Value>, ApiError> {
    write(world, kind, object, Subresource::Main)
}

/// An unconditional status update by a controller; metadata changes (annotations) ride along, as
/// they do through the real `/status` endpoint.
pub fn update_status(
    world: &mut World,
    kind: ResourceKind,
    object: Value,
) -> Result<Arc<Value>, ApiError> {
    write(world, kind, object, Subresource::Status)
}

fn write(
    world: &mut World,
    kind: ResourceKind,
    mut object: Value,
    subresource: Subresource,
) -> Result<Arc<Value>, ApiError> {
    json::remove_at(&mut object, &["metadata", "resourceVersion"]);
    let ns = json::str_at(&object, &["metadata", "namespace"]).to_string();
    let name = name(&object).to_string();
    world.update(kind, &ns, &name, object, subresource, false)
}

/// A workload to sync and its selector, or `None` when it is gone or selects nothing a
/// controller may act on (an unparsable or empty selector).
pub fn workload(
    world: &World,
    kind: ResourceKind,
    ns: &str,
    name: &str,
) -> Option<(Arc<Value>, Selector)> {
    let object = world.store.get(kind, ns, name)?.clone();
    let selector = Selector::from_label_selector(json::at(&object, &["spec", "selector"])).ok()?;
    (!selector.is_everything()).then_some((object, selector))
}

/// Creates an object on behalf of a controller.
pub fn create(
    world: &mut World,
    kind: ResourceKind,
    object: Value,
) -> Result<Arc<Value>, ApiError> {
    let ns = json::str_at(&object, &["metadata", "namespace"]).to_string();
    world.create(kind, &ns, object, false)
}

/// Deletes an object on behalf of a controller (its dependents go with it).
pub fn delete(world: &mut World, kind: ResourceKind, object: &Value) -> Result<(), ApiError> {
    let ns = json::str_at(object, &["metadata", "namespace"]).to_string();
    world
        .delete(kind, &ns, name(object), &Default::default(), false)
        .map(|_| ())
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int, or a percentage of `total` rounded up or down.
pub fn scaled_value(value: Option<&Value>, total: i64, round_up: bool) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * total + 99) / 100,
            Some(p) => p * total / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// Orders objects by creation time, then name (`ByCreationTimestamp`).
pub fn by_creation(a: &Value, b: &Value) -> std::cmp::Ordering {
    json::str_at(a, &["metadata", "creationTimestamp"])
        .cmp(json::str_at(b, &["metadata", "creationTimestamp"]))
        .then_with(|| name(a).cmp(name(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_intstr() {
        assert_eq!(scaled_value(Some(&json!("25%")), 3, true), 1);
        assert_eq!(scaled_value(Some(&json!("25%")), 3, false), 0);
        assert_eq!(scaled_value(Some(&json!(2)), 3, false), 2);
        assert_eq!(scaled_value(None, 3, false), 0);
    }
}
