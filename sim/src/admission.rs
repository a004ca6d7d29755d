//! Mutating admission, as a webhook or a `MutatingAdmissionPolicy` does it: a JSON merge patch
//! (RFC 7386) applied to every update or patch of one kind's main resource (in one namespace, or
//! in all; optionally only to objects carrying an annotation, as a webhook's `matchConditions`
//! select), after the request's own patch and defaulting and before validation. A dry run
//! runs it too, so a client comparing a dry run's answer with what it sent sees the change.

use serde_json::Value;

use crate::resources::ResourceKind;

/// One mutation rule, built with [`Mutation::on`].
#[derive(Debug, Clone)]
pub struct Mutation {
    kind: ResourceKind,
    namespace: Option<String>,
    annotated: Option<String>,
    merge: Value,
}

impl Mutation {
    /// Merges `merge` into every updated `kind` object.
    pub fn on(kind: ResourceKind, merge: Value) -> Self {
        Self {
            kind,
            namespace: None,
            annotated: None,
            merge,
        }
    }

    /// Only objects in this namespace.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// Only objects that carry this annotation (as written).
    pub fn when_annotated(mut self, key: &str) -> Self {
        self.annotated = Some(key.to_string());
        self
    }

    fn matches(&self, kind: ResourceKind, namespace: &str, object: &Value) -> bool {
        self.kind == kind
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self
                .annotated
                .as_deref()
                .is_none_or(|key| object["metadata"]["annotations"].get(key).is_some())
    }
}

/// The mutation rules in force.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    rules: Vec<Mutation>,
}

impl Admission {
    pub fn add(&mut self, rule: Mutation) {
        self.rules.push(rule);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Applies every rule that matches to `object`.
    pub fn mutate(&self, kind: ResourceKind, namespace: &str, object: &mut Value) {
        for rule in &self.rules {
            if rule.matches(kind, namespace, object) {
                json_patch::merge(object, &rule.merge);
            }
        }
    }
}
