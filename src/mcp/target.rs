//! From a tool's `resource_type`, `name` and `namespace` to the workload they name, refusing
//! clearly when they cannot name one: an unsupported type (following a ReplicaSet's or Pod's
//! owners to the workload to roll back instead), an invalid name, or a workload that does not
//! exist (suggesting close names of the same kind).

use crate::cluster::{Cluster, ClusterError, Owner};
use crate::rollout::kind::{UnsupportedKind, WorkloadKind};
use crate::rollout::workload::Workload;
use crate::rollout::{clip, names};

use super::RolloutServer;
use super::reply::ToolFailure;

/// A validated reference to a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl Target {
    /// Checks `resource_type`, `name` and `namespace` (when given) without any request: what
    /// the type names (a workload kind, or a ReplicaSet or Pod whose owners lead to one), or a
    /// refusal naming the bad field.
    pub fn check(
        resource_type: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Result<WorkloadKind, UnsupportedKind>, ToolFailure> {
        if let Some(namespace) = namespace {
            names::validate_namespace(namespace).map_err(|reason| {
                ToolFailure(format!(
                    "invalid namespace {:?}: {reason}",
                    clip::text(namespace, clip::VALUE)
                ))
            })?;
        }
        names::validate_name(name).map_err(|reason| {
            ToolFailure(format!(
                "invalid name {:?}: {reason}",
                clip::text(name, clip::VALUE)
            ))
        })?;
        match WorkloadKind::parse(resource_type) {
            Err(UnsupportedKind::Other(given)) => Err(no_history(&given)),
            parsed => Ok(parsed),
        }
    }

    /// Validates the arguments without any API request, except to follow a ReplicaSet's or
    /// Pod's owners when one was named.
    pub async fn resolve(
        cluster: &Cluster,
        resource_type: &str,
        name: &str,
        namespace: String,
    ) -> Result<Self, ToolFailure> {
        match Self::check(resource_type, name, Some(&namespace))? {
            Ok(kind) => Ok(Self {
                kind,
                namespace,
                name: name.to_string(),
            }),
            Err(unsupported) => {
                Err(unsupported_kind(cluster, &unsupported, &namespace, name).await)
            }
        }
    }

    /// GETs the workload; when it does not exist, says so with close names of the same kind.
    pub async fn fetch(&self, cluster: &Cluster) -> Result<Workload, ToolFailure> {
        match cluster
            .workload(self.kind, &self.namespace, &self.name)
            .await
        {
            Ok(workload) => Ok(workload),
            Err(error) if error.is_not_found() => Err(self.not_found(cluster, error).await),
            Err(error) => Err(error.into()),
        }
    }

    async fn not_found(&self, cluster: &Cluster, error: ClusterError) -> ToolFailure {
        let suggestion = match cluster.workload_names(self.kind, &self.namespace).await {
            Ok(existing) => {
                let close = names::close_matches(&self.name, existing.iter().map(String::as_str));
                if close.is_empty() {
                    format!(
                        "no {} in namespace \"{}\" has a similar name",
                        self.kind.plural(),
                        self.namespace
                    )
                } else {
                    format!("did you mean {}?", close.join(", "))
                }
            }
            Err(_) => "check the name and the namespace".to_string(),
        };
        ToolFailure(format!("{error}; {suggestion}"))
    }
}

/// The refusal of a `resource_type` that is none of the rollout kinds.
fn no_history(given: &str) -> ToolFailure {
    ToolFailure(format!(
        "resource_type {:?} has no rollout history; use {}",
        clip::text(given, clip::VALUE),
        WorkloadKind::ACCEPTED
    ))
}

async fn unsupported_kind(
    cluster: &Cluster,
    kind: &UnsupportedKind,
    namespace: &str,
    name: &str,
) -> ToolFailure {
    let accepted = WorkloadKind::ACCEPTED;
    match kind {
        UnsupportedKind::Other(given) => no_history(given),
        UnsupportedKind::ReplicaSet | UnsupportedKind::Pod => {
            let what = if *kind == UnsupportedKind::Pod {
                "pod"
            } else {
                "replicaset"
            };
            match cluster.owning_workload(kind, namespace, name).await {
                Ok(Owner::Workload(owner_kind, owner)) => ToolFailure(format!(
                    "{what} {namespace}/{name} has no rollout history of its own: roll back {owner_kind}/{owner} instead (resource_type \"{owner_kind}\", name \"{owner}\")"
                )),
                Ok(Owner::Foreign {
                    kind: owner_kind,
                    group,
                    name: owner,
                }) => ToolFailure(format!(
                    "{what} {namespace}/{name} has no rollout history of its own: it is managed by {owner_kind}.{group} {owner}, which this server does not roll back; use its own tool"
                )),
                Ok(Owner::DeadEnd(dead_end)) => ToolFailure(format!(
                    "{what} {namespace}/{name} has no rollout history of its own, and {dead_end}; rollbacks work on {accepted}"
                )),
                Err(error) => ToolFailure(format!(
                    "{what} has no rollout history of its own; rollbacks work on {accepted}, and its owner could not be looked up: {error}"
                )),
            }
        }
    }
}

impl RolloutServer {
    /// Resolves a tool's `resource_type`, `name` and `namespace` in `cluster`, defaulting the
    /// namespace (--namespace, else the context's) and refusing one the operator's namespace
    /// policy does not allow, before any request.
    pub(super) async fn target(
        &self,
        cluster: &Cluster,
        resource_type: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Target, ToolFailure> {
        let namespace = namespace
            .or(self.settings.namespace.as_deref())
            .unwrap_or(&cluster.default_namespace)
            .to_string();
        self.settings.namespaces.check(&namespace)?;
        Target::resolve(cluster, resource_type, name, namespace).await
    }
}
