//! The resource types the sim serves and what the API says about each: group, version, kind,
//! plural and short names, scope, subresources, which fields a `fieldSelector` may use. One table
//! that discovery, routing, error messages and the library API all read.

use std::fmt;

/// A resource type served by the sim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// core/v1 namespaces
    Namespace,
    /// core/v1 pods
    Pod,
    /// apps/v1 deployments
    Deployment,
    /// apps/v1 replicasets
    ReplicaSet,
    /// apps/v1 daemonsets
    DaemonSet,
    /// apps/v1 statefulsets
    StatefulSet,
    /// apps/v1 controllerrevisions
    ControllerRevision,
}

use ResourceKind::*;

impl ResourceKind {
    /// Every served resource, core group first.
    pub const ALL: [ResourceKind; 7] = [
        Namespace,
        Pod,
        Deployment,
        ReplicaSet,
        DaemonSet,
        StatefulSet,
        ControllerRevision,
    ];

    /// The lower-case plural used in paths (`deployments`).
    pub fn plural(self) -> &'static str {
        match self {
            Namespace => "namespaces",
            Pod => "pods",
            Deployment => "deployments",
            ReplicaSet => "replicasets",
            DaemonSet => "daemonsets",
            StatefulSet => "statefulsets",
            ControllerRevision => "controllerrevisions",
        }
    }

    /// The lower-case singular (`deployment`).
    pub fn singular(self) -> &'static str {
        match self {
            Namespace => "namespace",
            Pod => "pod",
            Deployment => "deployment",
            ReplicaSet => "replicaset",
            DaemonSet => "daemonset",
            StatefulSet => "statefulset",
            ControllerRevision => "controllerrevision",
        }
    }

    /// The `kind` (`Deployment`).
    pub fn kind(self) -> &'static str {
        match self {
            Namespace => "Namespace",
            Pod => "Pod",
            Deployment => "Deployment",
            ReplicaSet => "ReplicaSet",
            DaemonSet => "DaemonSet",
            StatefulSet => "StatefulSet",
            ControllerRevision => "ControllerRevision",
        }
    }

    /// Short names kubectl accepts (`deploy`).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Namespace => &["ns"],
            Pod => &["po"],
            Deployment => &["deploy"],
            ReplicaSet => &["rs"],
            DaemonSet => &["ds"],
            StatefulSet => &["sts"],
            ControllerRevision => &[],
        }
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Namespace | Pod => "",
            _ => "apps",
        }
    }

    /// `apiVersion` of objects of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Namespace | Pod => "v1",
            _ => "apps/v1",
        }
    }

    /// Whether objects live in a namespace.
    pub fn namespaced(self) -> bool {
        self != Namespace
    }

    /// Whether the API server maintains `metadata.generation` (bumped on spec changes).
    pub fn has_generation(self) -> bool {
        matches!(self, Deployment | ReplicaSet | DaemonSet | StatefulSet)
    }

    /// Whether there is a `/status` subresource.
    pub fn has_status(self) -> bool {
        self != ControllerRevision
    }

    /// Whether there is a `/scale` subresource.
    pub fn has_scale(self) -> bool {
        matches!(self, Deployment | ReplicaSet | StatefulSet)
    }

    /// Fields a `fieldSelector` may use besides `metadata.name` and `metadata.namespace`.
    pub fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Pod => &[
                "spec.nodeName",
                "status.phase",
                "spec.restartPolicy",
                "spec.schedulerName",
            ],
            Namespace => &["status.phase"],
            _ => &[],
        }
    }

    /// `deployments.apps` / `pods`: how errors name the resource.
    pub fn qualified(self) -> String {
        if self.group().is_empty() {
            self.plural().to_string()
        } else {
            format!("{}.{}", self.plural(), self.group())
        }
    }

    /// Finds a resource by plural, singular, short name or kind, case-insensitively, optionally
    /// qualified by group (`deployments.apps`).
    pub fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let (base, group) = match lower.split_once('.') {
            Some((b, g)) => (b.to_string(), Some(g.to_string())),
            None => (lower, None),
        };
        Self::ALL.into_iter().find(|k| {
            let name_matches = k.plural() == base
                || k.singular() == base
                || k.short_names().contains(&base.as_str());
            name_matches && group.as_deref().is_none_or(|g| g == k.group())
        })
    }

    /// Finds a resource by its path segment within a group version.
    pub fn from_path(group: &str, plural: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.plural())
    }
}

/// The subresource a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself.
    Main,
    /// `/status`
    Status,
    /// `/scale`
    Scale,
}

impl Subresource {
    /// The path segment (`status`), empty for the main resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Subresource::Main => "",
            Subresource::Status => "status",
            Subresource::Scale => "scale",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_the_way_kubectl_users_type_them() {
        assert_eq!(ResourceKind::parse("deploy"), Some(Deployment));
        assert_eq!(ResourceKind::parse("Deployments"), Some(Deployment));
        assert_eq!(ResourceKind::parse("deployments.apps"), Some(Deployment));
        assert_eq!(ResourceKind::parse("deployments.batch"), None);
        assert_eq!(ResourceKind::parse("sts"), Some(StatefulSet));
        assert_eq!(
            ResourceKind::parse("controllerrevision"),
            Some(ControllerRevision)
        );
        assert_eq!(ResourceKind::parse("jobs"), None);
        assert_eq!(Pod.qualified(), "pods");
        assert_eq!(DaemonSet.qualified(), "daemonsets.apps");
    }
}
