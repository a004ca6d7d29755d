//! A workload as read from the API: the facts rollouts need, read from the raw object.
//!
//! The object is kept as the API server sent it (a `DynamicObject`), not round-tripped through
//! the typed structs of one Kubernetes version: a pod template restored by an undo must not lose
//! fields that a newer cluster knows and our types do not.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::DynamicObject;
use serde_json::Value;

use super::kind::WorkloadKind;

/// The annotation kubectl and humans use to say why a revision was made.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The call id of the undo that wrote the workload last: with the change-cause, how a re-read
/// after a lost answer tells this call's write from another's with the same approver and
/// reason.
pub const CALL_ID: &str = "k8s-rollout-mcp.io/call-id";
/// Written by `kubectl apply`; a later apply may undo a rollback.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A Deployment, DaemonSet or StatefulSet as the API server returned it.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub object: DynamicObject,
}

/// A workload object that lacks something every valid one has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {namespace}/{name} is malformed: {problem}")]
pub struct MalformedWorkload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub problem: String,
}

impl Workload {
    pub fn new(kind: WorkloadKind, object: DynamicObject) -> Self {
        Self { kind, object }
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    pub fn uid(&self) -> &str {
        self.object.metadata.uid.as_deref().unwrap_or_default()
    }

    pub fn resource_version(&self) -> &str {
        self.object
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    }

    pub fn generation(&self) -> i64 {
        self.object.metadata.generation.unwrap_or_default()
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.object.metadata.annotations.as_ref().unwrap_or(&EMPTY)
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.object.metadata.labels.as_ref().unwrap_or(&EMPTY)
    }

    pub fn spec(&self) -> &Value {
        &self.object.data["spec"]
    }

    pub fn status(&self) -> &Value {
        &self.object.data["status"]
    }

    /// The live pod template, `spec.template`.
    pub fn template(&self) -> &Value {
        &self.spec()["template"]
    }

    /// `spec.selector`, which decides which revision objects are listed.
    pub fn selector(&self) -> Result<LabelSelector, MalformedWorkload> {
        let selector = self.spec().get("selector").cloned().unwrap_or(Value::Null);
        if selector.is_null() {
            return Err(self.malformed("spec.selector is missing"));
        }
        serde_json::from_value(selector).map_err(|error| {
            self.malformed(&format!("spec.selector is not a label selector: {error}"))
        })
    }

    /// `spec.paused` (Deployments only; always false for the other kinds).
    pub fn paused(&self) -> bool {
        self.kind.can_pause() && self.spec()["paused"].as_bool().unwrap_or(false)
    }

    /// The update strategy type, with the API server's default when unset.
    pub fn strategy_type(&self) -> &str {
        self.spec()[self.kind.strategy_field()]["type"]
            .as_str()
            .unwrap_or("RollingUpdate")
    }

    /// A digest of what an undo reads and writes: the spec (except `replicas`, which scaling
    /// changes without touching the template), labels and annotations. Status updates (and the
    /// resourceVersion bumps they cause) leave it unchanged, so an approval survives a
    /// crash-looping pod but not a deploy.
    pub fn state_digest(&self) -> String {
        let mut spec = self.spec().clone();
        if let Some(spec) = spec.as_object_mut() {
            spec.remove("replicas");
        }
        let state = serde_json::json!({
            "uid": self.uid(),
            "spec": spec,
            "labels": self.labels(),
            "annotations": self.annotations(),
        });
        super::template::sha256_hex(state.to_string().as_bytes())
    }

    /// `spec.revisionHistoryLimit`, defaulted to 10 as the API server does.
    pub fn revision_history_limit(&self) -> i64 {
        self.spec()["revisionHistoryLimit"].as_i64().unwrap_or(10)
    }

    /// A Deployment's `spec.progressDeadlineSeconds` (600 when unset); None for the other
    /// kinds, which have no progress deadline.
    pub fn progress_deadline_seconds(&self) -> Option<i64> {
        (self.kind == WorkloadKind::Deployment).then(|| {
            self.spec()["progressDeadlineSeconds"]
                .as_i64()
                .unwrap_or(600)
        })
    }

    /// The desired replica count: `spec.replicas`, defaulted to 1 (not used for DaemonSets).
    pub fn desired_replicas(&self) -> i64 {
        self.spec()["replicas"].as_i64().unwrap_or(1)
    }

    /// A one-line description of a missing or invalid field.
    pub fn malformed(&self, problem: &str) -> MalformedWorkload {
        MalformedWorkload {
            kind: self.kind,
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
            problem: problem.to_string(),
        }
    }
}

/// Labels and annotations that say a GitOps controller owns the workload and will revert a
/// rollback on its next sync, with the tool that set them.
const GITOPS_MARKERS: &[(&str, &str)] = &[
    ("argocd.argoproj.io/instance", "Argo CD"),
    ("argocd.argoproj.io/tracking-id", "Argo CD"),
    ("kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("kustomize.toolkit.fluxcd.io/namespace", "Flux"),
    ("helm.toolkit.fluxcd.io/name", "Flux"),
    ("helm.toolkit.fluxcd.io/namespace", "Flux"),
];

/// Field managers whose ownership of `spec.template` is expected: kubectl's own commands
/// (`kubectl`, `kubectl-client-side-apply`, `kubectl-edit`, `kubectl-set`, `kubectl-rollout`...)
/// and this server.
fn expected_manager(manager: &str) -> bool {
    manager == "kubectl"
        || manager.starts_with("kubectl-")
        || manager == crate::cluster::FIELD_MANAGER
}

impl Workload {
    /// The Helm release that manages this workload (`app.kubernetes.io/managed-by=Helm` or
    /// `meta.helm.sh/release-name`), if any: `helm rollback` is the way to roll it back, or
    /// the release record drifts from what runs.
    pub fn helm_release(&self) -> Option<String> {
        let release = self.annotations().get("meta.helm.sh/release-name");
        let managed = self
            .labels()
            .get("app.kubernetes.io/managed-by")
            .is_some_and(|manager| manager == "Helm");
        match (release, managed) {
            (Some(release), _) => Some(format!("release \"{release}\"")),
            (None, true) => Some("app.kubernetes.io/managed-by=Helm".to_string()),
            (None, false) => None,
        }
    }

    /// Field managers other than kubectl and this server that own fields of `spec.template`
    /// (from `managedFields`), with their operation: a controller or tool that may write the
    /// template back.
    pub fn template_managers(&self) -> Vec<String> {
        let Some(entries) = &self.object.metadata.managed_fields else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|entry| {
                entry
                    .fields_v1
                    .as_ref()
                    .is_some_and(|fields| fields.0["f:spec"].get("f:template").is_some())
            })
            .filter_map(|entry| {
                let manager = entry.manager.as_deref()?;
                (!expected_manager(manager)).then(|| {
                    format!(
                        "{manager} ({})",
                        entry.operation.as_deref().unwrap_or("unknown operation")
                    )
                })
            })
            .collect()
    }

    /// The GitOps tool (Argo CD or Flux) that manages this workload, with the marker found.
    pub fn gitops_manager(&self) -> Option<(&'static str, String)> {
        GITOPS_MARKERS.iter().find_map(|(key, tool)| {
            let value = self
                .labels()
                .get(*key)
                .or_else(|| self.annotations().get(*key))?;
            Some((*tool, format!("{key}={value}")))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn workload(kind: WorkloadKind, object: Value) -> Workload {
        Workload::new(
            kind,
            serde_json::from_value(object).expect("a valid object"),
        )
    }

    #[test]
    fn reads_defaults_as_the_api_server_would() {
        let deployment = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
        );
        assert_eq!(deployment.revision_history_limit(), 10);
        assert_eq!(deployment.strategy_type(), "RollingUpdate");
        assert_eq!(deployment.desired_replicas(), 1);
        assert!(!deployment.paused());
        assert_eq!(
            deployment.selector().unwrap().match_labels.unwrap()["app"],
            "web"
        );
    }

    #[test]
    fn a_missing_selector_is_reported_with_the_field_name() {
        let deployment = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "namespace": "shop"}, "spec": {}}),
        );
        let error = deployment.selector().unwrap_err();
        assert_eq!(
            error.to_string(),
            "deployment shop/web is malformed: spec.selector is missing"
        );
    }

    #[test]
    fn recognises_argo_cd_and_flux_markers() {
        let argo = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "a", "labels": {"argocd.argoproj.io/instance": "shop"}}}),
        );
        assert_eq!(
            argo.gitops_manager(),
            Some(("Argo CD", "argocd.argoproj.io/instance=shop".to_string()))
        );
        let flux = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "a", "annotations": {"kustomize.toolkit.fluxcd.io/name": "infra"}}}),
        );
        assert_eq!(flux.gitops_manager().unwrap().0, "Flux");
        let plain = workload(
            WorkloadKind::StatefulSet,
            json!({"metadata": {"name": "a"}}),
        );
        assert_eq!(plain.gitops_manager(), None);
    }
}
