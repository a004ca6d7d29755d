//! Pod templates: the semantic comparison kubectl relies on, the facts people read (images),
//! a digest to bind an approval to, and redaction of env values and of manifests held in
//! annotations.
//!
//! Templates stay raw JSON so nothing a newer cluster added is lost. Comparison follows
//! apimachinery's `Semantic.DeepEqual`, which treats nil and empty maps and lists alike, and
//! ignores the `pod-template-hash` label the Deployment controller adds to ReplicaSets.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::workload::LAST_APPLIED;

/// The label the Deployment controller adds to each ReplicaSet's template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// What replaces an env value unless the operator opted in to showing values.
pub const REDACTED: &str = "<redacted>";

/// The template with the `pod-template-hash` label removed, as kubectl restores it.
pub fn without_hash_label(mut template: Value) -> Value {
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// The template reduced to what semantic equality looks at: no hash label, no `$patch`
/// directive, no nulls, no empty lists, and no empty maps where the Go type is a map.
pub fn comparable(template: &Value) -> Value {
    let mut template = without_hash_label(template.clone());
    if let Some(object) = template.as_object_mut() {
        object.remove("$patch");
    }
    prune(template, false).unwrap_or(Value::Object(Map::new()))
}

/// A stable SHA-256 of the comparable template: templates are equal the way kubectl's
/// `EqualIgnoreHash` decides it exactly when their digests are.
pub fn digest(template: &Value) -> String {
    sha256_hex(comparable(template).to_string().as_bytes())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Pod template fields where an empty object equals an absent one under `Semantic.DeepEqual`:
/// maps, and structs held by value (`metadata`, `spec`, `resources`). Every other object is a
/// struct behind a pointer, where an empty one (`securityContext: {}`, `emptyDir: {}`) differs
/// from none.
const EMPTY_IS_ABSENT: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "limits",
    "requests",
    "overhead",
    "volumeAttributes",
    "metadata",
    "spec",
    "resources",
];

/// Drops what `Semantic.DeepEqual` cannot tell from absent: nulls, empty lists, and empty maps.
fn prune(value: Value, is_map: bool) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let pruned: Map<String, Value> = map
                .into_iter()
                .filter_map(|(key, value)| {
                    let child_is_map = EMPTY_IS_ABSENT.contains(&key.as_str());
                    prune(value, child_is_map).map(|value| (key, value))
                })
                .collect();
            (!(is_map && pruned.is_empty())).then_some(Value::Object(pruned))
        }
        Value::Array(items) => {
            let pruned: Vec<Value> = items
                .into_iter()
                .map(|item| prune(item, false).unwrap_or(Value::Null))
                .collect();
            (!pruned.is_empty()).then_some(Value::Array(pruned))
        }
        other => Some(other),
    }
}

/// One container's image, init containers included.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ContainerImage {
    pub container: String,
    pub image: String,
    /// True for an init container.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schemars(default)]
    pub init: bool,
}

/// The two container lists of a pod spec, init containers first as the kubelet runs them.
pub const CONTAINER_LISTS: [(&str, bool); 2] = [("initContainers", true), ("containers", false)];

/// Every container's image, init containers first.
pub fn images(template: &Value) -> Vec<ContainerImage> {
    CONTAINER_LISTS
        .iter()
        .flat_map(|(list, init)| {
            containers(template, list).map(move |container| ContainerImage {
                container: container["name"].as_str().unwrap_or_default().to_string(),
                image: container["image"].as_str().unwrap_or_default().to_string(),
                init: *init,
            })
        })
        .collect()
}

/// The ConfigMaps and Secrets a template reads (`configmap/NAME`, `secret/NAME`): from env
/// (`valueFrom`, `envFrom`) and volumes (including projected ones), sorted, each once. An undo
/// restores the references, not the objects' contents.
pub fn config_references(template: &Value) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut add = |kind: &str, name: &Value| {
        if let Some(name) = name.as_str() {
            names.insert(format!("{kind}/{name}"));
        }
    };
    for (list, _) in CONTAINER_LISTS {
        for container in containers(template, list) {
            for env in container["env"].as_array().into_iter().flatten() {
                add("configmap", &env["valueFrom"]["configMapKeyRef"]["name"]);
                add("secret", &env["valueFrom"]["secretKeyRef"]["name"]);
            }
            for source in container["envFrom"].as_array().into_iter().flatten() {
                add("configmap", &source["configMapRef"]["name"]);
                add("secret", &source["secretRef"]["name"]);
            }
        }
    }
    for volume in template["spec"]["volumes"].as_array().into_iter().flatten() {
        add("configmap", &volume["configMap"]["name"]);
        add("secret", &volume["secret"]["secretName"]);
        for source in volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            add("configmap", &source["configMap"]["name"]);
            add("secret", &source["secret"]["name"]);
        }
    }
    names.into_iter().collect()
}

/// The containers of one list (`containers` or `initContainers`) of a template.
pub fn containers<'a>(template: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    template["spec"][list].as_array().into_iter().flatten()
}

/// The template as shown to the agent or the approver unless the operator opted in to values
/// (`--show-env-values`): every literal env value replaced by [`REDACTED`], and every
/// manifest held in a template annotation ([`redact_annotations`]). References
/// (`valueFrom`: secretKeyRef, configMapKeyRef, fieldRef...) are kept: they name where a
/// value comes from, not the value.
pub fn redact(template: &Value) -> Value {
    let mut template = template.clone();
    for (list, _) in CONTAINER_LISTS {
        let Some(containers) = template
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for env in containers
            .iter_mut()
            .filter_map(|container| container.get_mut("env").and_then(Value::as_array_mut))
        {
            for variable in env.iter_mut().filter_map(Value::as_object_mut) {
                if variable.contains_key("value") {
                    variable.insert("value".into(), Value::String(REDACTED.into()));
                }
            }
        }
    }
    if let Some(annotations) = template.pointer_mut("/metadata/annotations") {
        redact_annotations(annotations);
    }
    template
}

/// Whether an annotation holds a manifest, which can carry env values and whole specs:
/// kubectl's `last-applied-configuration`, or any value that is a JSON object or array or
/// names an `apiVersion` and a `kind` (a YAML manifest).
pub fn holds_manifest(key: &str, value: &str) -> bool {
    if key == LAST_APPLIED {
        return true;
    }
    let trimmed = value.trim_start();
    let json = (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
    json || (value.contains("apiVersion") && value.contains("kind"))
}

/// What is shown of an annotation's value when values are redacted: the value itself, or for
/// a manifest ([`holds_manifest`]) only its size.
pub fn shown_annotation(key: &str, value: &str) -> String {
    if holds_manifest(key, value) {
        format!("<redacted manifest, {} bytes>", value.len())
    } else {
        value.to_string()
    }
}

/// Replaces, in an object of annotations, every value that holds a manifest
/// ([`shown_annotation`]).
pub fn redact_annotations(annotations: &mut Value) {
    for (key, value) in annotations.as_object_mut().into_iter().flatten() {
        if let Value::String(text) = value
            && holds_manifest(key, text)
        {
            *text = shown_annotation(key, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_references_name_every_configmap_and_secret_once() {
        let template = serde_json::json!({"spec": {
            "containers": [{"name": "app",
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}},
                    {"name": "B", "value": "x"}],
                "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "db"}}]}],
            "initContainers": [{"name": "init", "env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "boot", "key": "k"}}}]}],
            "volumes": [{"name": "v", "configMap": {"name": "files"}}, {"name": "w", "secret": {"secretName": "tls"}},
                {"name": "p", "projected": {"sources": [{"configMap": {"name": "proj"}}, {"serviceAccountToken": {}}]}}]}});
        assert_eq!(
            config_references(&template),
            [
                "configmap/boot",
                "configmap/files",
                "configmap/proj",
                "configmap/settings",
                "secret/db",
                "secret/tls"
            ]
        );
    }

    fn semantically_equal(a: &Value, b: &Value) -> bool {
        digest(a) == digest(b)
    }
    use serde_json::json;

    fn template(image: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web", "pod-template-hash": "5d8f7c9b6d"}, "creationTimestamp": null},
            "spec": {
                "initContainers": [{"name": "migrate", "image": "migrate:1"}],
                "containers": [{
                    "name": "app", "image": image, "args": [],
                    "env": [
                        {"name": "MODE", "value": "prod"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}
                    ]
                }]
            }
        })
    }

    #[test]
    fn equality_ignores_the_hash_label_nulls_and_empty_lists() {
        let mut other = template("app:1");
        other["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(POD_TEMPLATE_HASH);
        other["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp");
        other["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("args");
        assert!(semantically_equal(&template("app:1"), &other));
        assert_eq!(digest(&template("app:1")), digest(&other));
    }

    #[test]
    fn an_empty_struct_differs_from_none_but_an_empty_map_does_not() {
        let mut with_context = template("app:1");
        with_context["spec"]["containers"][0]["securityContext"] = json!({});
        assert!(!semantically_equal(&template("app:1"), &with_context));
        let mut with_selector = template("app:1");
        with_selector["spec"]["nodeSelector"] = json!({});
        assert!(semantically_equal(&template("app:1"), &with_selector));
    }

    #[test]
    fn equality_sees_an_image_change_and_a_patch_directive_is_ignored() {
        assert!(!semantically_equal(&template("app:1"), &template("app:2")));
        let mut with_directive = template("app:1");
        with_directive["$patch"] = json!("replace");
        assert!(semantically_equal(&template("app:1"), &with_directive));
    }

    #[test]
    fn lists_init_containers_first() {
        assert_eq!(
            images(&template("app:1")),
            vec![
                ContainerImage {
                    container: "migrate".into(),
                    image: "migrate:1".into(),
                    init: true
                },
                ContainerImage {
                    container: "app".into(),
                    image: "app:1".into(),
                    init: false
                },
            ]
        );
    }

    #[test]
    fn redaction_hides_values_and_keeps_references() {
        let redacted = redact(&template("app:1"));
        let env = &redacted["spec"]["containers"][0]["env"];
        assert_eq!(env[0], json!({"name": "MODE", "value": REDACTED}));
        assert_eq!(env[1]["valueFrom"]["secretKeyRef"]["name"], "api");
    }

    #[test]
    fn manifests_in_annotations_are_redacted_and_plain_values_kept() {
        let mut annotated = template("app:1");
        annotated["metadata"]["annotations"] = json!({
            LAST_APPLIED: "apiVersion: v1",
            "tool/config": "{\"env\": [{\"name\": \"TOKEN\", \"value\": \"s3cret\"}]}",
            "tool/yaml": "apiVersion: apps/v1\nkind: Deployment\nspec: {}",
            "team": "payments",
            "braces": "{not json",
        });
        let shown = redact(&annotated);
        let annotations = &shown["metadata"]["annotations"];
        assert_eq!(annotations[LAST_APPLIED], "<redacted manifest, 14 bytes>");
        assert!(
            annotations["tool/config"]
                .as_str()
                .unwrap()
                .starts_with("<redacted manifest")
        );
        assert!(
            annotations["tool/yaml"]
                .as_str()
                .unwrap()
                .starts_with("<redacted manifest")
        );
        assert_eq!(annotations["team"], "payments");
        assert_eq!(annotations["braces"], "{not json");
        assert!(!shown.to_string().contains("s3cret"));
    }

    #[test]
    fn restoring_removes_only_the_hash_label() {
        let restored = without_hash_label(template("app:1"));
        assert_eq!(restored["metadata"]["labels"], json!({"app": "web"}));
    }
}
