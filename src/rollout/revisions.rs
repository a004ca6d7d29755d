//! The revision set of a workload, numbered exactly as kubectl numbers it.
//!
//! kubectl lists ReplicaSets (Deployments) or ControllerRevisions (DaemonSets, StatefulSets)
//! by the workload's selector, keeps those whose controller owner reference carries the
//! workload's uid, and reads the number from the `deployment.kubernetes.io/revision`
//! annotation (missing: 0; unparsable: skipped with a warning) or the `.revision` field.
//! This is the one place that does it; history, planning and status all use it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use serde_json::value::RawValue;

use super::clip;
use super::kind::RevisionStore;
use super::template::{self, ContainerImage};
use super::workload::{CHANGE_CAUSE, Workload};

/// The Deployment controller's revision annotation on ReplicaSets (and Deployments).
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier numbers a reused ReplicaSet carried, comma separated.
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

/// Revision numbers for a message: `1, 3, 4`, or `none`; a long history shows its newest
/// numbers after a count of the rest (`... 980 more, 981, 982, ...`).
pub fn describe_numbers(numbers: &[i64]) -> String {
    if numbers.is_empty() {
        return "none".to_string();
    }
    let older = numbers.len().saturating_sub(clip::ITEMS);
    let newest = numbers[older..].iter().map(i64::to_string);
    if older == 0 {
        return newest.collect::<Vec<_>>().join(", ");
    }
    std::iter::once(format!("{older} older not shown"))
        .chain(newest)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ReplicaSet or ControllerRevision as listed, with only the fields history needs.
///
/// Listing into this lean shape (not a full object) matters at scale: a real ReplicaSet also
/// carries `managedFields` and `status`, which are skipped while parsing instead of being held
/// for a thousand revisions.
/// Templates stay unparsed JSON text until one object at a time is turned into a [`Revision`],
/// so a list of a thousand is never held as a thousand parsed trees.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RevisionObject {
    #[serde(default)]
    pub metadata: RevisionMeta,
    /// ReplicaSets: `spec.template`.
    #[serde(default)]
    pub spec: RevisionSpec,
    /// ControllerRevisions: the revision number.
    #[serde(default)]
    pub revision: Value,
    /// ControllerRevisions: the snapshot (`{"spec":{"template":{...,"$patch":"replace"}}}`).
    pub data: Option<Box<RawValue>>,
}

/// The metadata of a [`RevisionObject`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionMeta {
    #[serde(default)]
    pub name: String,
    pub creation_timestamp: Option<Time>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
}

/// The spec of a ReplicaSet [`RevisionObject`].
#[derive(Debug, Default, serde::Deserialize)]
pub struct RevisionSpec {
    pub template: Option<Box<RawValue>>,
}

/// Parses raw JSON text that came from the API server (so it is valid JSON).
fn parse(raw: Option<&RawValue>) -> Value {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default()
}

/// One revision: a ReplicaSet or ControllerRevision owned by the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub number: i64,
    /// The ReplicaSet or ControllerRevision name.
    pub object_name: String,
    pub created: Option<Timestamp>,
    pub change_cause: Option<String>,
    /// The pod template as an undo restores it (without `pod-template-hash` for Deployments,
    /// resolved from the ControllerRevision's data for DaemonSets and StatefulSets), kept as
    /// compact JSON: a parsed template costs several times its text, and a history call may
    /// list a thousand revisions of which it shows one in full.
    template_json: String,
    /// The template's images, init containers first.
    pub images: Vec<ContainerImage>,
    /// The revision object's annotations (kubectl copies them onto a Deployment on undo).
    pub annotations: BTreeMap<String, String>,
    /// A ControllerRevision's `data` as compact JSON: kubectl applies it verbatim as the undo
    /// patch.
    data_json: Option<String>,
    /// Numbers this ReplicaSet carried before it was reused.
    pub earlier_numbers: Vec<i64>,
    /// Why this revision cannot be shown in full or restored (no pod template, or a
    /// ControllerRevision whose `data` is not a template snapshot); kubectl still lists it.
    pub broken: Option<String>,
}

impl Revision {
    /// The pod template as an undo restores it.
    pub fn template(&self) -> Value {
        serde_json::from_str(&self.template_json).unwrap_or_default()
    }

    /// [`template::digest`] of the template: how the live revision is found. Computed when
    /// asked (a thousand of them cost more than the rest of a history call).
    pub fn template_digest(&self) -> String {
        template::digest(&self.template())
    }

    /// The same revision with another template (tests build odd histories with it).
    #[cfg(test)]
    pub(crate) fn with_template(&self, template: Value) -> Self {
        Self {
            images: template::images(&template),
            template_json: template.to_string(),
            ..self.clone()
        }
    }

    /// A ControllerRevision's `data`, which kubectl applies verbatim as the undo patch.
    pub fn data(&self) -> Option<Value> {
        self.data_json
            .as_deref()
            .map(|data| serde_json::from_str(data).unwrap_or_default())
    }
}

/// The revisions kubectl would show, oldest number first, and what kubectl would warn about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RevisionSet {
    pub revisions: Vec<Revision>,
    /// Objects skipped, as kubectl skips them (with a warning): unparsable numbers; and
    /// objects kept but unusable (negative numbers, broken templates).
    pub warnings: Vec<String>,
}

/// One revision number carried by several objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate<'a> {
    pub number: i64,
    pub objects: Vec<&'a str>,
}

/// Why a requested revision cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionLookupError {
    #[error("unable to find specified revision {requested} in history")]
    NotFound { requested: i64, available: Vec<i64> },
    #[error(
        "revision {number} is carried by more than one object ({objects}); kubectl would pick one arbitrarily"
    )]
    Ambiguous { number: i64, objects: String },
    #[error("revision {number} cannot be used: {reason}")]
    Broken { number: i64, reason: String },
}

impl RevisionSet {
    /// Builds the set from everything the selector listed, keeping only what the workload
    /// controls.
    pub fn owned_by(workload: &Workload, listed: Vec<RevisionObject>) -> Self {
        let mut set = RevisionSet::default();
        set.add_owned(workload, listed);
        set.sort();
        set
    }

    /// Adds what the workload controls from one page of a list; [`RevisionSet::sort`] after
    /// the last page.
    pub fn add_owned(&mut self, workload: &Workload, page: Vec<RevisionObject>) {
        let store = workload.kind.revision_store();
        for object in page
            .into_iter()
            .filter(|object| is_controlled_by(object, workload))
        {
            match revision_from(store, object) {
                Ok(revision) => {
                    if revision.number < 0 {
                        self.warnings.push(format!(
                            "revision {} ({}) is negative: kubectl lists it, but no undo can name it",
                            revision.number, revision.object_name
                        ));
                    }
                    if let Some(reason) = &revision.broken {
                        self.warnings.push(format!(
                            "revision {} cannot be shown in full or restored: {reason}",
                            revision.number
                        ));
                    }
                    self.revisions.push(revision);
                }
                Err(warning) => self.warnings.push(warning),
            }
        }
    }

    /// Adds what another page of the same list added; [`RevisionSet::sort`] after the last.
    pub fn append(&mut self, page: RevisionSet) {
        self.revisions.extend(page.revisions);
        self.warnings.extend(page.warnings);
    }

    /// Orders the revisions by number, as kubectl prints them.
    pub fn sort(&mut self) {
        self.revisions.sort_by_key(|revision| revision.number);
    }

    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The distinct revision numbers, ascending.
    pub fn numbers(&self) -> Vec<i64> {
        let mut numbers: Vec<i64> = self.revisions.iter().map(|r| r.number).collect();
        numbers.dedup();
        numbers
    }

    /// Numbers carried by more than one object, with those objects (one pass over the
    /// sorted revisions).
    pub fn duplicates(&self) -> Vec<Duplicate<'_>> {
        self.revisions
            .chunk_by(|a, b| a.number == b.number)
            .filter(|same| same.len() > 1)
            .map(|same| Duplicate {
                number: same[0].number,
                objects: same.iter().map(|r| r.object_name.as_str()).collect(),
            })
            .collect()
    }

    /// The highest number, if any.
    pub fn highest(&self) -> Option<i64> {
        self.revisions.last().map(|revision| revision.number)
    }

    /// The revision with this number; an error names the numbers that do exist.
    /// A broken one (no template to restore) says why.
    pub fn find(&self, number: i64) -> Result<&Revision, RevisionLookupError> {
        let start = self.revisions.partition_point(|r| r.number < number);
        let matching = &self.revisions[start..];
        let end = matching.partition_point(|r| r.number == number);
        match &matching[..end] {
            [] => Err(RevisionLookupError::NotFound {
                requested: number,
                available: self.numbers(),
            }),
            [revision] => match &revision.broken {
                None => Ok(revision),
                Some(reason) => Err(RevisionLookupError::Broken {
                    number,
                    reason: reason.clone(),
                }),
            },
            several => Err(RevisionLookupError::Ambiguous {
                number,
                objects: clip::list(several.iter().map(|r| &r.object_name), clip::ITEMS, ", "),
            }),
        }
    }

    /// The revision whose template is the live one: for Deployments the oldest matching
    /// ReplicaSet (kubectl's `FindNewReplicaSet`), for the others the highest matching number.
    /// None while the controller has not yet recorded the live template.
    pub fn live(&self, workload: &Workload) -> Option<&Revision> {
        let live = template::digest(workload.template());
        // Equal templates have equal images: only those are digested.
        let images = template::images(workload.template());
        let matching = self.revisions.iter().filter(|revision| {
            revision.broken.is_none()
                && revision.images == images
                && revision.template_digest() == live
        });
        match workload.kind.revision_store() {
            RevisionStore::ReplicaSets => matching.min_by_key(|revision| revision.created),
            RevisionStore::ControllerRevisions => matching.max_by_key(|revision| revision.number),
        }
    }
}

/// `metav1.IsControlledBy`: a controller owner reference with the workload's uid.
fn is_controlled_by(object: &RevisionObject, workload: &Workload) -> bool {
    object
        .metadata
        .owner_references
        .iter()
        .any(|owner| is_controller(workload, owner.controller, &owner.uid))
}

/// Whether one owner reference makes `workload` the object's controller.
fn is_controller(workload: &Workload, controller: Option<bool>, uid: &str) -> bool {
    controller == Some(true) && uid == workload.uid()
}

/// The owner references of a listed object, borrowed from its text.
#[derive(serde::Deserialize)]
struct Owners<'a> {
    #[serde(borrow, default)]
    metadata: OwnersMeta<'a>,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnersMeta<'a> {
    #[serde(borrow, default)]
    owner_references: Vec<OwnerRef<'a>>,
}

#[derive(serde::Deserialize)]
struct OwnerRef<'a> {
    controller: Option<bool>,
    #[serde(borrow)]
    uid: Cow<'a, str>,
}

/// The objects of one list page (their text, borrowed from the page) that the workload
/// controls, parsed. The others' owner references are read where they lie and nothing of
/// them is copied: a selector can match many large objects of someone else's.
pub fn controlled_by(
    workload: &Workload,
    items: &[&RawValue],
) -> serde_json::Result<Vec<RevisionObject>> {
    let mut controlled = Vec::new();
    for item in items {
        let owners: Owners = serde_json::from_str(item.get())?;
        if owners
            .metadata
            .owner_references
            .iter()
            .any(|owner| is_controller(workload, owner.controller, &owner.uid))
        {
            controlled.push(serde_json::from_str(item.get())?);
        }
    }
    Ok(controlled)
}

/// Reads one object's revision, moving its fields rather than copying them. An unreadable
/// number skips the object (kubectl skips it too); an unusable template keeps it, broken.
fn revision_from(store: RevisionStore, object: RevisionObject) -> Result<Revision, String> {
    let RevisionObject {
        metadata,
        spec,
        revision,
        data,
    } = object;
    let name = metadata.name;
    let (number, template, data, broken) = match store {
        RevisionStore::ReplicaSets => {
            let number = match metadata.annotations.get(REVISION) {
                None => 0,
                Some(text) => text.parse::<i64>().map_err(|error| {
                    format!(
                        "unable to get revision from replicaset {name}: {REVISION}={:?}: {error}",
                        clip::text(text, clip::VALUE)
                    )
                })?,
            };
            let template = template::without_hash_label(parse(spec.template.as_deref()));
            let broken =
                template_problem(&template).map(|problem| format!("replicaset {name} {problem}"));
            (number, template, None, broken)
        }
        RevisionStore::ControllerRevisions => {
            let number = match &revision {
                Value::Null => 0,
                value => value.as_i64().ok_or_else(|| {
                    format!(
                        "unable to get revision from controllerrevision {name}: revision is {}",
                        clip::text(&value.to_string(), clip::VALUE)
                    )
                })?,
            };
            let data = parse(data.as_deref());
            let mut template = data.pointer("/spec/template").cloned().unwrap_or_default();
            if let Some(fields) = template.as_object_mut() {
                fields.remove("$patch");
            }
            let broken = match template_problem(&template) {
                Some(problem) => Some(format!("unable to parse history {name}: its data {problem}")),
                None => data_problem(&data).map(|problem| {
                    format!(
                        "controllerrevision {name}'s data {problem}; an undo writes the data whole, but only its pod template is shown and approved, so it is not restored (the DaemonSet and StatefulSet controllers write only spec.template, with \"$patch\": \"replace\")"
                    )
                }),
            };
            (number, template, Some(data), broken)
        }
    };
    Ok(Revision {
        number,
        images: template::images(&template),
        template_json: template.to_string(),
        data_json: data.map(|data| data.to_string()),
        created: metadata.creation_timestamp.map(|time| time.0),
        change_cause: metadata.annotations.get(CHANGE_CAUSE).cloned(),
        earlier_numbers: metadata
            .annotations
            .get(REVISION_HISTORY)
            .map(|history| earlier_numbers(history))
            .unwrap_or_default(),
        object_name: name,
        annotations: metadata.annotations,
        broken,
    })
}

/// The most numbers of `revision-history` read: the Deployment controller keeps that
/// annotation under 2,000 characters (dropping the oldest numbers), so at most 1,000 of them.
const EARLIER_NUMBERS: usize = 1000;

/// The numbers a reused ReplicaSet carried before, oldest first: the newest
/// [`EARLIER_NUMBERS`] of them, so a longer annotation (not the controller's) costs no more.
fn earlier_numbers(history: &str) -> Vec<i64> {
    let mut numbers: Vec<i64> = history
        .rsplit(',')
        .take(EARLIER_NUMBERS)
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    numbers.reverse();
    numbers
}

/// Why a ControllerRevision's `data` is not the controllers' own snapshot,
/// `{"spec":{"template":{...,"$patch":"replace"}}}` and nothing else. kubectl applies `data`
/// verbatim as the undo patch, so anything more (`replicas`, `updateStrategy`, metadata), a
/// template merged rather than replaced, or patch directives inside it would write more or
/// other than the template the approver saw. Called once the template itself is usable.
fn data_problem(data: &Value) -> Option<String> {
    let beside = |object: &serde_json::Map<String, Value>, allowed: &str, prefix: &str| {
        let extra: Vec<String> = object
            .keys()
            .filter(|key| *key != allowed)
            .map(|key| format!("{prefix}{}", clip::untrusted(key, clip::VALUE)))
            .collect();
        (!extra.is_empty()).then(|| format!("also sets {}", clip::list(extra, clip::ITEMS, ", ")))
    };
    let top = data.as_object()?;
    if let Some(extra) = beside(top, "spec", "") {
        return Some(extra);
    }
    let spec = top.get("spec")?.as_object()?;
    if let Some(extra) = beside(spec, "template", "spec.") {
        return Some(extra);
    }
    let template = spec.get("template")?.as_object()?;
    if template.get("$patch") != Some(&Value::String("replace".into())) {
        return Some(
            "lacks \"$patch\": \"replace\" on spec.template, so it would merge into the live template rather than replace it".into(),
        );
    }
    template
        .iter()
        .filter(|(key, _)| *key != "$patch")
        .find_map(|(key, value)| {
            if key.starts_with('$') {
                Some(format!(
                    "holds the patch directive {} at spec.template",
                    clip::untrusted(key, clip::VALUE)
                ))
            } else {
                directive(value, &format!("spec.template.{key}"))
            }
        })
}

/// The first strategic-merge directive (a key starting with `$`) inside `value`, by path.
fn directive(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Object(fields) => fields.iter().find_map(|(key, value)| {
            if key.starts_with('$') {
                Some(format!(
                    "holds the patch directive {} at {}",
                    clip::untrusted(key, clip::VALUE),
                    clip::untrusted(path, clip::VALUE)
                ))
            } else {
                directive(value, &format!("{path}.{key}"))
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| directive(item, &format!("{path}[{index}]"))),
        _ => None,
    }
}

/// What keeps a revision's pod template from being restored: the API server refuses a
/// template that is not an object or has no containers.
fn template_problem(template: &Value) -> Option<&'static str> {
    if !template.is_object() {
        return Some("has no pod template");
    }
    match template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
    {
        Some(containers) if !containers.is_empty() => None,
        _ => Some("has a pod template without containers"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rollout::kind::WorkloadKind;
    use crate::rollout::workload::tests::workload;
    use serde_json::json;

    pub(crate) fn deployment(image: &str) -> Workload {
        workload(
            WorkloadKind::Deployment,
            json!({
                "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web", "resourceVersion": "42", "generation": 3},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}
                }
            }),
        )
    }

    pub(crate) fn replica_set(
        name: &str,
        owner_uid: &str,
        revision: Option<&str>,
        image: &str,
        created: &str,
    ) -> RevisionObject {
        let mut annotations = serde_json::Map::new();
        if let Some(revision) = revision {
            annotations.insert(REVISION.into(), json!(revision));
        }
        annotations.insert(CHANGE_CAUSE.into(), json!(format!("deploy {image}")));
        serde_json::from_value(json!({
            "metadata": {
                "name": name, "namespace": "shop", "creationTimestamp": created,
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner_uid, "controller": true}]
            },
            "spec": {"template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name.rsplit('-').next().unwrap()}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }}
        }))
        .unwrap()
    }

    #[test]
    fn revision_history_is_read_from_its_newest_end_and_bounded() {
        assert_eq!(earlier_numbers("2, 5,x,7"), vec![2, 5, 7]);
        let hostile: String = (1..=200_000).map(|n| format!("{n},")).collect();
        let numbers = earlier_numbers(hostile.trim_end_matches(','));
        assert_eq!(numbers.len(), EARLIER_NUMBERS);
        assert_eq!(
            (numbers[0], *numbers.last().unwrap()),
            (200_001 - EARLIER_NUMBERS as i64, 200_000),
            "the newest numbers, oldest first"
        );
    }

    #[test]
    fn keeps_only_controlled_objects_and_numbers_them_like_kubectl() {
        let set = RevisionSet::owned_by(
            &deployment("app:3"),
            vec![
                replica_set(
                    "web-ccc",
                    "uid-web",
                    Some("3"),
                    "app:3",
                    "2026-01-03T00:00:00Z",
                ),
                replica_set("web-aaa", "uid-web", None, "app:1", "2026-01-01T00:00:00Z"),
                replica_set(
                    "web-bbb",
                    "uid-web",
                    Some("x2"),
                    "app:2",
                    "2026-01-02T00:00:00Z",
                ),
                replica_set(
                    "web-zzz",
                    "uid-other",
                    Some("9"),
                    "app:9",
                    "2026-01-04T00:00:00Z",
                ),
            ],
        );
        assert_eq!(set.numbers(), vec![0, 3]);
        assert_eq!(set.warnings.len(), 1);
        assert!(set.warnings[0].contains("web-bbb"), "{:?}", set.warnings);
        assert_eq!(
            set.revisions[1].change_cause.as_deref(),
            Some("deploy app:3")
        );
        assert_eq!(
            set.revisions[1].template()["metadata"]["labels"],
            json!({"app": "web"})
        );
    }

    #[test]
    fn finds_the_live_revision_by_template_and_reports_missing_ones() {
        let set = RevisionSet::owned_by(
            &deployment("app:1"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("3"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-bbb",
                    "uid-web",
                    Some("2"),
                    "app:2",
                    "2026-01-02T00:00:00Z",
                ),
            ],
        );
        assert_eq!(set.live(&deployment("app:1")).unwrap().number, 3);
        assert_eq!(set.live(&deployment("app:7")), None);
        assert_eq!(
            set.find(5),
            Err(RevisionLookupError::NotFound {
                requested: 5,
                available: vec![2, 3]
            })
        );
    }

    #[test]
    fn duplicate_numbers_are_reported_and_ambiguous_to_find() {
        let set = RevisionSet::owned_by(
            &deployment("app:1"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("2"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-bbb",
                    "uid-web",
                    Some("2"),
                    "app:2",
                    "2026-01-02T00:00:00Z",
                ),
            ],
        );
        assert_eq!(
            set.duplicates(),
            vec![Duplicate {
                number: 2,
                objects: vec!["web-aaa", "web-bbb"]
            }]
        );
        assert!(matches!(
            set.find(2),
            Err(RevisionLookupError::Ambiguous { number: 2, .. })
        ));
    }

    #[test]
    fn a_replica_set_without_a_template_is_listed_but_cannot_be_used() {
        let mut hollow = replica_set(
            "web-ccc",
            "uid-web",
            Some("3"),
            "app:3",
            "2026-01-03T00:00:00Z",
        );
        hollow.spec.template = None;
        let set = RevisionSet::owned_by(&deployment("app:1"), vec![hollow]);
        assert_eq!(set.numbers(), vec![3]);
        assert_eq!(
            set.find(3),
            Err(RevisionLookupError::Broken {
                number: 3,
                reason: "replicaset web-ccc has no pod template".into()
            })
        );
        assert_eq!(set.live(&deployment("app:1")), None);
        assert_eq!(
            set.warnings,
            vec![
                "revision 3 cannot be shown in full or restored: replicaset web-ccc has no pod template"
            ]
        );
    }

    #[test]
    fn long_number_lists_show_the_newest_after_a_count() {
        assert_eq!(describe_numbers(&[]), "none");
        assert_eq!(describe_numbers(&[1, 3]), "1, 3");
        let many: Vec<i64> = (1..=1000).collect();
        let text = describe_numbers(&many);
        assert!(text.starts_with("980 older not shown, 981, "), "{text}");
        assert!(text.ends_with(", 1000"), "{text}");
    }

    #[test]
    fn controller_revisions_resolve_their_template_from_data() {
        let daemon_set = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "agent", "uid": "uid-ds"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}),
        );
        let revision: RevisionObject = serde_json::from_value(json!({
            "metadata": {"name": "agent-7b9", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "uid-ds", "controller": true}]},
            "revision": 4,
            "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}
        }))
        .unwrap();
        let set = RevisionSet::owned_by(&daemon_set, vec![revision]);
        assert_eq!(set.numbers(), vec![4]);
        assert_eq!(set.revisions[0].template().get("$patch"), None);
        assert_eq!(set.live(&daemon_set).unwrap().number, 4);
    }

    #[test]
    fn controller_revision_data_beyond_the_template_is_listed_but_not_restored() {
        let stateful_set = workload(
            WorkloadKind::StatefulSet,
            json!({"metadata": {"name": "db", "uid": "uid-sts"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}),
        );
        let template = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}]}});
        let cases = [
            (
                json!({"spec": {"replicas": 0, "template": template.clone()}}),
                "also sets spec.replicas",
            ),
            (
                json!({"spec": {"template": template.clone()}, "metadata": {"labels": {"x": "y"}}}),
                "also sets metadata",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}),
                "lacks \"$patch\": \"replace\"",
            ),
            (
                json!({"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "$patch": "delete"}]}}}}),
                "holds the patch directive $patch at spec.template.spec.containers[1]",
            ),
            (
                json!({"spec": {"template": {"$patch": "replace", "$setElementOrder/x": [], "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}),
                "holds the patch directive $setElementOrder/x at spec.template",
            ),
        ];
        for (number, (mut data, problem)) in cases.into_iter().enumerate() {
            if let Some(template) = data.pointer_mut("/spec/template")
                && template.get("$patch").is_none()
                && number < 2
            {
                template["$patch"] = json!("replace");
            }
            let revision: RevisionObject = serde_json::from_value(json!({
                "metadata": {"name": "db-1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "uid-sts", "controller": true}]},
                "revision": 1,
                "data": data,
            }))
            .unwrap();
            let set = RevisionSet::owned_by(&stateful_set, vec![revision]);
            assert_eq!(set.numbers(), vec![1], "listed as kubectl lists it");
            let broken = set.revisions[0].broken.as_deref().unwrap_or_default();
            assert!(broken.contains(problem), "{problem}: {broken}");
            assert!(matches!(
                set.find(1),
                Err(RevisionLookupError::Broken { number: 1, .. })
            ));
        }
    }
}
