//! ControllerRevisions as the DaemonSet and StatefulSet controllers keep them
//! (`pkg/controller/history` and each controller's `getPatch`): the revision's `data` is
//! `{"spec":{"template":{...,"$patch":"replace"}}}` encoded like Go's `json.Marshal` of a generic
//! map, two revisions are the same template when those bytes are equal, and the template a
//! revision restores is the one inside its data.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::json;
use crate::resources::ResourceKind;

use super::{by_creation, controller_ref};

/// `controller-revision-hash`: on pods of both kinds, and on a DaemonSet's ControllerRevisions.
pub const HASH_LABEL: &str = "controller-revision-hash";
/// `history.ControllerRevisionHashLabel`: on a StatefulSet's ControllerRevisions, which
/// `history.NewControllerRevision` makes.
pub const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// `getPatch(workload)`: the revision data for a workload's current template.
pub fn revision_data(workload: &Value) -> Value {
    let mut template = json::at(workload, &["spec", "template"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    json::ensure_object(&mut template).insert("$patch".into(), json!("replace"));
    json!({"spec": {"template": template}})
}

/// Whether `revision` holds exactly the workload's current template (`Match` / byte equality).
pub fn matches(workload: &Value, revision: &Value) -> bool {
    data_bytes(revision) == json::to_vec(&revision_data(workload))
}

/// The bytes of a revision's `data`, as served.
pub fn data_bytes(revision: &Value) -> Vec<u8> {
    json::to_vec(revision.get("data").unwrap_or(&Value::Null))
}

/// The revision number.
pub fn number(revision: &Value) -> i64 {
    json::i64_at(revision, &["revision"]).unwrap_or(0)
}

/// `history.SortControllerRevisions`: by revision, then age, then name.
pub fn by_revision(a: &Value, b: &Value) -> Ordering {
    number(a).cmp(&number(b)).then_with(|| by_creation(a, b))
}

/// A new ControllerRevision owned by `owner`.
pub fn new_revision(
    owner_kind: ResourceKind,
    owner: &Value,
    name: &str,
    hash: &str,
    data: Value,
    revision: i64,
) -> Value {
    let mut labels = json::string_map(owner, &["spec", "template", "metadata", "labels"]);
    let hash_label = match owner_kind {
        ResourceKind::StatefulSet => REVISION_HASH_LABEL,
        _ => HASH_LABEL,
    };
    labels.insert(hash_label.into(), hash.into());
    let mut meta = json!({
        "name": name,
        "namespace": json::str_at(owner, &["metadata", "namespace"]),
        "labels": labels,
        "ownerReferences": [controller_ref(owner_kind, owner)],
    });
    if let Some(a) = json::at(owner, &["metadata", "annotations"]) {
        meta["annotations"] = a.clone();
    }
    json!({"metadata": meta, "data": data, "revision": revision})
}

/// The pod template a revision restores (`ApplyRevision` of a `$patch: replace` template).
pub fn template_of(revision: &Value) -> Value {
    let mut template = json::at(revision, &["data", "spec", "template"])
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(m) = template.as_object_mut() {
        m.remove("$patch");
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_data_is_the_replace_patch_in_go_byte_order() {
        let ds = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x&y"}]},
            "metadata": {"creationTimestamp": null, "labels": {"app": "a"}}}}});
        let bytes = String::from_utf8(json::to_vec(&revision_data(&ds))).unwrap();
        assert_eq!(
            bytes,
            r#"{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,"labels":{"app":"a"}},"spec":{"containers":[{"image":"x\u0026y","name":"a"}]}}}}"#
        );
        let cr = json!({"data": revision_data(&ds)});
        assert!(matches(&ds, &cr));
        assert_eq!(template_of(&cr), ds["spec"]["template"]);
    }
}
