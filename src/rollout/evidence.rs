//! Why a rollout fails, from what the API records: the workload's pods grouped by the revision
//! they run and by their state (the waiting reason such as `CrashLoopBackOff` or
//! `ImagePullBackOff`, the last termination such as `OOMKilled` with its exit code, restart
//! counts, Ready=false, the scheduler's `PodScheduled=False` message), one example pod per
//! group, and the newest Warning events of the workload, its revision objects and its pods.
//!
//! Pure functions over one page of pods and one page of events (the caller reads them with
//! two requests, `crate::verify::evidence`). Everything shown is bounded: at most
//! [`GROUPS`] groups per revision, [`EVENTS`] events, and every cluster-sourced text escaped
//! and clipped ([`clip::untrusted`]).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::clip;
use super::revisions::RevisionSet;
use super::workload::Workload;

/// Pods read per call (one page): a workload with more is summarised from the first page.
pub const PODS_READ: u32 = 500;
/// Warning events read per call (one page of the namespace's).
pub const EVENTS_READ: u32 = 500;
/// Pod groups shown per revision.
pub const GROUPS: usize = 5;
/// Warning events shown, newest first.
pub const EVENTS: usize = 5;
/// Characters shown of one cluster-sourced message.
const MESSAGE: usize = 200;

/// The pod label carrying a Deployment's ReplicaSet hash.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The pod label carrying a DaemonSet's or StatefulSet's ControllerRevision.
const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// What a pod is doing, worst first: the order groups are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PodState {
    /// `PodScheduled=False`: no node takes it (the scheduler's message says why).
    Unschedulable,
    /// A container waits (`reason`: CrashLoopBackOff, ImagePullBackOff, ErrImagePull,
    /// CreateContainerConfigError, ContainerCreating...).
    Waiting,
    /// A container terminated and is not restarted (`reason`, exit code).
    Terminated,
    /// Running but `Ready=False`.
    NotReady,
    /// Not yet started, no container state recorded.
    Pending,
    /// Being deleted.
    Terminating,
    Ready,
}

impl PodState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unschedulable => "unschedulable",
            Self::Waiting => "waiting",
            Self::Terminated => "terminated",
            Self::NotReady => "not ready",
            Self::Pending => "pending",
            Self::Terminating => "terminating",
            Self::Ready => "ready",
        }
    }

    fn healthy(self) -> bool {
        self == Self::Ready
    }
}

/// Pods in one state, of one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PodGroup {
    pub state: PodState,
    /// The waiting or termination reason, or the condition's (e.g. `CrashLoopBackOff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub pods: u32,
    /// One pod of the group, to inspect (`kubectl describe pod`).
    pub example_pod: String,
    /// The most restarts of any container of the group's pods.
    pub max_restarts: i64,
    /// How a container last ended, e.g. `OOMKilled, exit code 137`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<String>,
    /// The example pod's message for this state (escaped, clipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The pods running one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RevisionPods {
    /// The revision number (None: pods whose revision label matches no revision object).
    pub revision: Option<i64>,
    /// True for the live revision (the one being rolled out or already complete).
    pub live: bool,
    pub pods: u32,
    /// Worst state first, at most [`GROUPS`].
    pub groups: Vec<PodGroup>,
    /// Groups not shown.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_groups: usize,
}

/// Warning events with the same reason on the same kind of object, merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WarningEvent {
    pub reason: String,
    /// The newest message (escaped, clipped).
    pub message: String,
    /// The object of the newest one, e.g. `Pod/api-7d9f-x2k4q`.
    pub object: String,
    /// How many objects reported it.
    pub objects: u32,
    /// How many times, summed over the events (`count` / `series.count`).
    pub count: i64,
    /// When it was last seen (RFC 3339), if the event says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// Why the workload's rollout stands where it does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    /// The live revision first, then older revisions still serving, newest first.
    pub pods: Vec<RevisionPods>,
    /// True when the workload has more pods than were read ([`PODS_READ`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pods_sampled: bool,
    /// The newest Warning events, at most [`EVENTS`].
    pub warning_events: Vec<WarningEvent>,
    /// What could not be read, one line each (e.g. a 403 on events); the rest still stands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

// ---- The lean shapes read from the API (only the fields used here are parsed). ----

/// A pod, as far as its state goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodObject {
    pub metadata: PodMeta,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    pub conditions: Vec<PodCondition>,
    pub init_container_statuses: Vec<ContainerStatus>,
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    pub ready: bool,
    pub restart_count: i64,
    pub state: ContainerState,
    pub last_state: ContainerState,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    pub waiting: Option<Reasoned>,
    pub terminated: Option<Terminated>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Reasoned {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Terminated {
    pub reason: Option<String>,
    pub message: Option<String>,
    pub exit_code: i64,
}

/// A core/v1 Event, as far as a summary goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventObject {
    pub involved_object: InvolvedObject,
    pub reason: String,
    pub message: String,
    pub count: Option<i64>,
    pub last_timestamp: Option<String>,
    pub event_time: Option<String>,
    pub series: Option<EventSeries>,
    pub metadata: EventMeta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InvolvedObject {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSeries {
    pub count: Option<i64>,
    pub last_observed_time: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventMeta {
    pub creation_timestamp: Option<String>,
}

// ---- Pods. ----

/// One pod's state, reason, restarts, last termination and message.
struct PodFacts {
    state: PodState,
    reason: Option<String>,
    restarts: i64,
    last_termination: Option<String>,
    message: Option<String>,
}

/// Classifies a pod: being deleted, unschedulable, the first waiting or terminated container
/// (init containers first, as they run first), running but not ready, or ready.
fn facts(pod: &PodObject) -> PodFacts {
    let status = &pod.status;
    let containers = || {
        status
            .init_container_statuses
            .iter()
            .chain(&status.container_statuses)
    };
    let restarts = containers()
        .map(|container| container.restart_count)
        .max()
        .unwrap_or(0);
    let last_termination = containers()
        .filter_map(|container| {
            container
                .state
                .terminated
                .as_ref()
                .filter(|terminated| terminated.exit_code != 0)
                .or(container.last_state.terminated.as_ref())
        })
        .map(|terminated| {
            format!(
                "{}, exit code {}",
                terminated.reason.as_deref().unwrap_or("terminated"),
                terminated.exit_code
            )
        })
        .next()
        .map(|text| clip::untrusted(&text, MESSAGE));
    let fact = |state, reason: Option<&str>, message: Option<&str>| PodFacts {
        state,
        reason: reason.map(|reason| clip::untrusted(reason, MESSAGE)),
        restarts,
        last_termination: last_termination.clone(),
        message: message
            .filter(|message| !message.is_empty())
            .map(|message| clip::untrusted(message, MESSAGE)),
    };
    let condition = |kind: &str| {
        status
            .conditions
            .iter()
            .find(|condition| condition.type_ == kind)
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return fact(PodState::Terminating, None, None);
    }
    if let Some(unscheduled) = condition("PodScheduled").filter(|c| c.status == "False") {
        return fact(
            PodState::Unschedulable,
            unscheduled.reason.as_deref(),
            unscheduled.message.as_deref(),
        );
    }
    let waiting = containers().find_map(|container| container.state.waiting.as_ref());
    if let Some(waiting) = waiting {
        return fact(
            PodState::Waiting,
            waiting.reason.as_deref(),
            waiting.message.as_deref(),
        );
    }
    let failed = containers().find_map(|container| {
        container
            .state
            .terminated
            .as_ref()
            .filter(|terminated| terminated.exit_code != 0)
    });
    if let Some(terminated) = failed {
        return fact(
            PodState::Terminated,
            terminated.reason.as_deref(),
            terminated.message.as_deref(),
        );
    }
    match condition("Ready") {
        Some(ready) if ready.status == "True" => fact(PodState::Ready, None, None),
        Some(ready) if status.phase.as_deref() == Some("Running") => fact(
            PodState::NotReady,
            ready.reason.as_deref(),
            ready.message.as_deref(),
        ),
        _ if status.container_statuses.iter().all(|c| c.ready)
            && !status.container_statuses.is_empty() =>
        {
            fact(PodState::Ready, None, None)
        }
        _ => fact(PodState::Pending, status.phase.as_deref(), None),
    }
}

/// The revision a pod runs: its `pod-template-hash` (Deployments) or
/// `controller-revision-hash` (DaemonSets, StatefulSets) label names the revision object,
/// whose name is the workload's name and the hash (a StatefulSet's label is the whole name).
fn revision_of(pod: &PodObject, objects: &BTreeMap<&str, i64>) -> Option<i64> {
    let hash = pod
        .metadata
        .labels
        .get(POD_TEMPLATE_HASH)
        .or_else(|| pod.metadata.labels.get(CONTROLLER_REVISION_HASH))?;
    objects.get(hash.as_str()).copied().or_else(|| {
        objects
            .iter()
            .find(|(name, _)| {
                name.strip_suffix(hash.as_str())
                    .is_some_and(|prefix| prefix.ends_with('-'))
            })
            .map(|(_, number)| *number)
    })
}

/// One revision's pods: by (state, reason), each group.
type Groups = BTreeMap<(PodState, Option<String>), PodGroup>;

/// Groups the pods by revision (live first, then newest) and state (worst first).
pub fn pods(workload: &Workload, set: &RevisionSet, pods: &[PodObject]) -> Vec<RevisionPods> {
    let live = set.live(workload).map(|revision| revision.number);
    let objects: BTreeMap<&str, i64> = set
        .revisions
        .iter()
        .map(|revision| (revision.object_name.as_str(), revision.number))
        .collect();
    let mut by_revision: BTreeMap<Option<i64>, (u32, Groups)> = BTreeMap::new();
    for pod in pods {
        let facts = facts(pod);
        let (count, groups) = by_revision.entry(revision_of(pod, &objects)).or_default();
        *count += 1;
        let group = groups
            .entry((facts.state, facts.reason.clone()))
            .or_insert_with(|| PodGroup {
                state: facts.state,
                reason: facts.reason.clone(),
                pods: 0,
                example_pod: clip::untrusted(&pod.metadata.name, MESSAGE),
                max_restarts: 0,
                last_termination: None,
                message: facts.message.clone(),
            });
        group.pods += 1;
        if facts.restarts > group.max_restarts {
            group.max_restarts = facts.restarts;
        }
        if group.last_termination.is_none() {
            group.last_termination = facts.last_termination;
        }
    }
    let mut out: Vec<RevisionPods> = by_revision
        .into_iter()
        .map(|(revision, (count, groups))| {
            let mut groups: Vec<PodGroup> = groups.into_values().collect();
            groups.sort_by_key(|group| (group.state, std::cmp::Reverse(group.pods)));
            let more_groups = groups.len().saturating_sub(GROUPS);
            groups.truncate(GROUPS);
            RevisionPods {
                revision,
                live: revision.is_some() && revision == live,
                pods: count,
                groups,
                more_groups,
            }
        })
        .collect();
    out.sort_by_key(|pods| (!pods.live, std::cmp::Reverse(pods.revision)));
    out
}

// ---- Events. ----

/// The newest Warning events about the workload, its revision objects or the pods read,
/// merged by reason and object kind, at most [`EVENTS`].
pub fn warning_events(
    workload: &Workload,
    set: &RevisionSet,
    pods: &[PodObject],
    events: &[EventObject],
) -> Vec<WarningEvent> {
    let revision_kind = workload.kind.revision_store().kind();
    let mut ours: BTreeSet<(&str, &str)> = BTreeSet::new();
    ours.insert((workload.kind.kind(), workload.name()));
    for revision in &set.revisions {
        ours.insert((revision_kind, revision.object_name.as_str()));
    }
    for pod in pods {
        ours.insert(("Pod", pod.metadata.name.as_str()));
    }
    let mut merged: BTreeMap<(&str, &str), (WarningEvent, Option<Timestamp>)> = BTreeMap::new();
    let mut objects: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for event in events {
        let involved = &event.involved_object;
        if !ours.contains(&(involved.kind.as_str(), involved.name.as_str())) {
            continue;
        }
        let key = (event.reason.as_str(), involved.kind.as_str());
        objects
            .entry(key)
            .or_default()
            .insert(involved.name.as_str());
        let seen = last_seen(event);
        let count = event
            .series
            .as_ref()
            .and_then(|series| series.count)
            .or(event.count)
            .unwrap_or(1)
            .max(1);
        let entry = merged.entry(key).or_insert_with(|| {
            (
                WarningEvent {
                    reason: clip::untrusted(&event.reason, MESSAGE),
                    message: String::new(),
                    object: String::new(),
                    objects: 0,
                    count: 0,
                    last_seen: None,
                },
                None,
            )
        });
        entry.0.count = entry.0.count.saturating_add(count);
        if entry.0.object.is_empty() || seen > entry.1 {
            entry.1 = seen;
            entry.0.message = clip::untrusted(&event.message, MESSAGE);
            entry.0.object =
                clip::untrusted(&format!("{}/{}", involved.kind, involved.name), MESSAGE);
            entry.0.last_seen = seen.map(|time| time.to_string());
        }
    }
    let mut out: Vec<(WarningEvent, Option<Timestamp>)> = merged
        .into_iter()
        .map(|(key, (mut event, seen))| {
            event.objects = objects.get(&key).map_or(1, |names| names.len() as u32);
            (event, seen)
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.count.cmp(&a.0.count)));
    out.into_iter()
        .take(EVENTS)
        .map(|(event, _)| event)
        .collect()
}

/// When an event was last seen: its series' last observation, `lastTimestamp`, `eventTime`,
/// else its creation.
fn last_seen(event: &EventObject) -> Option<Timestamp> {
    [
        event
            .series
            .as_ref()
            .and_then(|series| series.last_observed_time.as_deref()),
        event.last_timestamp.as_deref(),
        event.event_time.as_deref(),
        event.metadata.creation_timestamp.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|text| text.parse().ok())
}

// ---- Summaries. ----

impl Evidence {
    /// The live revision's worst unhealthy group, in one line: `CrashLoopBackOff: 3 of 3 pods
    /// (restarts up to 5; last exit Error, exit code 1; e.g. pod api-x)`. None when every
    /// pod of the live revision is ready (or none was read).
    pub fn top_failure(&self) -> Option<String> {
        let live = self.pods.iter().find(|pods| pods.live)?;
        let worst = live.groups.iter().find(|group| !group.state.healthy())?;
        Some(format!(
            "{}: {} of {} pods{}",
            group_label(worst),
            worst.pods,
            live.pods,
            group_details(worst)
        ))
    }

    /// A few lines of text: pods per revision, then the events, then what could not be read.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for pods in &self.pods {
            let which = match (pods.revision, pods.live) {
                (Some(number), true) => format!("revision {number} (live)"),
                (Some(number), false) => format!("revision {number} (old, still running)"),
                (None, _) => "an unknown revision".to_string(),
            };
            let groups = clip::list(
                pods.groups.iter().map(|group| {
                    format!(
                        "{} {}{}",
                        group.pods,
                        group_label(group),
                        group_details(group)
                    )
                }),
                GROUPS,
                "; ",
            );
            let more = if pods.more_groups > 0 {
                format!("; {} more states", pods.more_groups)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "pods of {which}: {} ({groups}{more})\n",
                pods.pods
            ));
        }
        if self.pods_sampled {
            out.push_str(&format!("(only the first {PODS_READ} pods were read)\n"));
        }
        for event in &self.warning_events {
            let objects = if event.objects > 1 {
                format!(" on {} objects", event.objects)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "warning {} x{}{objects}, newest on {}{}: \"{}\"\n",
                event.reason,
                event.count,
                event.object,
                event
                    .last_seen
                    .as_deref()
                    .map(|time| format!(" at {time}"))
                    .unwrap_or_default(),
                event.message
            ));
        }
        for line in &self.unavailable {
            out.push_str(&format!("{line}\n"));
        }
        out
    }
}

/// `waiting CrashLoopBackOff`, `not ready`, `ready`.
fn group_label(group: &PodGroup) -> String {
    match &group.reason {
        Some(reason) if !group.state.healthy() => format!("{} {reason}", group.state.as_str()),
        _ => group.state.as_str().to_string(),
    }
}

/// ` (restarts up to 5; last exit Error, exit code 1; e.g. pod api-x: "message")`.
fn group_details(group: &PodGroup) -> String {
    let mut details = Vec::new();
    if group.max_restarts > 0 {
        details.push(format!("restarts up to {}", group.max_restarts));
    }
    if let Some(last) = &group.last_termination {
        details.push(format!("last exit {last}"));
    }
    let example = match (&group.message, group.state.healthy()) {
        (Some(message), false) => format!("e.g. pod {}: \"{message}\"", group.example_pod),
        _ => format!("e.g. pod {}", group.example_pod),
    };
    details.push(example);
    format!(" ({})", details.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::kind::WorkloadKind;
    use crate::rollout::revisions::RevisionObject;
    use kube::api::DynamicObject;
    use serde_json::json;

    fn deployment() -> Workload {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop", "uid": "u1",
                "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "app", "image": "api:2"}]}}},
        }))
        .unwrap();
        Workload::new(WorkloadKind::Deployment, object)
    }

    fn revision_set(workload: &Workload) -> RevisionSet {
        let replica_set = |hash: &str, number: i64, image: &str| -> RevisionObject {
            serde_json::from_value(json!({
                "metadata": {"name": format!("api-{hash}"),
                    "annotations": {"deployment.kubernetes.io/revision": number.to_string()},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                        "name": "api", "uid": "u1", "controller": true}]},
                "spec": {"template": {"metadata": {"labels": {"app": "api", "pod-template-hash": hash}},
                    "spec": {"containers": [{"name": "app", "image": image}]}}},
            }))
            .unwrap()
        };
        let mut set = RevisionSet::owned_by(
            workload,
            vec![
                replica_set("aaa", 1, "api:1"),
                replica_set("bbb", 2, "api:2"),
            ],
        );
        set.sort();
        set
    }

    fn pod(name: &str, hash: &str, status: serde_json::Value) -> PodObject {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "api", "pod-template-hash": hash}},
            "status": status,
        }))
        .unwrap()
    }

    fn crash_looping(restarts: i64) -> serde_json::Value {
        json!({"phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s\nrestarting"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]})
    }

    fn ready() -> serde_json::Value {
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]})
    }

    #[test]
    fn pods_are_grouped_by_revision_and_state_with_an_example_each() {
        let workload = deployment();
        let set = revision_set(&workload);
        let pods = [
            pod("api-bbb-1", "bbb", crash_looping(3)),
            pod("api-bbb-2", "bbb", crash_looping(7)),
            pod("api-aaa-1", "aaa", ready()),
            pod(
                "api-bbb-3",
                "bbb",
                json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}]}),
            ),
        ];
        let grouped = super::pods(&workload, &set, &pods);
        assert_eq!(grouped.len(), 2);
        let live = &grouped[0];
        assert!(live.live);
        assert_eq!((live.revision, live.pods), (Some(2), 3));
        assert_eq!(live.groups[0].state, PodState::Unschedulable);
        assert!(
            live.groups[0]
                .message
                .as_deref()
                .unwrap()
                .contains("node affinity")
        );
        let crash = &live.groups[1];
        assert_eq!(crash.reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!((crash.pods, crash.max_restarts), (2, 7));
        assert_eq!(crash.example_pod, "api-bbb-1");
        assert_eq!(
            crash.last_termination.as_deref(),
            Some("OOMKilled, exit code 137")
        );
        // The kubelet's message is escaped: no line of its own.
        assert_eq!(crash.message.as_deref(), Some("back-off 10s\\nrestarting"));
        let old = &grouped[1];
        assert_eq!((old.revision, old.live, old.pods), (Some(1), false, 1));
        assert_eq!(old.groups[0].state, PodState::Ready);

        let evidence = Evidence {
            pods: grouped,
            ..Evidence::default()
        };
        assert_eq!(
            evidence.top_failure().unwrap(),
            "unschedulable Unschedulable: 1 of 3 pods (e.g. pod api-bbb-3: \"0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.\")"
        );
        let text = evidence.render();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("2 waiting CrashLoopBackOff (restarts up to 7; last exit OOMKilled, exit code 137; e.g. pod api-bbb-1"), "{text}");
        assert!(
            text.contains(
                "pods of revision 1 (old, still running): 1 (1 ready (e.g. pod api-aaa-1))"
            ),
            "{text}"
        );
    }

    #[test]
    fn image_pull_failures_and_unready_pods_name_their_reason() {
        let workload = deployment();
        let set = revision_set(&workload);
        let pull = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"api:2\""}}}]});
        let unready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [app]"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"running": {}}}]});
        let pods = [pod("p1", "bbb", pull), pod("p2", "bbb", unready)];
        let grouped = super::pods(&workload, &set, &pods);
        let states: Vec<_> = grouped[0]
            .groups
            .iter()
            .map(|group| (group.state, group.reason.clone()))
            .collect();
        assert_eq!(
            states,
            [
                (PodState::Waiting, Some("ImagePullBackOff".into())),
                (PodState::NotReady, Some("ContainersNotReady".into())),
            ]
        );
    }

    #[test]
    fn groups_and_events_are_bounded() {
        let workload = deployment();
        let set = revision_set(&workload);
        let pods: Vec<PodObject> = (0..50)
            .map(|index| {
                let waiting = json!({"containerStatuses": [{"state": {"waiting": {"reason": format!("Reason{index}")}}}]});
                pod(&format!("api-bbb-{index}"), "bbb", waiting)
            })
            .collect();
        let grouped = super::pods(&workload, &set, &pods);
        assert_eq!(grouped[0].groups.len(), GROUPS);
        assert_eq!(grouped[0].more_groups, 45);
        assert_eq!(grouped[0].pods, 50);

        let events: Vec<EventObject> = (0..50)
            .map(|index| {
                serde_json::from_value(json!({
                    "involvedObject": {"kind": "Pod", "name": format!("api-bbb-{index}")},
                    "reason": format!("R{}", index % 10), "message": "x".repeat(10_000),
                    "count": 2, "lastTimestamp": format!("2026-12-01T10:00:{:02}Z", index),
                }))
                .unwrap()
            })
            .collect();
        let merged = warning_events(&workload, &set, &pods, &events);
        assert_eq!(merged.len(), EVENTS);
        // Newest first: index 49 has reason R9.
        assert_eq!(merged[0].reason, "R9");
        assert_eq!((merged[0].count, merged[0].objects), (10, 5));
        assert_eq!(merged[0].object, "Pod/api-bbb-49");
        assert!(merged[0].message.chars().count() < 300);
    }

    #[test]
    fn events_of_other_objects_are_left_out() {
        let workload = deployment();
        let set = revision_set(&workload);
        let event = |kind: &str, name: &str| -> EventObject {
            serde_json::from_value(json!({"involvedObject": {"kind": kind, "name": name},
                "reason": format!("On{name}"), "message": "m"}))
            .unwrap()
        };
        let events = [
            event("Deployment", "api"),
            event("ReplicaSet", "api-bbb"),
            event("Deployment", "other"),
            event("Pod", "someone-else"),
        ];
        let merged = warning_events(&workload, &set, &[], &events);
        let reasons: BTreeSet<_> = merged.iter().map(|event| event.reason.as_str()).collect();
        assert_eq!(reasons, BTreeSet::from(["Onapi", "Onapi-bbb"]));
    }
}
