//! The Deployment controller, ported from `pkg/controller/deployment` (sync.go, rolling.go,
//! recreate.go, progress.go, util/deployment_util.go): one ReplicaSet per template named
//! `<deployment>-<pod-template-hash>`, revision numbers kept in annotations (max + 1 for the new
//! ReplicaSet, the old number appended to `revision-history` when an old template comes back),
//! the deployment's annotations copied onto its new ReplicaSet, rolling and recreate strategies,
//! proportional scaling, pausing, `revisionHistoryLimit` clean-up, and the `Available` /
//! `Progressing` conditions with their real reasons and messages. Each pass does one step, like
//! the real controller; the world re-queues it until the rollout settles.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::hash::template_hash;
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;
use crate::world::World;

use super::{
    by_creation, controller_ref, is_controlled_by, name, scaled_value, uid, update, update_status,
};

/// `deployment.kubernetes.io/revision`
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// `deployment.kubernetes.io/revision-history`
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// `deployment.kubernetes.io/desired-replicas`
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `deployment.kubernetes.io/max-replicas`
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The label that makes each ReplicaSet's selector unique.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Deployment annotations that are not copied onto ReplicaSets (and kept on rollback).
pub const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

const MAX_REVISION_HISTORY_CHARS: usize = 2000;
const MAX_INT32: i64 = i32::MAX as i64;

/// ReplicaSets are shared with the store until a controller changes one.
type Rs = Arc<Value>;

/// Syncs one Deployment.
pub fn sync(world: &mut World, ns: &str, name: &str) -> Result<(), ApiError> {
    let Some(stored) = world.store.get(ResourceKind::Deployment, ns, name).cloned() else {
        return Ok(());
    };
    let mut d = (*stored).clone();
    let Ok(selector) = Selector::from_label_selector(json::at(&d, &["spec", "selector"])) else {
        return Ok(());
    };
    if selector.is_everything() {
        let generation = json::i64_at(&d, &["metadata", "generation"]).unwrap_or(0);
        if json::i64_at(&d, &["status", "observedGeneration"]).unwrap_or(0) < generation {
            json::set_at(&mut d, &["status", "observedGeneration"], json!(generation));
            update_status(world, ResourceKind::Deployment, d)?;
        }
        return Ok(());
    }
    let rs_list: Vec<Rs> = super::claim(
        world,
        ResourceKind::ReplicaSet,
        ResourceKind::Deployment,
        &d,
        &selector,
    )?;
    check_paused_conditions(world, &mut d)?;
    if paused(&d) {
        return sync_scaling(world, &mut d, &rs_list);
    }
    if is_scaling_event(world, &mut d, &rs_list)? {
        let rs_list = refresh(world, &rs_list);
        return sync_scaling(world, &mut d, &rs_list);
    }
    let rs_list = refresh(world, &rs_list);
    if json::str_at(&d, &["spec", "strategy", "type"]) == "Recreate" {
        rollout_recreate(world, &mut d, &rs_list)
    } else {
        rollout_rolling(world, &mut d, &rs_list)
    }
}

/// The latest stored version of each ReplicaSet (dropping deleted ones).
fn refresh(world: &World, list: &[Rs]) -> Vec<Rs> {
    list.iter()
        .filter_map(|rs| {
            world
                .store
                .get(
                    ResourceKind::ReplicaSet,
                    json::str_at(rs, &["metadata", "namespace"]),
                    name(rs),
                )
                .cloned()
        })
        .collect()
}

fn paused(d: &Value) -> bool {
    json::at(d, &["spec", "paused"]).and_then(Value::as_bool) == Some(true)
}

fn spec_replicas(obj: &Value) -> i64 {
    json::i64_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn status_i64(obj: &Value, field: &str) -> i64 {
    json::i64_at(obj, &["status", field]).unwrap_or(0)
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    json::at(obj, &["metadata", "annotations", key]).and_then(Value::as_str)
}

fn is_rolling(d: &Value) -> bool {
    json::str_at(d, &["spec", "strategy", "type"]) == "RollingUpdate"
}

fn has_progress_deadline(d: &Value) -> bool {
    json::i64_at(d, &["spec", "progressDeadlineSeconds"]).is_some_and(|p| p != MAX_INT32)
}

/// `deploymentutil.Revision`: 0 when missing, an error when unparsable.
pub fn revision(rs: &Value) -> Result<i64, std::num::ParseIntError> {
    match annotation(rs, REVISION) {
        None => Ok(0),
        Some(v) => v.parse(),
    }
}

fn max_revision(list: &[Rs]) -> i64 {
    list.iter()
        .filter_map(|rs| revision(rs).ok())
        .max()
        .unwrap_or(0)
        .max(0)
}

/// `EqualIgnoreHash`: templates equal once the `pod-template-hash` label is dropped (an empty
/// label map equals a missing one, as in `apiequality.Semantic`). Compares in place: this runs
/// against every owned ReplicaSet on every sync.
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    let labels_equal = |x: Option<&Value>, y: Option<&Value>| {
        equal_except(as_map(x), as_map(y), HASH_LABEL, |_, _| true)
    };
    let metadata_equal = |x: Option<&Value>, y: Option<&Value>| {
        equal_except(as_map(x), as_map(y), "labels", labels_equal)
    };
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => equal_except(a, b, "metadata", metadata_equal),
        _ => a == b,
    }
}

/// The object in `v`, or an empty one.
fn as_map(v: Option<&Value>) -> &Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    v.and_then(Value::as_object).unwrap_or(&EMPTY)
}

/// Maps equal on every key but `key`, which `special` compares.
fn equal_except(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    key: &str,
    special: impl Fn(Option<&Value>, Option<&Value>) -> bool,
) -> bool {
    let others = |m: &Map<String, Value>| m.keys().filter(|k| *k != key).count();
    others(a) == others(b)
        && a.iter()
            .filter(|(k, _)| *k != key)
            .all(|(k, v)| b.get(k) == Some(v))
        && special(a.get(key), b.get(key))
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable) for `desired` replicas.
fn fenceposts(d: &Value, desired: i64) -> (i64, i64) {
    let surge = scaled_value(
        json::at(d, &["spec", "strategy", "rollingUpdate", "maxSurge"]),
        desired,
        true,
    );
    let mut unavailable = scaled_value(
        json::at(d, &["spec", "strategy", "rollingUpdate", "maxUnavailable"]),
        desired,
        false,
    );
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn max_surge(d: &Value) -> i64 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d, spec_replicas(d)).0
}

fn max_unavailable(d: &Value) -> i64 {
    let replicas = spec_replicas(d);
    if !is_rolling(d) || replicas == 0 {
        return 0;
    }
    fenceposts(d, replicas).1.min(replicas)
}

fn sum(list: &[&Rs], f: impl Fn(&Value) -> i64) -> i64 {
    list.iter().map(|v| f(v)).sum()
}

fn active<'a>(list: impl IntoIterator<Item = &'a Rs>) -> Vec<&'a Rs> {
    list.into_iter()
        .filter(|rs| spec_replicas(rs) > 0)
        .collect()
}

// ---- conditions ----

fn new_condition(world: &World, kind: &str, status: &str, reason: &str, message: String) -> Value {
    let now = world.clock.now_rfc3339();
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn get_condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| json::str_at(c, &["type"]) == kind)
}

fn remove_condition(status: &mut Value, kind: &str) {
    if let Some(list) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        list.retain(|c| json::str_at(c, &["type"]) != kind);
        if list.is_empty() {
            json::remove_at(status, &["conditions"]);
        }
    }
}

/// `SetDeploymentCondition`: no change for the same status and reason; keeps the transition time
/// when only the reason changes; the condition moves to the end.
fn set_condition(status: &mut Value, mut condition: Value) {
    let kind = json::str_at(&condition, &["type"]).to_string();
    if let Some(current) = get_condition(status, &kind) {
        let same_status = current.get("status") == condition.get("status");
        if same_status && current.get("reason") == condition.get("reason") {
            return;
        }
        if same_status {
            condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
    }
    remove_condition(status, &kind);
    let list = json::ensure_object(status)
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.push(condition);
    }
}

fn check_paused_conditions(world: &mut World, d: &mut Value) -> Result<(), ApiError> {
    if !has_progress_deadline(d) {
        return Ok(());
    }
    let status = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let reason =
        get_condition(&status, "Progressing").map(|c| json::str_at(c, &["reason"]).to_string());
    if reason.as_deref() == Some("ProgressDeadlineExceeded") {
        return Ok(());
    }
    let paused_exists = reason.as_deref() == Some("DeploymentPaused");
    let condition = if paused(d) && !paused_exists {
        new_condition(
            world,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
        )
    } else if !paused(d) && paused_exists {
        new_condition(
            world,
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed".into(),
        )
    } else {
        return Ok(());
    };
    set_condition(status_mut(d), condition);
    *d = (*update_status(world, ResourceKind::Deployment, d.clone())?).clone();
    Ok(())
}

// ---- revisions and the new ReplicaSet ----

/// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created if asked and missing) with its
/// revision brought up to max(old) + 1, and all the old ones.
fn get_all_and_sync_revision(
    world: &mut World,
    d: &mut Value,
    rs_list: &[Rs],
    create: bool,
) -> Result<(Option<Rs>, Vec<Rs>), ApiError> {
    let new_index = find_new_replica_set(d, rs_list);
    let old: Vec<Rs> = rs_list
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != new_index)
        .map(|(_, rs)| rs.clone())
        .collect();
    let new_revision = max_revision(&old) + 1;
    if let Some(i) = new_index {
        let mut rs = (*rs_list[i]).clone();
        let annotations_updated = set_new_rs_annotations(d, &mut rs, new_revision, true);
        let d_min_ready = json::i64_at(d, &["spec", "minReadySeconds"]).unwrap_or(0);
        let min_ready_changed =
            json::i64_at(&rs, &["spec", "minReadySeconds"]).unwrap_or(0) != d_min_ready;
        if annotations_updated || min_ready_changed {
            json::set_at(&mut rs, &["spec", "minReadySeconds"], json!(d_min_ready));
            let updated = update(world, ResourceKind::ReplicaSet, rs)?;
            return Ok((Some(updated), old));
        }
        let rs_revision = annotation(&rs, REVISION).unwrap_or("").to_string();
        let mut needs_update = set_deployment_revision(d, &rs_revision);
        let status = d.get("status").cloned().unwrap_or_else(|| json!({}));
        if has_progress_deadline(d) && get_condition(&status, "Progressing").is_none() {
            let msg = format!("Found new replica set {:?}", name(&rs));
            let cond = new_condition(world, "Progressing", "True", "FoundNewReplicaSet", msg);
            set_condition(status_mut(d), cond);
            needs_update = true;
        }
        if needs_update {
            *d = (*update_status(world, ResourceKind::Deployment, d.clone())?).clone();
        }
        return Ok((Some(Arc::new(rs)), old));
    }
    if !create {
        return Ok((None, old));
    }
    let collision_count = json::i64_at(d, &["status", "collisionCount"]);
    let (rs_name, mut new_rs) = replica_set_for(d);
    let candidate = Arc::new(new_rs.clone());
    let all: Vec<&Rs> = old.iter().chain(std::iter::once(&candidate)).collect();
    let replicas = new_rs_new_replicas(d, &all, &new_rs);
    new_rs["spec"]["replicas"] = json!(replicas);
    set_new_rs_annotations(d, &mut new_rs, new_revision, false);
    let ns = json::str_at(d, &["metadata", "namespace"]).to_string();
    let (created, already_existed) = match super::create(world, ResourceKind::ReplicaSet, new_rs) {
        Ok(rs) => (rs, false),
        Err(ApiError::AlreadyExists { .. }) => {
            let existing = world.get(ResourceKind::ReplicaSet, &ns, &rs_name)?;
            if is_controlled_by(&existing, d)
                && equal_ignore_hash(
                    json::at(d, &["spec", "template"]).unwrap_or(&Value::Null),
                    &existing["spec"]["template"],
                )
            {
                (existing, true)
            } else {
                let count = collision_count.unwrap_or(0) + 1;
                json::set_at(d, &["status", "collisionCount"], json!(count));
                update_status(world, ResourceKind::Deployment, d.clone())?;
                return Err(ApiError::AlreadyExists {
                    kind: ResourceKind::ReplicaSet,
                    name: rs_name,
                });
            }
        }
        Err(err) => {
            if has_progress_deadline(d) {
                let msg = format!("Failed to create new replica set {rs_name:?}: {err}");
                let cond =
                    new_condition(world, "Progressing", "False", "ReplicaSetCreateError", msg);
                set_condition(status_mut(d), cond);
                update_status(world, ResourceKind::Deployment, d.clone())?;
            }
            return Err(err);
        }
    };
    let mut needs_update = set_deployment_revision(d, &new_revision.to_string());
    if !already_existed && has_progress_deadline(d) {
        let msg = format!("Created new replica set {:?}", name(&created));
        let cond = new_condition(world, "Progressing", "True", "NewReplicaSetCreated", msg);
        set_condition(status_mut(d), cond);
        needs_update = true;
    }
    if needs_update {
        *d = (*update_status(world, ResourceKind::Deployment, d.clone())?).clone();
    }
    Ok((Some(created), old))
}

fn status_mut(d: &mut Value) -> &mut Value {
    let status = json::ensure_object(d)
        .entry("status")
        .or_insert_with(|| json!({}));
    json::ensure_object(status);
    status
}

/// `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the deployment's.
fn find_new_replica_set(d: &Value, rs_list: &[Rs]) -> Option<usize> {
    let template = json::at(d, &["spec", "template"])?;
    let mut order: Vec<usize> = (0..rs_list.len()).collect();
    order.sort_by(|a, b| by_creation(&rs_list[*a], &rs_list[*b]));
    order.into_iter().find(|i| {
        json::at(&rs_list[*i], &["spec", "template"])
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// The ReplicaSet `getNewReplicaSet` creates for the deployment's current template, with zero
/// replicas and no annotations yet: `<name>-<pod-template-hash>`, hash label on template, labels and
/// selector, controller owner reference.
fn replica_set_for(d: &Value) -> (String, Value) {
    let mut template = json::at(d, &["spec", "template"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    let hash = template_hash(&template, json::i64_at(d, &["status", "collisionCount"]));
    json::object_at(&mut template, &["metadata", "labels"]).insert(HASH_LABEL.into(), json!(hash));
    let mut selector = json::at(d, &["spec", "selector"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    json::object_at(&mut selector, &["matchLabels"]).insert(HASH_LABEL.into(), json!(hash));
    let rs_name = format!("{}-{hash}", name(d));
    let mut rs = json!({
        "metadata": {
            "name": rs_name,
            "namespace": json::str_at(d, &["metadata", "namespace"]),
            "ownerReferences": [controller_ref(ResourceKind::Deployment, d)],
            "labels": template["metadata"]["labels"].clone(),
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    });
    if let Some(m) = json::i64_at(d, &["spec", "minReadySeconds"]) {
        rs["spec"]["minReadySeconds"] = json!(m);
    }
    (rs_name, rs)
}

/// A scaled-down ReplicaSet of an earlier revision of `d` (whose template and annotations are that
/// revision's), exactly as the controller would have left it: same name, labels, selector, owner
/// reference and annotations, zero replicas. Used to seed long histories without replaying them.
pub fn historical_replica_set(d: &Value, revision: i64) -> Value {
    let (_, mut rs) = replica_set_for(d);
    set_new_rs_annotations(d, &mut rs, revision, false);
    rs
}

fn set_deployment_revision(d: &mut Value, revision: &str) -> bool {
    if annotation(d, REVISION) == Some(revision) {
        return false;
    }
    json::object_at(d, &["metadata", "annotations"]).insert(REVISION.into(), json!(revision));
    true
}

/// `SetNewReplicaSetAnnotations`.
fn set_new_rs_annotations(d: &Value, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let old_revision = annotation(rs, REVISION).map(str::to_string);
    let old_revision_int = match old_revision.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    let annotations = json::object_at(rs, &["metadata", "annotations"]);
    if old_revision_int < new_revision {
        annotations.insert(REVISION.into(), json!(new_revision.to_string()));
        changed = true;
    }
    if let Some(old) = old_revision.filter(|_| old_revision_int < new_revision) {
        let history = annotations
            .get(REVISION_HISTORY)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if history.is_empty() {
            annotations.insert(REVISION_HISTORY.into(), json!(old));
        } else {
            let parts: Vec<&str> = history.split(',').collect();
            let mut total = history.len() + old.len() + 1;
            let mut start = 0;
            while total > MAX_REVISION_HISTORY_CHARS && start < parts.len() {
                total -= parts[start].len() + 1;
                start += 1;
            }
            if total <= MAX_REVISION_HISTORY_CHARS {
                let mut kept: Vec<&str> = parts[start..].to_vec();
                kept.push(&old);
                annotations.insert(REVISION_HISTORY.into(), json!(kept.join(",")));
            }
        }
    }
    if !exists && set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

fn copy_deployment_annotations(d: &Value, rs: &mut Value) -> bool {
    let from = json::string_map(d, &["metadata", "annotations"]);
    let to = json::object_at(rs, &["metadata", "annotations"]);
    let mut changed = false;
    for (k, v) in from {
        if ANNOTATIONS_TO_SKIP.contains(&k.as_str())
            || to.get(&k).and_then(Value::as_str) == Some(v.as_str())
        {
            continue;
        }
        to.insert(k, json!(v));
        changed = true;
    }
    changed
}

fn replicas_annotations_need_update(rs: &Value, desired: i64, max: i64) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

fn set_replicas_annotations(rs: &mut Value, desired: i64, max: i64) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let annotations = json::object_at(rs, &["metadata", "annotations"]);
    annotations.insert(DESIRED_REPLICAS.into(), json!(desired.to_string()));
    annotations.insert(MAX_REPLICAS.into(), json!(max.to_string()));
    true
}

/// `NewRSNewReplicas`.
fn new_rs_new_replicas(d: &Value, all: &[&Rs], new_rs: &Value) -> i64 {
    let replicas = spec_replicas(d);
    if !is_rolling(d) {
        return replicas;
    }
    let surge = scaled_value(
        json::at(d, &["spec", "strategy", "rollingUpdate", "maxSurge"]),
        replicas,
        true,
    );
    let current = sum(all, spec_replicas);
    let max_total = replicas + surge;
    let new_replicas = spec_replicas(new_rs);
    if current >= max_total {
        return new_replicas;
    }
    new_replicas + (max_total - current).min(replicas - new_replicas)
}

// ---- scaling ----

fn scale_replica_set(
    world: &mut World,
    rs: &Rs,
    new_scale: i64,
    d: &Value,
) -> Result<(bool, Rs), ApiError> {
    let size_changes = spec_replicas(rs) != new_scale;
    let desired = spec_replicas(d);
    let max = desired + max_surge(d);
    if !size_changes && !replicas_annotations_need_update(rs, desired, max) {
        return Ok((false, rs.clone()));
    }
    let mut copy = (**rs).clone();
    json::set_at(&mut copy, &["spec", "replicas"], json!(new_scale));
    set_replicas_annotations(&mut copy, desired, max);
    let updated = update(world, ResourceKind::ReplicaSet, copy)?;
    Ok((size_changes, updated))
}

fn scale_and_record(
    world: &mut World,
    rs: &Rs,
    new_scale: i64,
    d: &Value,
) -> Result<(bool, Rs), ApiError> {
    if spec_replicas(rs) == new_scale {
        return Ok((false, rs.clone()));
    }
    scale_replica_set(world, rs, new_scale, d)
}

fn is_scaling_event(world: &mut World, d: &mut Value, rs_list: &[Rs]) -> Result<bool, ApiError> {
    let (new, old) = get_all_and_sync_revision(world, d, rs_list, false)?;
    let replicas = spec_replicas(d);
    Ok(active(old.iter().chain(new.iter())).into_iter().any(|rs| {
        annotation(rs, DESIRED_REPLICAS)
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|desired| desired != replicas)
    }))
}

/// `sync`: scaling events and paused deployments.
fn sync_scaling(world: &mut World, d: &mut Value, rs_list: &[Rs]) -> Result<(), ApiError> {
    let (new, old) = get_all_and_sync_revision(world, d, rs_list, false)?;
    scale(world, d, new.as_ref(), &old)?;
    let old = refresh(world, &old);
    if paused(d) {
        cleanup(world, &old, d)?;
    }
    let old = refresh(world, &old);
    let new = new
        .map(|n| refresh(world, std::slice::from_ref(&n)))
        .and_then(|v| v.into_iter().next());
    let all: Vec<&Rs> = old.iter().chain(new.iter()).collect();
    let status = calculate_status(world, &all, new.as_ref(), d);
    if d.get("status") != Some(&status) {
        d["status"] = status;
        update_status(world, ResourceKind::Deployment, d.clone())?;
    }
    Ok(())
}

fn scale(world: &mut World, d: &Value, new: Option<&Rs>, old: &[Rs]) -> Result<(), ApiError> {
    let replicas = spec_replicas(d);
    if let Some(target) = find_active_or_latest(new, old) {
        if spec_replicas(target) != replicas {
            scale_and_record(world, target, replicas, d)?;
        }
        return Ok(());
    }
    if new.is_some_and(|n| is_saturated(d, n)) {
        for rs in active(old) {
            scale_and_record(world, rs, 0, d)?;
        }
        return Ok(());
    }
    if !is_rolling(d) {
        return Ok(());
    }
    let mut all: Vec<&Rs> = active(old.iter().chain(new));
    let all_replicas = sum(&all, spec_replicas);
    let allowed = if replicas > 0 {
        replicas + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - all_replicas;
    match to_add.cmp(&0) {
        Ordering::Greater => all.sort_by(|a, b| {
            spec_replicas(b)
                .cmp(&spec_replicas(a))
                .then_with(|| by_creation(b, a))
        }),
        Ordering::Less => all.sort_by(|a, b| {
            spec_replicas(b)
                .cmp(&spec_replicas(a))
                .then_with(|| by_creation(a, b))
        }),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<i64> = Vec::with_capacity(all.len());
    for rs in &all {
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push(spec_replicas(rs) + p);
            added += p;
        } else {
            sizes.push(spec_replicas(rs));
        }
    }
    for (i, rs) in all.iter().enumerate() {
        let mut size = sizes[i];
        if i == 0 && to_add != 0 {
            size = (size + to_add - added).max(0);
        }
        scale_replica_set(world, rs, size, d)?;
    }
    Ok(())
}

fn find_active_or_latest<'a>(new: Option<&'a Rs>, old: &'a [Rs]) -> Option<&'a Rs> {
    if new.is_none() && old.is_empty() {
        return None;
    }
    let mut newest_first: Vec<&Rs> = old.iter().collect();
    newest_first.sort_by(|a, b| by_creation(b, a));
    let all = active(newest_first.iter().copied().chain(new));
    match all.len() {
        0 => new.or_else(|| newest_first.first().copied()),
        1 => Some(all[0]),
        _ => None,
    }
}

fn is_saturated(d: &Value, rs: &Value) -> bool {
    let Some(desired) = annotation(rs, DESIRED_REPLICAS).and_then(|v| v.parse::<i64>().ok()) else {
        return false;
    };
    let replicas = spec_replicas(d);
    spec_replicas(rs) == replicas
        && desired == replicas
        && status_i64(rs, "availableReplicas") == replicas
}

/// `GetProportion`.
fn proportion(rs: &Value, d: &Value, to_add: i64, added: i64) -> i64 {
    if spec_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn replica_set_fraction(rs: &Value, d: &Value) -> i64 {
    let replicas = spec_replicas(d);
    if replicas == 0 {
        return -spec_replicas(rs);
    }
    let deployment_replicas = replicas + max_surge(d);
    let annotated = annotation(rs, MAX_REPLICAS)
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or_else(|| status_i64(d, "replicas"));
    if annotated == 0 {
        return 0;
    }
    let size = (spec_replicas(rs) * deployment_replicas) as f64 / annotated as f64;
    size.round() as i64 - spec_replicas(rs)
}

/// `cleanupDeployment`: deletes the oldest idle ReplicaSets beyond `revisionHistoryLimit`.
fn cleanup(world: &mut World, old: &[Rs], d: &Value) -> Result<(), ApiError> {
    let Some(limit) =
        json::i64_at(d, &["spec", "revisionHistoryLimit"]).filter(|l| *l != MAX_INT32)
    else {
        return Ok(());
    };
    let excess = old.len() as i64 - limit;
    if excess <= 0 {
        return Ok(());
    }
    let mut by_revision: Vec<&Rs> = old.iter().collect();
    by_revision.sort_by(|a, b| {
        revision(a)
            .unwrap_or(0)
            .cmp(&revision(b).unwrap_or(0))
            .then_with(|| by_creation(a, b))
    });
    for rs in by_revision.into_iter().take(excess as usize) {
        let observed = status_i64(rs, "observedGeneration");
        let generation = json::i64_at(rs, &["metadata", "generation"]).unwrap_or(0);
        if status_i64(rs, "replicas") != 0 || spec_replicas(rs) != 0 || generation > observed {
            continue;
        }
        super::delete(world, ResourceKind::ReplicaSet, rs)?;
    }
    Ok(())
}

// ---- rolling update ----

fn rollout_rolling(world: &mut World, d: &mut Value, rs_list: &[Rs]) -> Result<(), ApiError> {
    let (new, old) = get_all_and_sync_revision(world, d, rs_list, true)?;
    let Some(new) = new else {
        return Ok(());
    };
    let all: Vec<&Rs> = old.iter().chain(std::iter::once(&new)).collect();
    if reconcile_new_replica_set(world, &all, &new, d)? {
        return sync_rollout_status(world, &all, Some(&new), d);
    }
    let active_old: Vec<Rs> = old
        .iter()
        .filter(|rs| spec_replicas(rs) > 0)
        .cloned()
        .collect();
    if reconcile_old_replica_sets(world, &all, active_old, &new, d)? {
        return sync_rollout_status(world, &all, Some(&new), d);
    }
    if deployment_complete(d, d.get("status").unwrap_or(&Value::Null)) {
        cleanup(world, &old, d)?;
    }
    sync_rollout_status(world, &all, Some(&new), d)
}

fn reconcile_new_replica_set(
    world: &mut World,
    all: &[&Rs],
    new: &Rs,
    d: &Value,
) -> Result<bool, ApiError> {
    let replicas = spec_replicas(d);
    let current = spec_replicas(new);
    if current == replicas {
        return Ok(false);
    }
    if current > replicas {
        return Ok(scale_and_record(world, new, replicas, d)?.0);
    }
    let wanted = new_rs_new_replicas(d, all, new);
    Ok(scale_and_record(world, new, wanted, d)?.0)
}

fn reconcile_old_replica_sets(
    world: &mut World,
    all: &[&Rs],
    mut old: Vec<Rs>,
    new: &Rs,
    d: &Value,
) -> Result<bool, ApiError> {
    let old_refs: Vec<&Rs> = old.iter().collect();
    if sum(&old_refs, spec_replicas) == 0 {
        return Ok(false);
    }
    let all_pods = sum(all, spec_replicas);
    let min_available = spec_replicas(d) - max_unavailable(d);
    let new_unavailable = spec_replicas(new) - status_i64(new, "availableReplicas");
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let cleaned = cleanup_unhealthy_replicas(world, &mut old, d, max_scaled_down)?;
    let all: Vec<&Rs> = old.iter().chain(std::iter::once(new)).collect();
    let scaled = scale_down_old_for_rolling_update(world, &all, &old, d)?;
    Ok(cleaned + scaled > 0)
}

fn cleanup_unhealthy_replicas(
    world: &mut World,
    old: &mut [Rs],
    d: &Value,
    max_cleanup: i64,
) -> Result<i64, ApiError> {
    old.sort_by(|a, b| by_creation(a, b));
    let mut total = 0;
    for target in old.iter_mut() {
        if total >= max_cleanup {
            break;
        }
        let replicas = spec_replicas(target);
        let available = status_i64(target, "availableReplicas");
        if replicas == 0 || replicas == available {
            continue;
        }
        let scaled = (max_cleanup - total).min(replicas - available);
        let (_, updated) = scale_and_record(world, target, replicas - scaled, d)?;
        *target = updated;
        total += scaled;
    }
    Ok(total)
}

fn scale_down_old_for_rolling_update(
    world: &mut World,
    all: &[&Rs],
    old: &[Rs],
    d: &Value,
) -> Result<i64, ApiError> {
    let min_available = spec_replicas(d) - max_unavailable(d);
    let available = sum(all, |rs| status_i64(rs, "availableReplicas"));
    if available <= min_available {
        return Ok(0);
    }
    let mut ordered: Vec<&Rs> = old.iter().collect();
    ordered.sort_by(|a, b| by_creation(a, b));
    let to_scale = available - min_available;
    let mut total = 0;
    for target in ordered {
        if total >= to_scale {
            break;
        }
        let replicas = spec_replicas(target);
        if replicas == 0 {
            continue;
        }
        let down = replicas.min(to_scale - total);
        scale_and_record(world, target, replicas - down, d)?;
        total += down;
    }
    Ok(total)
}

// ---- recreate ----

fn rollout_recreate(world: &mut World, d: &mut Value, rs_list: &[Rs]) -> Result<(), ApiError> {
    let (mut new, mut old) = get_all_and_sync_revision(world, d, rs_list, false)?;
    let mut scaled_down = false;
    for rs in active(&old) {
        if scale_and_record(world, rs, 0, d)?.0 {
            scaled_down = true;
        }
    }
    if scaled_down {
        let all: Vec<&Rs> = old.iter().chain(new.iter()).collect();
        return sync_rollout_status(world, &all, new.as_ref(), d);
    }
    if old_pods_running(world, new.as_ref(), &old) {
        let all: Vec<&Rs> = old.iter().chain(new.iter()).collect();
        return sync_rollout_status(world, &all, new.as_ref(), d);
    }
    if new.is_none() {
        let rs_list = refresh(world, rs_list);
        (new, old) = get_all_and_sync_revision(world, d, &rs_list, true)?;
    }
    if let Some(n) = &new {
        let replicas = spec_replicas(d);
        scale_and_record(world, n, replicas, d)?;
    }
    if deployment_complete(d, d.get("status").unwrap_or(&Value::Null)) {
        cleanup(world, &old, d)?;
    }
    let all: Vec<&Rs> = old.iter().chain(new.iter()).collect();
    sync_rollout_status(world, &all, new.as_ref(), d)
}

fn old_pods_running(world: &World, new: Option<&Rs>, old: &[Rs]) -> bool {
    if old.iter().map(|rs| status_i64(rs, "replicas")).sum::<i64>() > 0 {
        return true;
    }
    let new_uid = new.map(|n| uid(n));
    old.iter().filter(|rs| Some(uid(rs)) != new_uid).any(|rs| {
        world
            .store
            .owned(ResourceKind::Pod, uid(rs))
            .iter()
            .any(|p| !super::pods::is_terminal(p))
    })
}

// ---- status ----

fn calculate_status(world: &World, all: &[&Rs], new: Option<&Rs>, d: &Value) -> Value {
    let available = sum(all, |rs| status_i64(rs, "availableReplicas"));
    let total = sum(all, spec_replicas);
    let unavailable = (total - available).max(0);
    let replicas = spec_replicas(d);
    let mut status = json!({});
    let counts = [
        (
            "observedGeneration",
            json::i64_at(d, &["metadata", "generation"]).unwrap_or(0),
        ),
        ("replicas", sum(all, |rs| status_i64(rs, "replicas"))),
        (
            "updatedReplicas",
            new.map(|n| status_i64(n, "replicas")).unwrap_or(0),
        ),
        (
            "readyReplicas",
            sum(all, |rs| status_i64(rs, "readyReplicas")),
        ),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    ];
    for (key, value) in counts {
        if value != 0 {
            status[key] = json!(value);
        }
    }
    if world.cluster.counts_terminating_replicas() {
        status["terminatingReplicas"] = json!(sum(all, |rs| status_i64(rs, "terminatingReplicas")));
    }
    if let Some(c) = json::at(d, &["status", "collisionCount"]) {
        status["collisionCount"] = c.clone();
    }
    if let Some(c) = json::at(d, &["status", "conditions"]) {
        status["conditions"] = c.clone();
    }
    let condition = if available >= replicas - max_unavailable(d) {
        new_condition(
            world,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        new_condition(
            world,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    set_condition(&mut status, condition);
    status
}

/// `DeploymentComplete`.
fn deployment_complete(d: &Value, status: &Value) -> bool {
    let replicas = spec_replicas(d);
    let get = |k: &str| json::i64_at(status, &[k]).unwrap_or(0);
    get("updatedReplicas") == replicas
        && get("replicas") == replicas
        && get("availableReplicas") == replicas
        && get("observedGeneration") >= json::i64_at(d, &["metadata", "generation"]).unwrap_or(0)
}

/// `DeploymentProgressing`: any count moved in the right direction.
fn deployment_progressing(d: &Value, new_status: &Value) -> bool {
    let old = |k: &str| status_i64(d, k);
    let new = |k: &str| json::i64_at(new_status, &[k]).unwrap_or(0);
    let old_old = old("replicas") - old("updatedReplicas");
    let new_old = new("replicas") - new("updatedReplicas");
    new("updatedReplicas") > old("updatedReplicas")
        || new_old < old_old
        || new("readyReplicas") > old("readyReplicas")
        || new("availableReplicas") > old("availableReplicas")
}

/// `DeploymentTimedOut`.
fn deployment_timed_out(world: &World, d: &Value, new_status: &Value) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = get_condition(new_status, "Progressing") else {
        return false;
    };
    match json::str_at(cond, &["reason"]) {
        "NewReplicaSetAvailable" => return false,
        "ProgressDeadlineExceeded" => return true,
        _ => {}
    }
    let deadline = json::i64_at(d, &["spec", "progressDeadlineSeconds"]).unwrap_or(600);
    crate::clock::parse_time(json::str_at(cond, &["lastUpdateTime"]))
        .is_some_and(|from| from.as_second() + deadline < world.clock.now().as_second())
}

/// `syncRolloutStatus`.
fn sync_rollout_status(
    world: &mut World,
    all: &[&Rs],
    new: Option<&Rs>,
    d: &mut Value,
) -> Result<(), ApiError> {
    let mut status = calculate_status(world, all, new, d);
    if !has_progress_deadline(d) {
        remove_condition(&mut status, "Progressing");
    }
    let current = d
        .get("status")
        .and_then(|s| get_condition(s, "Progressing"))
        .cloned();
    let is_complete = json::i64_at(&status, &["replicas"])
        == json::i64_at(&status, &["updatedReplicas"])
        && current
            .as_ref()
            .is_some_and(|c| json::str_at(c, &["reason"]) == "NewReplicaSetAvailable");
    if has_progress_deadline(d) && !is_complete {
        let subject = match new {
            Some(rs) => format!("ReplicaSet {:?}", name(rs)),
            None => format!("Deployment {:?}", name(d)),
        };
        if deployment_complete(d, &status) {
            let msg = format!("{subject} has successfully progressed.");
            let cond = new_condition(world, "Progressing", "True", "NewReplicaSetAvailable", msg);
            set_condition(&mut status, cond);
        } else if deployment_progressing(d, &status) {
            let msg = format!("{subject} is progressing.");
            let mut cond = new_condition(world, "Progressing", "True", "ReplicaSetUpdated", msg);
            if let Some(current) = &current {
                if json::str_at(current, &["status"]) == "True" {
                    cond["lastTransitionTime"] = current["lastTransitionTime"].clone();
                }
                remove_condition(&mut status, "Progressing");
            }
            set_condition(&mut status, cond);
        } else if deployment_timed_out(world, d, &status) {
            let msg = format!("{subject} has timed out progressing.");
            let cond = new_condition(
                world,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                msg,
            );
            set_condition(&mut status, cond);
        }
    }
    remove_condition(&mut status, "ReplicaFailure");
    if d.get("status") == Some(&status) {
        return Ok(());
    }
    d["status"] = status;
    *d = (*update_status(world, ResourceKind::Deployment, d.clone())?).clone();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ClockMode};
    use crate::resources::Subresource;
    use crate::rollout::RolloutModel;
    use crate::world::Cluster;

    fn world() -> World {
        let clock = Clock::new("2024-05-01T12:00:00Z".parse().unwrap(), ClockMode::Frozen);
        let cluster = Cluster {
            nodes: vec!["n1".into()],
            rollout: RolloutModel::instant(),
            seeding: false,
            pods_created: 0,
            kube_minor: 33,
        };
        let mut w = World::new(clock, 7, cluster, 1000);
        w.create(
            ResourceKind::Namespace,
            "",
            json!({"metadata": {"name": "ns"}}),
            false,
        )
        .unwrap();
        w
    }

    #[test]
    fn a_name_taken_by_another_replicaset_bumps_the_collision_count() {
        let mut w = world();
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": true,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
        let stored = w.create(ResourceKind::Deployment, "ns", d, false).unwrap();
        w.run_controllers();
        let (taken, _) = replica_set_for(&stored);
        let squatter = json!({"metadata": {"name": taken, "labels": {"other": "x"}}, "spec": {"replicas": 0,
            "selector": {"matchLabels": {"other": "x"}},
            "template": {"metadata": {"labels": {"other": "x"}}, "spec": {"containers": [{"name": "c", "image": "other"}]}}}});
        w.create(ResourceKind::ReplicaSet, "ns", squatter, false)
            .unwrap();
        let mut resumed = (*w.get(ResourceKind::Deployment, "ns", "web").unwrap()).clone();
        resumed["spec"]["paused"] = json!(false);
        w.update(
            ResourceKind::Deployment,
            "ns",
            "web",
            resumed,
            Subresource::Main,
            false,
        )
        .unwrap();
        w.run_controllers();
        let d = w.get(ResourceKind::Deployment, "ns", "web").unwrap();
        assert_eq!(d["status"]["collisionCount"], 1);
        let owned = w
            .store
            .owned(ResourceKind::ReplicaSet, super::super::uid(&d));
        assert_eq!(owned.len(), 1);
        assert_ne!(name(&owned[0]), taken);
        assert_eq!(d["status"]["availableReplicas"], 1);
    }

    #[test]
    fn revision_history_is_appended_and_capped() {
        let d = json!({"metadata": {"annotations": {"team": "a", REVISION: "9"}}, "spec": {"replicas": 1}});
        let mut rs = json!({"metadata": {"annotations": {REVISION: "2"}}});
        assert!(set_new_rs_annotations(&d, &mut rs, 4, true));
        assert_eq!(rs["metadata"]["annotations"][REVISION], "4");
        assert_eq!(rs["metadata"]["annotations"][REVISION_HISTORY], "2");
        assert_eq!(rs["metadata"]["annotations"]["team"], "a");
        assert!(set_new_rs_annotations(&d, &mut rs, 6, true));
        assert_eq!(rs["metadata"]["annotations"][REVISION_HISTORY], "2,4");
        assert!(!set_new_rs_annotations(&d, &mut rs, 6, true));
        let mut long = json!({"metadata": {"annotations": {REVISION: "1", REVISION_HISTORY: "1".repeat(1999)}}});
        set_new_rs_annotations(&d, &mut long, 2, true);
        assert!(
            long["metadata"]["annotations"][REVISION_HISTORY]
                .as_str()
                .unwrap()
                .len()
                <= 2000
        );
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let d = |surge: Value, unavail: Value, replicas: i64| {
            json!({"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavail}}}})
        };
        let three = d(json!("25%"), json!("25%"), 3);
        assert_eq!((max_surge(&three), max_unavailable(&three)), (1, 0));
        let zero = d(json!("0%"), json!("1%"), 2);
        assert_eq!((max_surge(&zero), max_unavailable(&zero)), (0, 1));
    }

    #[test]
    fn conditions_keep_transition_time_when_only_the_reason_changes() {
        let mut status = json!({"conditions": [{"type": "Progressing", "status": "True", "reason": "A", "lastTransitionTime": "t0", "lastUpdateTime": "t0"}]});
        set_condition(
            &mut status,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t1", "lastUpdateTime": "t1"}),
        );
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "t0");
        assert_eq!(status["conditions"][0]["reason"], "B");
        set_condition(
            &mut status,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t2", "lastUpdateTime": "t2"}),
        );
        assert_eq!(status["conditions"][0]["lastUpdateTime"], "t1");
    }

    #[test]
    fn equal_ignore_hash_drops_only_the_hash_label() {
        let a = json!({"metadata": {"labels": {"app": "x", HASH_LABEL: "abc"}}});
        let b = json!({"metadata": {"labels": {"app": "x"}}});
        assert!(equal_ignore_hash(&a, &b));
        let c = json!({"metadata": {"labels": {HASH_LABEL: "abc"}}});
        assert!(equal_ignore_hash(&c, &json!({"metadata": {}})));
        assert!(!equal_ignore_hash(
            &a,
            &json!({"metadata": {"labels": {"app": "y"}}})
        ));
    }
}
