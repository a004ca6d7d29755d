//! The API server's write and read semantics, shared by HTTP requests, the simulated controllers
//! and the library's test controls: create (generated names, UIDs, creation time, generation 1),
//! update and patch (optimistic concurrency on `metadata.resourceVersion`, status kept apart from
//! spec through the `/status` subresource, generation bumped only when the spec (for a
//! Deployment, also its annotations) changes, no-op
//! writes not stored), delete (with garbage collection of dependents), list (selectors,
//! `limit`/`continue`) and the `/scale` subresource. `dryRun` runs everything but the store.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::defaults;
use crate::errors::{self, ApiError};
use crate::json;
use crate::patch::{self, PatchType};
use crate::resources::{ResourceKind, Subresource};
use crate::selector::{FieldSelector, Selector};
use crate::store::Key;
use crate::validation;
use crate::world::World;

/// The DaemonSet annotation the apiserver keeps in step with template changes.
pub const DS_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `limit` (0 = no limit)
    pub limit: usize,
    /// `continue`
    pub continue_token: Option<String>,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Matching objects in key order.
    pub items: Vec<Arc<Value>>,
    /// The store revision the list reflects.
    pub revision: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Objects after this page, when known exactly (no selectors).
    pub remaining: Option<usize>,
}

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are deleted (`Background` and `Foreground` alike, immediately).
    #[default]
    Cascade,
    /// Dependents lose their owner reference.
    Orphan,
}

/// A delete request's options (`DeleteOptions`).
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    /// Propagation policy.
    pub propagation: Propagation,
    /// `preconditions.uid`
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`
    pub resource_version: Option<String>,
}

/// A status the API server gives objects of `kind` when it resets status on create: Go writes
/// the non-`omitempty` counters even when zero.
fn initial_status(kind: ResourceKind) -> Option<Value> {
    match kind {
        ResourceKind::Deployment => Some(json!({})),
        ResourceKind::ReplicaSet => Some(json!({"replicas": 0})),
        ResourceKind::DaemonSet => Some(json!({
            "currentNumberScheduled": 0, "numberMisscheduled": 0,
            "desiredNumberScheduled": 0, "numberReady": 0})),
        ResourceKind::StatefulSet => Some(json!({"replicas": 0, "availableReplicas": 0})),
        _ => None,
    }
}

fn rv_of(obj: &Value) -> &str {
    json::str_at(obj, &["metadata", "resourceVersion"])
}

impl World {
    /// GET one object.
    pub fn get(
        &self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(kind, ns_for(kind, namespace), name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound {
                kind,
                name: name.to_string(),
            })
    }

    /// LIST objects (`namespace` `None` = all namespaces).
    pub fn list(
        &self,
        kind: ResourceKind,
        namespace: Option<&str>,
        query: &ListQuery,
    ) -> Result<ListPage, ApiError> {
        let labels = match query
            .label_selector
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            Some(s) => Some(Selector::parse(s).map_err(ApiError::BadRequest)?),
            None => None,
        };
        let fields = match query
            .field_selector
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            Some(s) => Some(
                FieldSelector::parse(s, kind.selectable_fields()).map_err(ApiError::BadRequest)?,
            ),
            None => None,
        };
        let after = match query.continue_token.as_deref().filter(|s| !s.is_empty()) {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let namespace = if kind.namespaced() { namespace } else { None };
        let matches = |obj: &Value| {
            labels.as_ref().is_none_or(|s| s.matches_object(obj))
                && fields.as_ref().is_none_or(|f| f.matches(obj))
        };
        let revision = self.store.revision();
        if let (Some(name), Some(ns)) = (
            fields.as_ref().and_then(FieldSelector::exact_name),
            namespace,
        ) {
            let items: Vec<Arc<Value>> = self
                .store
                .get(kind, ns, name)
                .filter(|o| matches(o))
                .cloned()
                .into_iter()
                .collect();
            return Ok(ListPage {
                items,
                revision,
                continue_token: None,
                remaining: None,
            });
        }
        let everything = Selector::default();
        let selector = labels.as_ref().unwrap_or(&everything);
        let mut items = Vec::new();
        let mut iter = self
            .store
            .selected(kind, namespace, selector, after.as_ref())
            .filter(|o| fields.as_ref().is_none_or(|f| f.matches(o)));
        let mut last_key: Option<Key> = None;
        for obj in iter.by_ref() {
            items.push(obj.clone());
            last_key = Some(crate::store::key_of(obj));
            if query.limit > 0 && items.len() == query.limit {
                break;
            }
        }
        let mut continue_token = None;
        let mut remaining = None;
        if query.limit > 0 && items.len() == query.limit {
            let rest = iter.count();
            if rest > 0 {
                continue_token = last_key.map(|k| encode_continue(revision, &k));
                if labels.is_none() && fields.is_none() {
                    remaining = Some(rest);
                }
            }
        }
        Ok(ListPage {
            items,
            revision,
            continue_token,
            remaining,
        })
    }

    /// CREATE.
    pub fn create(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        body: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        validation::check_types(kind, &body)?;
        self.insert_new(kind, namespace, body, dry_run, true)
    }

    /// CREATE without the API server's type checks and validation: an object as only
    /// something that wrote around the API server (a direct etcd write, a restored backup, an
    /// old version's data) leaves it. Metadata is still filled in (uid, creation time).
    pub fn create_unchecked(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        body: Value,
    ) -> Result<Arc<Value>, ApiError> {
        self.insert_new(kind, namespace, body, false, false)
    }

    fn insert_new(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        mut body: Value,
        dry_run: bool,
        validate: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let namespace = ns_for(kind, namespace);
        let body_ns = json::str_at(&body, &["metadata", "namespace"]);
        if kind.namespaced() && !body_ns.is_empty() && body_ns != namespace {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        if !rv_of(&body).is_empty() {
            return Err(ApiError::BadRequest(
                "resourceVersion should not be set on objects to be created".into(),
            ));
        }
        if kind.namespaced()
            && self
                .store
                .get(ResourceKind::Namespace, "", namespace)
                .is_none()
        {
            return Err(ApiError::NotFound {
                kind: ResourceKind::Namespace,
                name: namespace.to_string(),
            });
        }
        let name = json::str_at(&body, &["metadata", "name"]).to_string();
        let generate = json::str_at(&body, &["metadata", "generateName"]).to_string();
        let name = if name.is_empty() && !generate.is_empty() {
            format!("{generate}{}", self.ids.suffix(5))
        } else {
            name
        };
        {
            let meta = json::object_at(&mut body, &["metadata"]);
            meta.insert("name".into(), json!(name));
            if kind.namespaced() {
                meta.insert("namespace".into(), json!(namespace));
            } else {
                meta.remove("namespace");
            }
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                meta.remove(k);
            }
        }
        json::set_at(&mut body, &["metadata", "uid"], json!(self.ids.uid()));
        json::set_at(
            &mut body,
            &["metadata", "creationTimestamp"],
            json!(self.clock.now_rfc3339()),
        );
        set_type_meta(kind, &mut body);
        if kind.has_generation() {
            json::set_at(&mut body, &["metadata", "generation"], json!(1));
        }
        if let Some(status) = initial_status(kind) {
            json::set_at(&mut body, &["status"], status);
        }
        match kind {
            ResourceKind::DaemonSet => {
                json::object_at(&mut body, &["metadata", "annotations"])
                    .insert(DS_TEMPLATE_GENERATION.into(), json!("1"));
            }
            ResourceKind::Namespace => {
                json::set_at(&mut body, &["spec", "finalizers"], json!(["kubernetes"]));
                json::set_at(&mut body, &["status", "phase"], json!("Active"));
            }
            ResourceKind::Pod if body.get("status").is_none() => {
                json::set_at(&mut body, &["status", "phase"], json!("Pending"));
            }
            _ => {}
        }
        defaults::apply(kind, &self.cluster, &mut body);
        if validate {
            validation::validate(kind, &body, None)?;
        }
        if dry_run {
            return Ok(Arc::new(body));
        }
        let stored = self.store.insert(kind, body)?;
        self.committed(kind, &stored);
        Ok(stored)
    }

    /// UPDATE (PUT) of the object or its status.
    pub fn update(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        body: Value,
        subresource: Subresource,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        validation::check_types(kind, &body)?;
        let existing = self.get(kind, namespace, name)?;
        let body_name = json::str_at(&body, &["metadata", "name"]);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_ns = json::str_at(&body, &["metadata", "namespace"]);
        if kind.namespaced()
            && !body_ns.is_empty()
            && body_ns != json::str_at(&existing, &["metadata", "namespace"])
        {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        let wanted_rv = rv_of(&body);
        if !wanted_rv.is_empty() && wanted_rv != rv_of(&existing) {
            return Err(ApiError::Conflict {
                kind,
                name: name.to_string(),
            });
        }
        let mut new = body;
        carry_system_metadata(&existing, &mut new);
        set_type_meta(kind, &mut new);
        match subresource {
            Subresource::Status if kind.has_status() => copy_field(&existing, &mut new, "spec"),
            Subresource::Main if kind.has_status() => copy_field(&existing, &mut new, "status"),
            _ => {}
        }
        defaults::apply(kind, &self.cluster, &mut new);
        if subresource == Subresource::Main {
            self.admission.mutate(kind, namespace, &mut new);
        }
        if kind == ResourceKind::DaemonSet {
            let old_gen: i64 = json::str_at(
                &existing,
                &["metadata", "annotations", DS_TEMPLATE_GENERATION],
            )
            .parse()
            .unwrap_or(1);
            let changed =
                json::at(&existing, &["spec", "template"]) != json::at(&new, &["spec", "template"]);
            let generation = if changed { old_gen + 1 } else { old_gen };
            json::object_at(&mut new, &["metadata", "annotations"])
                .insert(DS_TEMPLATE_GENERATION.into(), json!(generation.to_string()));
        }
        validation::validate(kind, &new, Some(&existing))?;
        if kind.has_generation() {
            let old_gen = json::i64_at(&existing, &["metadata", "generation"]).unwrap_or(1);
            // The Deployment strategy also counts annotations (once the legacy rollback
            // request), so `kubectl annotate` moves a Deployment's generation.
            // (Semantic equality: no annotations and an empty map are the same.)
            let annotations_changed = kind == ResourceKind::Deployment
                && subresource == Subresource::Main
                && json::string_map(&existing, &["metadata", "annotations"])
                    != json::string_map(&new, &["metadata", "annotations"]);
            let generation = if existing.get("spec") != new.get("spec") || annotations_changed {
                old_gen + 1
            } else {
                old_gen
            };
            json::set_at(&mut new, &["metadata", "generation"], json!(generation));
        }
        json::set_at(
            &mut new,
            &["metadata", "resourceVersion"],
            json!(rv_of(&existing)),
        );
        // With the stored resourceVersion in place, equality means the write changes nothing.
        if new == *existing || dry_run {
            return Ok(if dry_run { Arc::new(new) } else { existing });
        }
        let stored = self.store.replace(kind, new)?;
        self.committed(kind, &stored);
        Ok(stored)
    }

    /// PATCH of the object or its status.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &[u8],
        subresource: Subresource,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let existing = self.get(kind, namespace, name)?;
        let patched = patch::apply(patch_type, &existing, patch)?;
        self.update(kind, namespace, name, patched, subresource, dry_run)
    }

    /// GET of `/scale`.
    pub fn get_scale(
        &self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let obj = self.get(kind, namespace, name)?;
        Ok(scale_of(&obj))
    }

    /// PUT or PATCH of `/scale`: `change` turns the current Scale into the wanted one.
    pub fn write_scale(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let obj = self.get(kind, namespace, name)?;
        let wanted = change(&scale_of(&obj))?;
        let replicas = match json::at(&wanted, &["spec", "replicas"]) {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                ApiError::BadRequest("json: cannot unmarshal into Go struct field ScaleSpec.spec.replicas of type int32".into())
            })?,
        };
        let mut body = (*obj).clone();
        json::set_at(&mut body, &["spec", "replicas"], json!(replicas));
        json::set_at(
            &mut body,
            &["metadata", "resourceVersion"],
            json!(rv_of(&wanted)),
        );
        let updated = self.update(kind, namespace, name, body, Subresource::Main, dry_run)?;
        Ok(scale_of(&updated))
    }

    /// DELETE, cascading to dependents.
    pub fn delete(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        request: &DeleteRequest,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let existing = self.get(kind, namespace, name)?;
        let uid = json::str_at(&existing, &["metadata", "uid"]).to_string();
        if request.uid.as_deref().is_some_and(|u| u != uid)
            || request
                .resource_version
                .as_deref()
                .is_some_and(|rv| rv != rv_of(&existing))
        {
            return Err(ApiError::Conflict {
                kind,
                name: name.to_string(),
            });
        }
        let response = errors::delete_success(kind, name, &uid);
        if dry_run {
            return Ok(response);
        }
        self.remove_cascading(kind, ns_for(kind, namespace), name, request.propagation);
        Ok(response)
    }

    fn remove_cascading(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) {
        let Some(removed) = self.store.remove(kind, namespace, name) else {
            return;
        };
        if kind == ResourceKind::Namespace {
            for k in ResourceKind::ALL.into_iter().filter(|k| k.namespaced()) {
                let names: Vec<String> = self
                    .store
                    .list(k, Some(name), None)
                    .map(|o| json::str_at(o, &["metadata", "name"]).to_string())
                    .collect();
                for n in names {
                    self.remove_cascading(k, name, &n, Propagation::Cascade);
                }
            }
            return;
        }
        let uid = json::str_at(&removed, &["metadata", "uid"]).to_string();
        for (dep_kind, (dep_ns, dep_name)) in self.store.dependents_of(&uid) {
            match propagation {
                Propagation::Cascade => {
                    self.remove_cascading(dep_kind, &dep_ns, &dep_name, Propagation::Cascade)
                }
                Propagation::Orphan => {
                    if let Some(dep) = self.store.get(dep_kind, &dep_ns, &dep_name).cloned() {
                        let mut dep = (*dep).clone();
                        if let Some(refs) = dep
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| json::str_at(r, &["uid"]) != uid);
                        }
                        defaults::apply(dep_kind, &self.cluster, &mut dep);
                        if let Ok(stored) = self.store.replace(dep_kind, dep) {
                            self.committed(dep_kind, &stored);
                        }
                    }
                }
            }
        }
        self.committed(kind, &removed);
    }
}

/// Cluster-scoped objects live under the empty namespace.
fn ns_for(kind: ResourceKind, namespace: &str) -> &str {
    if kind.namespaced() { namespace } else { "" }
}

fn set_type_meta(kind: ResourceKind, obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("kind".into(), json!(kind.kind()));
        m.insert("apiVersion".into(), json!(kind.api_version()));
    }
}

/// Fields clients cannot change on update.
fn carry_system_metadata(existing: &Value, new: &mut Value) {
    for key in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "generateName",
        "deletionTimestamp",
    ] {
        match json::at(existing, &["metadata", key]) {
            Some(v) => json::set_at(new, &["metadata", key], v.clone()),
            None => {
                json::remove_at(new, &["metadata", key]);
            }
        }
    }
}

fn copy_field(from: &Value, to: &mut Value, field: &str) {
    match from.get(field) {
        Some(v) => json::set_at(to, &[field], v.clone()),
        None => {
            json::remove_at(to, &[field]);
        }
    }
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = Selector::from_label_selector(json::at(obj, &["spec", "selector"]))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let mut meta = json!({
        "name": json::str_at(obj, &["metadata", "name"]),
        "namespace": json::str_at(obj, &["metadata", "namespace"]),
        "uid": json::str_at(obj, &["metadata", "uid"]),
        "resourceVersion": rv_of(obj),
        "creationTimestamp": json::str_at(obj, &["metadata", "creationTimestamp"]),
    });
    if let Some(m) = meta.as_object_mut() {
        m.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    }
    let mut scale = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {},
        "status": {"replicas": json::i64_at(obj, &["status", "replicas"]).unwrap_or(0), "selector": selector},
    });
    if let Some(r) = json::i64_at(obj, &["spec", "replicas"]).filter(|r| *r != 0) {
        scale["spec"]["replicas"] = json!(r);
    }
    scale
}

/// `continue` tokens are opaque to clients: hex of `revision/namespace/name`.
fn encode_continue(revision: u64, key: &Key) -> String {
    format!("{revision}/{}/{}", key.0, key.1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<Key, ApiError> {
    let invalid = || ApiError::BadRequest(format!("continue key is not valid: {token}"));
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '/');
    let (Some(_rev), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    Ok((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ClockMode};
    use crate::rollout::RolloutModel;
    use crate::world::Cluster;

    fn world() -> World {
        let clock = Clock::new("2024-05-01T12:00:00Z".parse().unwrap(), ClockMode::Frozen);
        let cluster = Cluster {
            nodes: vec!["node-1".into()],
            rollout: RolloutModel::instant(),
            seeding: false,
            pods_created: 0,
            kube_minor: 33,
        };
        let mut w = World::new(clock, 1, cluster, 1000);
        w.create(
            ResourceKind::Namespace,
            "",
            json!({"metadata": {"name": "shop"}}),
            false,
        )
        .unwrap();
        w
    }

    fn cr(name: &str) -> Value {
        json!({"metadata": {"name": name}, "data": {"x": null}, "revision": 1})
    }

    #[test]
    fn create_assigns_system_fields() {
        let mut w = world();
        let v = w
            .create(ResourceKind::ControllerRevision, "shop", cr("a"), false)
            .unwrap();
        assert_eq!(v["metadata"]["namespace"], "shop");
        assert_eq!(v["metadata"]["creationTimestamp"], "2024-05-01T12:00:00Z");
        assert_eq!(v["metadata"]["uid"].as_str().unwrap().len(), 36);
        assert_eq!(v["kind"], "ControllerRevision");
        assert_eq!(v["data"], json!({"x": null}), "revision data is opaque");
        let err = w
            .create(ResourceKind::ControllerRevision, "nope", cr("a"), false)
            .unwrap_err();
        assert_eq!(err.to_string(), "namespaces \"nope\" not found");
        let err = w
            .create(ResourceKind::ControllerRevision, "shop", cr("a"), false)
            .unwrap_err();
        assert_eq!(err.code(), 409);
    }

    #[test]
    fn stale_resource_version_conflicts_and_noop_is_not_stored() {
        let mut w = world();
        let v = w
            .create(ResourceKind::ControllerRevision, "shop", cr("a"), false)
            .unwrap();
        let rv = v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut body = (*v).clone();
        body["revision"] = json!(2);
        let updated = w
            .update(
                ResourceKind::ControllerRevision,
                "shop",
                "a",
                body.clone(),
                Subresource::Main,
                false,
            )
            .unwrap();
        assert_ne!(updated["metadata"]["resourceVersion"], rv.as_str());
        let err = w
            .update(
                ResourceKind::ControllerRevision,
                "shop",
                "a",
                body,
                Subresource::Main,
                false,
            )
            .unwrap_err();
        assert_eq!(err.code(), 409);
        let same = w
            .update(
                ResourceKind::ControllerRevision,
                "shop",
                "a",
                (*updated).clone(),
                Subresource::Main,
                false,
            )
            .unwrap();
        assert_eq!(
            same["metadata"]["resourceVersion"],
            updated["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn dry_run_stores_nothing() {
        let mut w = world();
        let before = w.store.revision();
        w.create(ResourceKind::ControllerRevision, "shop", cr("a"), true)
            .unwrap();
        assert_eq!(w.store.revision(), before);
        assert!(
            w.get(ResourceKind::ControllerRevision, "shop", "a")
                .is_err()
        );
    }

    #[test]
    fn lists_page_with_continue_tokens() {
        let mut w = world();
        for n in ["a", "b", "c"] {
            w.create(ResourceKind::ControllerRevision, "shop", cr(n), false)
                .unwrap();
        }
        let q = ListQuery {
            limit: 2,
            ..Default::default()
        };
        let page = w
            .list(ResourceKind::ControllerRevision, Some("shop"), &q)
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.remaining, Some(1));
        let q = ListQuery {
            limit: 2,
            continue_token: page.continue_token,
            ..Default::default()
        };
        let page = w
            .list(ResourceKind::ControllerRevision, Some("shop"), &q)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0]["metadata"]["name"], "c");
        assert!(page.continue_token.is_none());
        let bad = ListQuery {
            continue_token: Some("zz".into()),
            ..Default::default()
        };
        assert_eq!(
            w.list(ResourceKind::ControllerRevision, Some("shop"), &bad)
                .unwrap_err()
                .code(),
            400
        );
    }
}
