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
    /// core/v1 events: where every Event is stored.
    Event,
    /// events.k8s.io/v1 events: the same objects as [`ResourceKind::Event`] in the newer shape
    /// (`regarding`, `note`, `reportingController`, ...), converted on the way in and out as the
    /// API server converts between versions of one resource.
    EventsEvent,
    /// authentication.k8s.io/v1 selfsubjectreviews: create-only, answered with the sim's user and
    /// never stored.
    SelfSubjectReview,
}

use ResourceKind::*;

impl ResourceKind {
    /// Every served resource, core group first.
    pub const ALL: [ResourceKind; 10] = [
        Namespace,
        Pod,
        Event,
        Deployment,
        ReplicaSet,
        DaemonSet,
        StatefulSet,
        ControllerRevision,
        EventsEvent,
        SelfSubjectReview,
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
            Event | EventsEvent => "events",
            SelfSubjectReview => "selfsubjectreviews",
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
            Event | EventsEvent => "event",
            SelfSubjectReview => "selfsubjectreview",
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
            Event | EventsEvent => "Event",
            SelfSubjectReview => "SelfSubjectReview",
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
            Event | EventsEvent => &["ev"],
            ControllerRevision | SelfSubjectReview => &[],
        }
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Namespace | Pod | Event => "",
            EventsEvent => "events.k8s.io",
            SelfSubjectReview => "authentication.k8s.io",
            _ => "apps",
        }
    }

    /// `apiVersion` of objects of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Namespace | Pod | Event => "v1",
            EventsEvent => "events.k8s.io/v1",
            SelfSubjectReview => "authentication.k8s.io/v1",
            _ => "apps/v1",
        }
    }

    /// Whether objects live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Namespace | SelfSubjectReview)
    }

    /// The resource whose store holds objects of this one: the version the API server keeps in
    /// etcd. Requests to the others are converted (see `events.rs`).
    pub fn stored_as(self) -> ResourceKind {
        match self {
            EventsEvent => Event,
            other => other,
        }
    }

    /// The verbs discovery lists and the server answers.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            SelfSubjectReview => &["create"],
            _ => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
        }
    }

    /// Whether the API server maintains `metadata.generation` (bumped on spec changes).
    pub fn has_generation(self) -> bool {
        matches!(self, Deployment | ReplicaSet | DaemonSet | StatefulSet)
    }

    /// Whether there is a `/status` subresource.
    pub fn has_status(self) -> bool {
        !matches!(
            self,
            ControllerRevision | Event | EventsEvent | SelfSubjectReview
        )
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
            Event => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "type",
            ],
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
        assert_eq!(ResourceKind::parse("events"), Some(Event), "core first");
        assert_eq!(ResourceKind::parse("ev"), Some(Event));
        assert_eq!(
            ResourceKind::parse("events.events.k8s.io"),
            Some(EventsEvent)
        );
        assert_eq!(EventsEvent.stored_as(), Event);
        assert_eq!(EventsEvent.qualified(), "events.events.k8s.io");
    }
}
