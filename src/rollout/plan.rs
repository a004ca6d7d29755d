//! Planning an undo: pick the target revision, refuse what kubectl refuses, and build
//! kubectl's patch plus a resourceVersion precondition and the marks saying who approved it
//! and which call wrote it ([`Stamp`]).
//!
//! What the patch writes besides the template is part of the plan too: a Deployment undo
//! replaces the workload's annotations with the target ReplicaSet's (kubectl's behaviour), so
//! those changes are listed for the approver ([`RollbackPlan::annotation_changes`]), and the
//! approval binds a digest of the whole patch ([`RollbackPlan::patch_digest`]).
//!
//! kubectl's own undo patch has no precondition, so a deploy landing between "look" and
//! "undo" is silently overwritten. Ours carries the resourceVersion the plan was made from:
//! if the workload changed since, the API server answers 409 Conflict and nothing is written.

use std::collections::BTreeMap;

use json_patch::jsonptr::Pointer;
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::clip;
use super::diff::{self, Change, TemplateDiff};
use super::kind::{RevisionStore, WorkloadKind};
use super::revisions::{REVISION, REVISION_HISTORY, Revision, RevisionLookupError, RevisionSet};
use super::status;
use super::template::{self, ContainerImage, sha256_hex};
use super::warnings;
use super::workload::{CALL_ID, CHANGE_CAUSE, LAST_APPLIED, Workload};

/// Annotations a Deployment keeps on undo instead of taking the ReplicaSet's (kubectl's
/// `annotationsToSkip`).
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    LAST_APPLIED,
    REVISION,
    REVISION_HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// Why an undo is refused before anyone is asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanRefusal {
    #[error(
        "to_revision must be a positive integer (got {0}); look at the history and name the revision to restore"
    )]
    InvalidRevision(i64),
    #[error("{0}")]
    Lookup(#[from] RevisionLookupError),
    /// kubectl's message for a paused Deployment.
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    Paused,
    /// kubectl's message when the target is already live.
    #[error("skipped rollback (current template already matches revision {revision})")]
    AlreadyMatches { revision: i64 },
}

/// The exact write an undo makes.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackPatch {
    /// Deployments: a JSON Patch replacing the template and the annotations.
    Json(json_patch::Patch),
    /// DaemonSets and StatefulSets: the ControllerRevision's data as a strategic merge patch.
    StrategicMerge(Value),
}

impl RollbackPatch {
    /// The exact bytes sent, serialised as kube serialises a patch body.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Json(patch) => serde_json::to_vec(patch),
            Self::StrategicMerge(body) => serde_json::to_vec(body),
        }
        .expect("a patch of JSON values serialises")
    }

    /// Lower-case hex SHA-256 of [`RollbackPatch::bytes`]: matches a shown, redacted copy to
    /// the body sent.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes())
    }

    /// The body as the agent or the approver is shown it: unless values are shown, env values
    /// in the template and manifests held in annotations are redacted
    /// ([`template::redact`], [`template::redact_annotations`]).
    pub fn shown(&self, show_values: bool) -> Value {
        let mut body: Value = serde_json::from_slice(&self.bytes()).unwrap_or_default();
        if show_values {
            return body;
        }
        match self {
            Self::Json(_) => {
                for operation in body.as_array_mut().into_iter().flatten() {
                    let path = operation["path"].as_str().unwrap_or_default().to_string();
                    let Some(value) = operation.get_mut("value") else {
                        continue;
                    };
                    match path.as_str() {
                        "/spec/template" => *value = template::redact(value),
                        "/metadata/annotations" => template::redact_annotations(value),
                        _ => {}
                    }
                }
            }
            Self::StrategicMerge(_) => {
                if let Some(template) = body.pointer_mut("/spec/template") {
                    *template = template::redact(template);
                }
                if let Some(annotations) = body.pointer_mut("/metadata/annotations") {
                    template::redact_annotations(annotations);
                }
            }
        }
        body
    }
}

/// What an undo's patch records besides the template: who approved it (the
/// `kubernetes.io/change-cause`, [`change_cause`]) and which call wrote it ([`CALL_ID`]).
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub change_cause: &'a str,
    pub call_id: &'a str,
}

/// What the bound copy of a patch has where the approval cannot know the value yet, or does
/// not bind it ([`RollbackPlan::patch_digest`]).
const BOUND_APPROVER: &str = "approved by <approver>";
const BOUND_CALL_ID: &str = "<call-id>";
const BOUND_RESOURCE_VERSION: &str = "<resourceVersion>";

/// Everything decided before approval: what will be restored, over what, and the write.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackPlan {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The workload's resourceVersion when planned: the write's precondition.
    pub resource_version: String,
    /// `metadata.generation` when planned: the write, changing the template, moves it on.
    pub generation: i64,
    /// The `Progressing` condition's `lastUpdateTime` when planned. The precondition keeps it
    /// so until the write lands, so a deadline condition no newer than this predates the write.
    pub progressing_updated: Option<Timestamp>,
    pub live_revision: Option<i64>,
    /// The highest revision number before the undo: the restored template's new number
    /// must be above it.
    pub highest_revision: i64,
    /// [`Workload::state_digest`] when planned: what the approval is bound to besides the
    /// target.
    pub state_digest: String,
    pub target: Revision,
    /// SHA-256 of the target template: what the approval is bound to.
    pub template_digest: String,
    pub images_before: Vec<ContainerImage>,
    pub images_after: Vec<ContainerImage>,
    /// From the live template to the target's.
    pub diff: TemplateDiff,
    pub warnings: Vec<String>,
    /// The workload's annotations when planned (a Deployment undo rewrites them).
    workload_annotations: BTreeMap<String, String>,
}

/// Plans the undo of `workload` to revision `to_revision`, checking what kubectl checks in
/// kubectl's order: the revision exists, the Deployment is not paused, the template differs.
pub fn plan(
    workload: &Workload,
    set: &RevisionSet,
    to_revision: i64,
    show_env_values: bool,
) -> Result<RollbackPlan, PlanRefusal> {
    if to_revision < 1 {
        return Err(PlanRefusal::InvalidRevision(to_revision));
    }
    let target = set.find(to_revision)?;
    if workload.paused() {
        return Err(PlanRefusal::Paused);
    }
    let target_digest = target.template_digest();
    if target_digest == template::digest(workload.template()) {
        return Err(PlanRefusal::AlreadyMatches {
            revision: to_revision,
        });
    }
    let live_revision = set.live(workload).map(|revision| revision.number);
    let live_label = match live_revision {
        Some(number) => format!("live template (revision {number})"),
        None => "live template".to_string(),
    };
    Ok(RollbackPlan {
        kind: workload.kind,
        namespace: workload.namespace().to_string(),
        name: workload.name().to_string(),
        uid: workload.uid().to_string(),
        resource_version: workload.resource_version().to_string(),
        generation: workload.generation(),
        progressing_updated: status::progressing_updated(workload),
        live_revision,
        highest_revision: set.highest().unwrap_or(0),
        state_digest: workload.state_digest(),
        template_digest: target_digest,
        images_before: template::images(workload.template()),
        images_after: target.images.clone(),
        diff: diff::diff(
            &live_label,
            workload.template(),
            &format!("revision {to_revision}"),
            &target.template(),
            show_env_values,
        ),
        warnings: warnings::for_workload(workload),
        workload_annotations: workload.annotations().clone(),
        target: target.clone(),
    })
}

impl RollbackPlan {
    pub fn target_revision(&self) -> i64 {
        self.target.number
    }

    /// kubectl's undo patch, plus the resourceVersion precondition and the [`Stamp`] that
    /// records who approved the rollback and which call wrote it. A dry run sends the same
    /// patch, with a placeholder for the approver.
    pub fn patch(&self, stamp: &Stamp<'_>) -> RollbackPatch {
        self.patch_with(&self.resource_version, stamp)
    }

    fn patch_with(&self, resource_version: &str, stamp: &Stamp<'_>) -> RollbackPatch {
        match self.kind.revision_store() {
            RevisionStore::ReplicaSets => {
                RollbackPatch::Json(self.deployment_patch(resource_version, stamp))
            }
            RevisionStore::ControllerRevisions => RollbackPatch::StrategicMerge(
                self.controller_revision_patch(resource_version, stamp),
            ),
        }
    }

    /// SHA-256 of the patch this plan writes for an approval given with `reason`, with
    /// placeholders for the approver's name and the call id (not known when the approval is
    /// bound) and for the resourceVersion precondition (status updates move it; the workload's
    /// state is bound by its own digest). An approval binds it, so anything the write would
    /// send beyond what was shown (the target's annotations, a ControllerRevision's data)
    /// cannot change unnoticed.
    pub fn patch_digest(&self, reason: Option<&str>) -> String {
        let change_cause = change_cause(self.target_revision(), BOUND_APPROVER, reason);
        let stamp = Stamp {
            change_cause: &change_cause,
            call_id: BOUND_CALL_ID,
        };
        self.patch_with(BOUND_RESOURCE_VERSION, &stamp).sha256()
    }

    /// The workload's annotations after the write: for a Deployment kubectl's replacement
    /// ([`RollbackPlan::deployment_annotations`]); for the others, whose patch merges, today's
    /// plus the stamp.
    fn annotations_after(&self, stamp: &Stamp<'_>) -> BTreeMap<String, String> {
        match self.kind.revision_store() {
            RevisionStore::ReplicaSets => self.deployment_annotations(stamp),
            RevisionStore::ControllerRevisions => {
                let mut annotations = self.workload_annotations.clone();
                annotations.extend(stamp_annotations(stamp));
                annotations
            }
        }
    }

    /// How the write changes the workload's own annotations, one change per key, manifests
    /// held in them redacted unless values are shown.
    pub fn annotation_changes(&self, stamp: &Stamp<'_>, show_values: bool) -> Vec<Change> {
        diff::annotation_changes(
            &json!(self.workload_annotations),
            &json!(self.annotations_after(stamp)),
            show_values,
        )
    }

    /// Annotations as kubectl computes them: the Deployment's values for the skip list, then
    /// every other ReplicaSet annotation; then the stamp.
    pub fn deployment_annotations(&self, stamp: &Stamp<'_>) -> BTreeMap<String, String> {
        let mut annotations: BTreeMap<String, String> = ANNOTATIONS_TO_SKIP
            .iter()
            .filter_map(|key| {
                Some((
                    key.to_string(),
                    self.workload_annotations.get(*key)?.clone(),
                ))
            })
            .collect();
        annotations.extend(
            self.target
                .annotations
                .iter()
                .filter(|(key, _)| !ANNOTATIONS_TO_SKIP.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone())),
        );
        annotations.extend(stamp_annotations(stamp));
        annotations
    }

    fn deployment_patch(&self, resource_version: &str, stamp: &Stamp<'_>) -> json_patch::Patch {
        let replace = |path: &'static str, value: Value| {
            PatchOperation::Replace(ReplaceOperation {
                path: Pointer::from_static(path).to_buf(),
                value,
            })
        };
        let annotations_path = Pointer::from_static("/metadata/annotations").to_buf();
        let annotations = json!(self.deployment_annotations(stamp));
        // `replace` needs the member to exist; kubectl assumes it does (the controller always
        // sets the revision annotation), `add` covers a workload that has none yet.
        let annotations = if self.workload_annotations.is_empty() {
            PatchOperation::Add(AddOperation {
                path: annotations_path,
                value: annotations,
            })
        } else {
            PatchOperation::Replace(ReplaceOperation {
                path: annotations_path,
                value: annotations,
            })
        };
        json_patch::Patch(vec![
            replace("/metadata/resourceVersion", json!(resource_version)),
            replace("/spec/template", self.target.template()),
            annotations,
        ])
    }

    /// The ControllerRevision's data as kubectl applies it, which is only the template
    /// (`crate::rollout::revisions` refuses any other data), plus the precondition and the
    /// stamp.
    fn controller_revision_patch(&self, resource_version: &str, stamp: &Stamp<'_>) -> Value {
        let mut body = self.target.data().unwrap_or_else(|| json!({}));
        if let Some(object) = body.as_object_mut() {
            object.insert(
                "metadata".into(),
                json!({"resourceVersion": resource_version, "annotations": stamp_annotations(stamp)}),
            );
        }
        body
    }
}

/// The annotations a [`Stamp`] writes.
fn stamp_annotations(stamp: &Stamp<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CHANGE_CAUSE.to_string(), stamp.change_cause.to_string()),
        (CALL_ID.to_string(), stamp.call_id.to_string()),
    ])
}

/// What a rollback records in `kubernetes.io/change-cause`, so `kubectl rollout history`
/// shows who did it: `rollback to revision 3 approved by alice via k8s-rollout-mcp: <reason>`.
/// The agent's reason has its control characters escaped ([`clip::escape`]): kubectl prints
/// the annotation as it is, so a newline or a terminal escape in it could forge a row.
pub fn change_cause(target: i64, approved_by: &str, reason: Option<&str>) -> String {
    let mut cause = format!("rollback to revision {target} {approved_by} via k8s-rollout-mcp");
    if let Some(reason) = reason.map(str::trim).filter(|reason| !reason.is_empty()) {
        cause.push_str(": ");
        cause.push_str(&clip::escape(reason));
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::revisions::tests::{deployment, replica_set};
    use crate::rollout::workload::tests::workload;

    fn stamp(change_cause: &str) -> Stamp<'_> {
        Stamp {
            change_cause,
            call_id: "call-1",
        }
    }

    fn history() -> RevisionSet {
        let mut second = replica_set(
            "web-bbb",
            "uid-web",
            Some("2"),
            "app:2",
            "2026-01-02T00:00:00Z",
        );
        let annotations = &mut second.metadata.annotations;
        annotations.insert(
            "deployment.kubernetes.io/desired-replicas".into(),
            "2".into(),
        );
        annotations.insert("team".into(), "payments".into());
        RevisionSet::owned_by(
            &deployment("app:3"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("1"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                second,
                replica_set(
                    "web-ccc",
                    "uid-web",
                    Some("3"),
                    "app:3",
                    "2026-01-03T00:00:00Z",
                ),
            ],
        )
    }

    #[test]
    fn the_change_cause_cannot_forge_a_row_of_kubectls_history() {
        assert_eq!(
            change_cause(
                3,
                "approved by alice",
                Some(" errors\n4 web:evil\u{1b}[2J ")
            ),
            "rollback to revision 3 approved by alice via k8s-rollout-mcp: errors\\n4 web:evil\\u{1b}[2J"
        );
    }

    #[test]
    fn a_deployment_patch_is_kubectls_with_a_precondition_first() {
        let plan = plan(&deployment("app:3"), &history(), 2, false).unwrap();
        assert_eq!(plan.live_revision, Some(3));
        assert_eq!(plan.resource_version, "42");
        let RollbackPatch::Json(patch) = plan.patch(&stamp("why")) else {
            panic!("deployments use JSON Patch")
        };
        let body = serde_json::to_value(patch).unwrap();
        assert_eq!(
            body[0],
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "42"})
        );
        assert_eq!(body[1]["path"], "/spec/template");
        assert_eq!(
            body[1]["value"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        assert_eq!(body[1]["value"]["spec"]["containers"][0]["image"], "app:2");
        assert_eq!(
            body[2]["op"], "add",
            "the test deployment has no annotations"
        );
        assert_eq!(
            body[2]["value"],
            json!({"kubernetes.io/change-cause": "why", CALL_ID: "call-1", "team": "payments"}),
            "skip-listed RS annotations stay off, the rest are copied, the stamp is ours"
        );
    }

    #[test]
    fn the_change_cause_records_the_approval() {
        let cause = change_cause(1, "approved by alice", Some(" checkout errors "));
        assert_eq!(
            cause,
            "rollback to revision 1 approved by alice via k8s-rollout-mcp: checkout errors"
        );
        let plan = plan(&deployment("app:3"), &history(), 1, false).unwrap();
        assert_eq!(
            plan.deployment_annotations(&stamp(&cause))[CHANGE_CAUSE],
            cause
        );
        assert_eq!(plan.highest_revision, 3);
    }

    #[test]
    fn refusals_follow_kubectls_order_and_words() {
        assert_eq!(
            plan(&deployment("app:3"), &history(), 7, false)
                .unwrap_err()
                .to_string(),
            "unable to find specified revision 7 in history"
        );
        assert_eq!(
            plan(&deployment("app:3"), &history(), 3, false).unwrap_err(),
            PlanRefusal::AlreadyMatches { revision: 3 }
        );
        let mut paused = deployment("app:3");
        paused.object.data["spec"]["paused"] = json!(true);
        assert_eq!(
            plan(&paused, &history(), 2, false).unwrap_err().to_string(),
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
        );
        assert_eq!(
            plan(&deployment("app:3"), &history(), 0, false).unwrap_err(),
            PlanRefusal::InvalidRevision(0)
        );
    }

    #[test]
    fn a_controller_revision_patch_is_its_data_plus_the_precondition() {
        let daemon_set = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "agent", "namespace": "infra", "uid": "uid-ds", "resourceVersion": "7"},
                   "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}}}),
        );
        let old: crate::rollout::revisions::RevisionObject = serde_json::from_value(json!({
            "metadata": {"name": "agent-1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "uid-ds", "controller": true}]},
            "revision": 1,
            "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "a", "image": "a:1"}]}}}}
        }))
        .unwrap();
        let set = RevisionSet::owned_by(&daemon_set, vec![old]);
        let plan = plan(&daemon_set, &set, 1, false).unwrap();
        let RollbackPatch::StrategicMerge(body) = plan.patch(&stamp("why")) else {
            panic!("strategic merge expected")
        };
        assert_eq!(body["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            body["metadata"],
            json!({"resourceVersion": "7", "annotations": {CHANGE_CAUSE: "why", CALL_ID: "call-1"}})
        );
        assert_eq!(plan.images_before[0].image, "a:2");
        assert_eq!(plan.images_after[0].image, "a:1");
    }

    /// A history whose revision 2 carries an env value and whose Deployment was applied with
    /// kubectl (a whole manifest, env values included, in an annotation).
    fn with_values() -> (Workload, RevisionSet) {
        let mut live = deployment("app:3");
        live.object.metadata.annotations = Some(BTreeMap::from([
            (LAST_APPLIED.to_string(), r#"{"spec":{"template":{"spec":{"containers":[{"env":[{"name":"TOKEN","value":"s3cret"}]}]}}}}"#.to_string()),
            (REVISION.to_string(), "3".to_string()),
            ("owner".to_string(), "team-a".to_string()),
        ]));
        let mut set = history();
        let second = set.revisions.iter_mut().find(|r| r.number == 2).unwrap();
        let mut template = second.template();
        template["spec"]["containers"][0]["env"] =
            json!([{"name": "LOG_LEVEL", "value": "debug-s3cret"}]);
        *second = second.with_template(template);
        (live, set)
    }

    #[test]
    fn the_shown_patch_redacts_env_values_and_manifests_and_its_digest_is_of_the_exact_body() {
        let (live, set) = with_values();
        let plan = plan(&live, &set, 2, false).unwrap();
        let patch = plan.patch(&stamp("why"));
        let exact = String::from_utf8(patch.bytes()).unwrap();
        assert!(exact.contains("debug-s3cret") && exact.contains(r#"\"value\":\"s3cret\""#));
        assert_eq!(patch.sha256(), sha256_hex(exact.as_bytes()));
        let shown = patch.shown(false).to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains(template::REDACTED) && shown.contains("<redacted manifest"));
        assert_eq!(
            patch.shown(true).to_string(),
            serde_json::from_str::<Value>(&exact).unwrap().to_string()
        );
    }

    #[test]
    fn a_deployment_undo_lists_the_annotations_it_replaces() {
        let (live, set) = with_values();
        let plan = plan(&live, &set, 2, false).unwrap();
        let changes: Vec<String> = plan
            .annotation_changes(&stamp("why"), false)
            .iter()
            .map(Change::describe)
            .collect();
        assert_eq!(
            changes,
            vec![
                format!("annotation {CALL_ID}: added call-1"),
                "annotation kubernetes.io/change-cause: added why".to_string(),
                "annotation owner: removed team-a".to_string(),
                "annotation team: added payments".to_string(),
            ],
            "kept: last-applied and the revision (skip list); the manifest never shown"
        );
    }

    #[test]
    fn the_bound_patch_digest_moves_with_what_is_written_not_with_the_resource_version() {
        let (live, set) = with_values();
        let planned = plan(&live, &set, 2, false).unwrap();
        let digest = planned.patch_digest(Some("errors"));
        let mut status_moved = planned.clone();
        status_moved.resource_version = "99".into();
        assert_eq!(status_moved.patch_digest(Some("errors")), digest);
        assert_ne!(planned.patch_digest(Some("other")), digest);
        let mut relabelled = planned.clone();
        relabelled
            .target
            .annotations
            .insert("team".into(), "fraud".into());
        assert_ne!(relabelled.patch_digest(Some("errors")), digest);
    }
}
