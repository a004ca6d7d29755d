//! The three workload kinds that have a rollout history, and what differs between them.
//!
//! kubectl keeps one small implementation per kind behind a common interface (history
//! viewer, rollbacker, status viewer). [`WorkloadKind`] is that interface here: every
//! per-kind fact (API resource, where revisions live, the words kubectl uses) is answered by
//! a method on it, so the rest of the domain never matches on a kind string.

use std::fmt;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use kube::discovery::ApiResource;

/// A workload kind whose rollouts kubectl can inspect, undo and watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
    StatefulSet,
}

/// A `resource_type` that names something other than the three rollout kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsupportedKind {
    /// A ReplicaSet: its owning Deployment is what has the history.
    ReplicaSet,
    /// A Pod: its owner chain leads to the workload.
    Pod,
    /// Anything else (Job, CronJob, Service, a typo...).
    Other(String),
}

/// What a controller owner reference points at, judged by its API group and kind together:
/// an OpenKruise `apps.kruise.io` StatefulSet is not an `apps/v1` StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerKind {
    /// An `apps/v1` Deployment, DaemonSet or StatefulSet: the workload with the history.
    Workload(WorkloadKind),
    /// An `apps/v1` ReplicaSet: its own owner is the next hop.
    ReplicaSet,
    /// A kind of another API group (OpenKruise, Argo Rollouts...): its controller rolls out
    /// by its own rules, which this server does not follow.
    Foreign { kind: String, group: String },
    /// A built-in kind without a rollout history (a Job, a Node...), with its `apiVersion`.
    Builtin { kind: String, api_version: String },
}

impl OwnerKind {
    /// Classifies an owner reference's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Self {
        let workload = [
            WorkloadKind::Deployment,
            WorkloadKind::DaemonSet,
            WorkloadKind::StatefulSet,
        ]
        .into_iter()
        .find(|workload| workload.kind() == kind);
        match (api_version, workload) {
            ("apps/v1", Some(workload)) => Self::Workload(workload),
            ("apps/v1", None) if kind == "ReplicaSet" => Self::ReplicaSet,
            _ => match api_version.rsplit_once('/') {
                // Built-in groups have no dot (`apps`, `batch`); others are a domain name.
                Some((group, _)) if group.contains('.') => Self::Foreign {
                    kind: kind.to_string(),
                    group: group.to_string(),
                },
                _ => Self::Builtin {
                    kind: kind.to_string(),
                    api_version: api_version.to_string(),
                },
            },
        }
    }
}

impl WorkloadKind {
    /// The spellings accepted for `resource_type`.
    pub const ACCEPTED: &'static str = "deployment (deploy), daemonset (ds) or statefulset (sts)";

    /// Parses a `resource_type` as kubectl would: singular, plural, short name or Kind,
    /// case-insensitively, optionally qualified with the `apps` group.
    pub fn parse(resource_type: &str) -> Result<Self, UnsupportedKind> {
        let lowered = resource_type.trim().to_ascii_lowercase();
        let bare = lowered
            .strip_suffix(".apps")
            .or_else(|| lowered.strip_prefix("apps/v1/"))
            .unwrap_or(&lowered);
        match bare {
            "deployment" | "deployments" | "deploy" => Ok(Self::Deployment),
            "daemonset" | "daemonsets" | "ds" => Ok(Self::DaemonSet),
            "statefulset" | "statefulsets" | "sts" => Ok(Self::StatefulSet),
            "replicaset" | "replicasets" | "rs" => Err(UnsupportedKind::ReplicaSet),
            "pod" | "pods" | "po" => Err(UnsupportedKind::Pod),
            _ => Err(UnsupportedKind::Other(resource_type.to_string())),
        }
    }

    /// The Kind, as in `kind: Deployment`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::DaemonSet => "DaemonSet",
            Self::StatefulSet => "StatefulSet",
        }
    }

    /// The lower-case singular kubectl prints in `deployment.apps/x` and accepts as a type.
    pub fn singular(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::DaemonSet => "daemonset",
            Self::StatefulSet => "statefulset",
        }
    }

    /// The API resource (plural) name, as used in URLs and RBAC.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Deployment => "deployments",
            Self::DaemonSet => "daemonsets",
            Self::StatefulSet => "statefulsets",
        }
    }

    /// The workload's API resource, for dynamic API access.
    pub fn api_resource(self) -> ApiResource {
        match self {
            Self::Deployment => ApiResource::erase::<Deployment>(&()),
            Self::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
            Self::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
        }
    }

    /// The spec field holding the update strategy.
    pub fn strategy_field(self) -> &'static str {
        match self {
            Self::Deployment => "strategy",
            Self::DaemonSet | Self::StatefulSet => "updateStrategy",
        }
    }

    /// Whether `spec.paused` exists for this kind (only Deployments can be paused).
    pub fn can_pause(self) -> bool {
        self == Self::Deployment
    }

    /// Whether `kubectl rollout status --revision` checks this kind's live revision (it does
    /// for Deployments, from their revision annotation, and ignores it for the others).
    pub fn kubectl_checks_expected_revision(self) -> bool {
        self == Self::Deployment
    }

    /// Whether `kubectl rollout history` shows the change-cause an undo writes. The Deployment
    /// controller copies the Deployment's annotations onto the reused ReplicaSet; the
    /// DaemonSet and StatefulSet controllers only renumber the old ControllerRevision, which
    /// keeps its original change-cause.
    pub fn history_shows_undo_change_cause(self) -> bool {
        self == Self::Deployment
    }

    /// Where the controller keeps this kind's revisions.
    pub fn revision_store(self) -> RevisionStore {
        match self {
            Self::Deployment => RevisionStore::ReplicaSets,
            Self::DaemonSet | Self::StatefulSet => RevisionStore::ControllerRevisions,
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.singular())
    }
}

/// The object type that carries a workload's revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionStore {
    /// Deployments: one ReplicaSet per template, numbered by an annotation.
    ReplicaSets,
    /// DaemonSets and StatefulSets: ControllerRevision snapshots with a `.revision` field.
    ControllerRevisions,
}

impl RevisionStore {
    /// The revision objects' API resource.
    pub fn api_resource(self) -> ApiResource {
        match self {
            Self::ReplicaSets => ApiResource::erase::<ReplicaSet>(&()),
            Self::ControllerRevisions => ApiResource::erase::<ControllerRevision>(&()),
        }
    }

    /// The Kind, as events name their object.
    pub fn kind(self) -> &'static str {
        match self {
            Self::ReplicaSets => "ReplicaSet",
            Self::ControllerRevisions => "ControllerRevision",
        }
    }

    /// The plural resource name, for messages about missing permissions.
    pub fn plural(self) -> &'static str {
        match self {
            Self::ReplicaSets => "replicasets",
            Self::ControllerRevisions => "controllerrevisions",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_spelling_kubectl_accepts() {
        for spelling in [
            "deployment",
            "deployments",
            "deploy",
            "Deployment",
            "deployments.apps",
        ] {
            assert_eq!(
                WorkloadKind::parse(spelling),
                Ok(WorkloadKind::Deployment),
                "{spelling}"
            );
        }
        for spelling in ["daemonset", "daemonsets", "ds", "DaemonSet"] {
            assert_eq!(
                WorkloadKind::parse(spelling),
                Ok(WorkloadKind::DaemonSet),
                "{spelling}"
            );
        }
        for spelling in ["statefulset", "statefulsets", "sts", "StatefulSet"] {
            assert_eq!(
                WorkloadKind::parse(spelling),
                Ok(WorkloadKind::StatefulSet),
                "{spelling}"
            );
        }
    }

    #[test]
    fn only_apps_v1_owners_are_workloads() {
        assert_eq!(
            OwnerKind::of("apps/v1", "StatefulSet"),
            OwnerKind::Workload(WorkloadKind::StatefulSet)
        );
        assert_eq!(
            OwnerKind::of("apps/v1", "ReplicaSet"),
            OwnerKind::ReplicaSet
        );
        assert_eq!(
            OwnerKind::of("apps.kruise.io/v1beta1", "StatefulSet"),
            OwnerKind::Foreign {
                kind: "StatefulSet".into(),
                group: "apps.kruise.io".into()
            }
        );
        assert_eq!(
            OwnerKind::of("argoproj.io/v1alpha1", "Rollout"),
            OwnerKind::Foreign {
                kind: "Rollout".into(),
                group: "argoproj.io".into()
            }
        );
        assert_eq!(
            OwnerKind::of("batch/v1", "Job"),
            OwnerKind::Builtin {
                kind: "Job".into(),
                api_version: "batch/v1".into()
            }
        );
        assert!(matches!(
            OwnerKind::of("apps/v1beta2", "Deployment"),
            OwnerKind::Builtin { .. }
        ));
        assert!(matches!(
            OwnerKind::of("apps/v1", "deployment"),
            OwnerKind::Builtin { .. }
        ));
    }

    #[test]
    fn names_replicasets_and_pods_so_their_owner_can_be_found() {
        assert_eq!(WorkloadKind::parse("rs"), Err(UnsupportedKind::ReplicaSet));
        assert_eq!(
            WorkloadKind::parse("ReplicaSet"),
            Err(UnsupportedKind::ReplicaSet)
        );
        assert_eq!(WorkloadKind::parse("pods"), Err(UnsupportedKind::Pod));
        assert_eq!(
            WorkloadKind::parse("job"),
            Err(UnsupportedKind::Other("job".into()))
        );
    }
}
