//! The object store: what etcd is to the API server. Objects are kept per resource in key order
//! (namespace, then name, as etcd lists them), every write takes the next value of one global
//! `resourceVersion` counter and becomes a watch event, and a bounded history of events lets a
//! watch resume from a recent `resourceVersion` (older ones get 410 Gone). An index from owner
//! UID to dependents keeps "pods of this ReplicaSet" cheap at 50,000 ReplicaSets.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::errors::ApiError;
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;

/// Namespace (empty for cluster-scoped objects) and name.
pub type Key = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed write.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resource.
    pub kind: ResourceKind,
    /// What happened.
    pub event_type: EventType,
    /// The object after the write (the last state, for deletes).
    pub object: Arc<Value>,
    /// The object before the write, for modifications (watch filters use it to turn a change
    /// that leaves a selector into DELETED).
    pub previous: Option<Arc<Value>>,
    /// The resourceVersion of the write.
    pub revision: u64,
}

/// Objects of one resource: namespace, then name.
type Table = BTreeMap<String, BTreeMap<String, Arc<Value>>>;

/// All stored objects.
pub struct Store {
    tables: HashMap<ResourceKind, Table>,
    dependents: HashMap<String, BTreeSet<(ResourceKind, Key)>>,
    labeled: HashMap<(ResourceKind, String, String), BTreeSet<Key>>,
    revision: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    events: broadcast::Sender<Arc<Event>>,
}

impl Store {
    /// An empty store that remembers the last `history_limit` events for watches.
    pub fn new(history_limit: usize) -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            tables: HashMap::new(),
            dependents: HashMap::new(),
            labeled: HashMap::new(),
            revision: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            events,
        }
    }

    /// The current (highest) resourceVersion.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// One object.
    pub fn get(&self, kind: ResourceKind, namespace: &str, name: &str) -> Option<&Arc<Value>> {
        self.tables.get(&kind)?.get(namespace)?.get(name)
    }

    /// Objects of `kind` in `namespace` (all namespaces if `None`), in key order, starting after
    /// `after` if given.
    pub fn list<'a>(
        &'a self,
        kind: ResourceKind,
        namespace: Option<&'a str>,
        after: Option<&'a Key>,
    ) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
        let table = self.tables.get(&kind);
        let first_ns = match (namespace, after) {
            (Some(ns), _) => Bound::Included(ns),
            (None, Some(k)) => Bound::Included(k.0.as_str()),
            (None, None) => Bound::Unbounded,
        };
        table
            .into_iter()
            .flat_map(move |t| t.range::<str, _>((first_ns, Bound::Unbounded)))
            .take_while(move |(ns, _)| namespace.is_none_or(|want| ns.as_str() == want))
            .flat_map(move |(ns, objects)| {
                let start = match after {
                    Some(k) if k.0 == *ns => Bound::Excluded(k.1.as_str()),
                    _ => Bound::Unbounded,
                };
                objects
                    .range::<str, _>((start, Bound::Unbounded))
                    .map(|(_, obj)| obj)
            })
    }

    /// Objects of `kind` in `namespace` (all if `None`) that `selector` selects, in key order,
    /// after `after` if given. Uses the label index when the selector requires a label value
    /// (`app=x`, `app in (x,y)`), so a selective list does not scan every object.
    pub fn selected<'a>(
        &'a self,
        kind: ResourceKind,
        namespace: Option<&'a str>,
        selector: &'a Selector,
        after: Option<&'a Key>,
    ) -> Box<dyn Iterator<Item = &'a Arc<Value>> + 'a> {
        let Some((label, values)) = selector.required_values() else {
            return Box::new(
                self.list(kind, namespace, after)
                    .filter(move |o| selector.matches_object(o)),
            );
        };
        let mut keys: BTreeSet<&Key> = BTreeSet::new();
        for value in values {
            let index_key = (kind, label.to_string(), value.clone());
            let Some(set) = self.labeled.get(&index_key) else {
                continue;
            };
            let in_scope =
                |k: &&Key| namespace.is_none_or(|ns| k.0 == ns) && after.is_none_or(|a| *k > a);
            keys.extend(set.iter().filter(in_scope));
        }
        Box::new(
            keys.into_iter()
                .filter_map(move |k| self.get(kind, &k.0, &k.1))
                .filter(move |o| selector.matches_object(o)),
        )
    }

    /// Objects of any kind that list `uid` among their ownerReferences.
    pub fn dependents_of(&self, uid: &str) -> Vec<(ResourceKind, Key)> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects of `kind` whose controller (or any owner) has `uid`.
    pub fn owned(&self, kind: ResourceKind, uid: &str) -> Vec<Arc<Value>> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k == kind)
            .filter_map(|(k, key)| self.get(*k, &key.0, &key.1).cloned())
            .collect()
    }

    /// Stores a new object, assigning the next resourceVersion.
    pub fn insert(&mut self, kind: ResourceKind, object: Value) -> Result<Arc<Value>, ApiError> {
        let key = key_of(&object);
        if self.get(kind, &key.0, &key.1).is_some() {
            return Err(ApiError::AlreadyExists { kind, name: key.1 });
        }
        Ok(self.put(kind, key, object, None))
    }

    /// Replaces a stored object, assigning the next resourceVersion.
    pub fn replace(&mut self, kind: ResourceKind, object: Value) -> Result<Arc<Value>, ApiError> {
        let key = key_of(&object);
        let Some(previous) = self.get(kind, &key.0, &key.1).cloned() else {
            return Err(ApiError::NotFound { kind, name: key.1 });
        };
        self.index_owners(kind, &key, &previous, false);
        self.index_labels(kind, &key, &previous, false);
        Ok(self.put(kind, key, object, Some(previous)))
    }

    /// Writes `object` under the next resourceVersion, indexes it and publishes the event
    /// (ADDED without a previous version, MODIFIED with one).
    fn put(
        &mut self,
        kind: ResourceKind,
        key: Key,
        mut object: Value,
        previous: Option<Arc<Value>>,
    ) -> Arc<Value> {
        self.revision += 1;
        json::set_at(
            &mut object,
            &["metadata", "resourceVersion"],
            json!(self.revision.to_string()),
        );
        let object = Arc::new(object);
        self.index_owners(kind, &key, &object, true);
        self.index_labels(kind, &key, &object, true);
        self.tables
            .entry(kind)
            .or_default()
            .entry(key.0)
            .or_default()
            .insert(key.1, object.clone());
        let event_type = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.publish(kind, event_type, object.clone(), previous);
        object
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion, as etcd's does.
    pub fn remove(
        &mut self,
        kind: ResourceKind,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let table = self.tables.get_mut(&kind)?;
        let objects = table.get_mut(namespace)?;
        let removed = objects.remove(name)?;
        if objects.is_empty() {
            table.remove(namespace);
        }
        let key = (namespace.to_string(), name.to_string());
        self.index_owners(kind, &key, &removed, false);
        self.index_labels(kind, &key, &removed, false);
        self.revision += 1;
        let mut last = (*removed).clone();
        json::set_at(
            &mut last,
            &["metadata", "resourceVersion"],
            json!(self.revision.to_string()),
        );
        self.publish(kind, EventType::Deleted, Arc::new(last), None);
        Some(removed)
    }

    /// A receiver of every future event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Events after `revision`, or 410 Gone if some of them are no longer remembered.
    pub fn events_since(&self, revision: u64) -> Result<Vec<Arc<Event>>, ApiError> {
        let oldest_known = self
            .history
            .front()
            .map(|e| e.revision)
            .unwrap_or(self.revision + 1);
        if revision + 1 < oldest_known && revision < self.revision {
            return Err(ApiError::Gone {
                requested: revision,
                oldest: oldest_known.saturating_sub(1),
            });
        }
        Ok(self
            .history
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect())
    }

    fn publish(
        &mut self,
        kind: ResourceKind,
        event_type: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let event = Arc::new(Event {
            kind,
            event_type,
            object,
            previous,
            revision: self.revision,
        });
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    fn index_labels(&mut self, kind: ResourceKind, key: &Key, object: &Value, add: bool) {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        for (label, value) in labels
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v)))
        {
            let index_key = (kind, label.clone(), value.to_string());
            if add {
                self.labeled
                    .entry(index_key)
                    .or_default()
                    .insert(key.clone());
            } else if let Some(set) = self.labeled.get_mut(&index_key) {
                set.remove(key);
                if set.is_empty() {
                    self.labeled.remove(&index_key);
                }
            }
        }
    }

    fn index_owners(&mut self, kind: ResourceKind, key: &Key, object: &Value, add: bool) {
        let refs = object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        for uid in refs
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
        {
            if add {
                self.dependents
                    .entry(uid.to_string())
                    .or_default()
                    .insert((kind, key.clone()));
            } else if let Some(set) = self.dependents.get_mut(uid) {
                set.remove(&(kind, key.clone()));
                if set.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
    }
}

/// The store key of an object.
pub fn key_of(object: &Value) -> Key {
    (
        json::str_at(object, &["metadata", "namespace"]).to_string(),
        json::str_at(object, &["metadata", "name"]).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn lists_in_key_order_per_namespace() {
        let mut s = Store::new(100);
        for (ns, n) in [("b", "x"), ("a", "z"), ("a", "y"), ("c", "w")] {
            s.insert(ResourceKind::Pod, obj(ns, n)).unwrap();
        }
        let names: Vec<_> = s
            .list(ResourceKind::Pod, Some("a"), None)
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["y", "z"]);
        let all: Vec<_> = s
            .list(ResourceKind::Pod, None, None)
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(all, ["y", "z", "x", "w"]);
        let after = ("a".to_string(), "y".to_string());
        let rest: Vec<_> = s
            .list(ResourceKind::Pod, Some("a"), Some(&after))
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(rest, ["z"]);
    }

    #[test]
    fn every_write_bumps_the_revision_and_is_remembered() {
        let mut s = Store::new(2);
        s.insert(ResourceKind::Pod, obj("a", "x")).unwrap();
        let v = s.replace(ResourceKind::Pod, obj("a", "x")).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "2");
        s.remove(ResourceKind::Pod, "a", "x").unwrap();
        assert_eq!(s.revision(), 3);
        assert_eq!(s.events_since(1).unwrap().len(), 2);
        assert!(matches!(s.events_since(0), Err(ApiError::Gone { .. })));
        assert!(s.events_since(3).unwrap().is_empty());
        assert!(s.insert(ResourceKind::Pod, obj("a", "y")).is_ok());
        assert!(matches!(
            s.insert(ResourceKind::Pod, obj("a", "y")),
            Err(ApiError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn selected_uses_the_label_index_and_agrees_with_a_scan() {
        let mut s = Store::new(10);
        for (ns, n, app, tier) in [
            ("a", "1", "x", "web"),
            ("a", "2", "y", "web"),
            ("b", "3", "x", "db"),
            ("a", "4", "x", "db"),
        ] {
            let mut o = obj(ns, n);
            o["metadata"]["labels"] = json!({"app": app, "tier": tier});
            s.insert(ResourceKind::Pod, o).unwrap();
        }
        let mut changed = (**s.get(ResourceKind::Pod, "a", "2").unwrap()).clone();
        changed["metadata"]["labels"]["app"] = json!("x");
        s.replace(ResourceKind::Pod, changed).unwrap();
        s.remove(ResourceKind::Pod, "a", "4");
        let names = |sel: &str, ns: Option<&str>| -> Vec<String> {
            let sel = Selector::parse(sel).unwrap();
            s.selected(ResourceKind::Pod, ns, &sel, None)
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("app=x", Some("a")), ["1", "2"]);
        assert_eq!(names("app in (x,y),tier=web", None), ["1", "2"]);
        assert_eq!(names("app=x", None), ["1", "2", "3"]);
        assert_eq!(names("tier!=web", None), ["3"]);
        let after = ("a".to_string(), "1".to_string());
        let sel = Selector::parse("app=x").unwrap();
        assert_eq!(
            s.selected(ResourceKind::Pod, None, &sel, Some(&after))
                .count(),
            2
        );
    }

    #[test]
    fn indexes_dependents_by_owner_uid() {
        let mut s = Store::new(10);
        let mut p = obj("a", "p");
        p["metadata"]["ownerReferences"] = json!([{"uid": "u1", "controller": true}]);
        s.insert(ResourceKind::Pod, p).unwrap();
        assert_eq!(s.owned(ResourceKind::Pod, "u1").len(), 1);
        s.remove(ResourceKind::Pod, "a", "p");
        assert!(s.owned(ResourceKind::Pod, "u1").is_empty());
    }
}
