//! The three patch types kubectl and kube-rs send: JSON patch (RFC 6902, including `test`),
//! JSON merge patch (RFC 7386) and the strategic merge patch subset kubectl produces
//! (`$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<list>`, lists merged by their merge key, `null` deletes). Merge keys
//! come from the Go struct tags of the pod template types, keyed by field name, which is
//! unambiguous within the resources the sim serves.

use serde_json::{Map, Value};

use crate::errors::ApiError;

/// A patch content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

impl PatchType {
    /// The patch type of a `Content-Type` header, ignoring parameters.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            _ => None,
        }
    }
}

/// Applies `patch` of type `kind` to `original`.
pub fn apply(kind: PatchType, original: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let patch_value: Value = serde_json::from_slice(patch)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    match kind {
        PatchType::Json => json_patch(original, &patch_value),
        PatchType::Merge => {
            if !patch_value.is_object() {
                return Err(ApiError::BadRequest(
                    "json: cannot unmarshal into Go value of type map[string]interface {}".into(),
                ));
            }
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &patch_value);
            Ok(doc)
        }
        PatchType::Strategic => {
            let Some(patch_map) = patch_value.as_object() else {
                return Err(ApiError::BadRequest(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    type_name(&patch_value)
                )));
            };
            let mut doc = original.clone();
            let Some(doc_map) = doc.as_object_mut() else {
                return Err(ApiError::BadRequest(
                    "the object is not a JSON object".into(),
                ));
            };
            merge_map(doc_map, patch_map).map_err(ApiError::BadRequest)?;
            Ok(doc)
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

fn json_patch(original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| {
        let path = e.path.to_string();
        let op = ops.0.get(e.operation).map(op_name).unwrap_or("patch");
        let msg = match e.kind {
            json_patch::PatchErrorKind::TestFailed => {
                format!("testing value {path} failed: test failed")
            }
            _ => format!(
                "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
            ),
        };
        ApiError::PatchRejected(msg)
    })?;
    Ok(doc)
}

fn op_name(op: &json_patch::PatchOperation) -> &'static str {
    match op {
        json_patch::PatchOperation::Add(_) => "add",
        json_patch::PatchOperation::Remove(_) => "remove",
        json_patch::PatchOperation::Replace(_) => "replace",
        json_patch::PatchOperation::Move(_) => "move",
        json_patch::PatchOperation::Copy(_) => "copy",
        json_patch::PatchOperation::Test(_) => "test",
    }
}

/// The merge key of a list field (`patchMergeKey` in the Go types).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

/// Lists of scalars with `patchStrategy:"merge"`.
fn is_merged_scalar_list(field: &str) -> bool {
    field == "finalizers"
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch map onto `original` in place.
pub fn merge_map(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *original = strip_directives_map(patch);
            return Ok(());
        }
        Some("delete") => {
            original.clear();
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(format!(
                "Unknown patch type: {other} in map: {}",
                Value::Object(patch.clone())
            ));
        }
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                original.remove(key);
            }
            Value::Object(pm) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    original.remove(key);
                    continue;
                }
                match original.get_mut(key) {
                    Some(Value::Object(om)) => merge_map(om, pm)?,
                    _ => {
                        original.insert(key.clone(), Value::Object(strip_directives_map(pm)));
                    }
                }
            }
            Value::Array(items) => merge_list_field(original, key, items)?,
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM) {
            let doomed = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|v| !doomed.contains(v));
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ORDER) {
            let order = value
                .as_array()
                .ok_or_else(|| format!("{key} must be a list"))?;
            if let Some(Value::Array(list)) = original.get_mut(field) {
                apply_element_order(list, order, merge_key(field));
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or("$retainKeys must be a list")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list_field(
    original: &mut Map<String, Value>,
    key: &str,
    items: &[Value],
) -> Result<(), String> {
    if let Some(merge_key) = merge_key(key) {
        let mut list = match original.remove(key) {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        merge_keyed_list(&mut list, items, merge_key)?;
        original.insert(key.to_string(), Value::Array(list));
    } else if is_merged_scalar_list(key) {
        let list = original
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            for item in items {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        } else {
            *list = Value::Array(items.to_vec());
        }
    } else {
        let replaced = items.iter().map(strip_directives).collect();
        original.insert(key.to_string(), Value::Array(replaced));
    }
    Ok(())
}

fn merge_keyed_list(list: &mut Vec<Value>, patch: &[Value], key: &str) -> Result<(), String> {
    let is_replace = |v: &Value| v.get("$patch").and_then(Value::as_str) == Some("replace");
    if patch.iter().any(is_replace) {
        *list = patch
            .iter()
            .filter(|v| !is_replace(v))
            .map(strip_directives)
            .collect();
        return Ok(());
    }
    for item in patch {
        let Some(obj) = item.as_object() else {
            return Err(format!(
                "expected a map in a list merged by {key:?}, got {item}"
            ));
        };
        let Some(id) = obj.get(key) else {
            return Err(format!(
                "map: {item} does not contain declared merge key: {key}"
            ));
        };
        if obj.get("$patch").and_then(Value::as_str) == Some("delete") {
            list.retain(|o| o.get(key) != Some(id));
            continue;
        }
        match list.iter_mut().find(|o| o.get(key) == Some(id)) {
            Some(Value::Object(existing)) => merge_map(existing, obj)?,
            Some(other) => *other = strip_directives(item),
            None => list.push(strip_directives(item)),
        }
    }
    Ok(())
}

/// Reorders `list` so the elements named in `order` come in that order; elements the order does
/// not name stay right after the element that preceded them.
fn apply_element_order(list: &mut [Value], order: &[Value], key: Option<&str>) {
    let identity = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&identity).collect();
    let mut anchor: isize = -1;
    let mut sub = 0usize;
    let mut ranks: Vec<(isize, usize)> = Vec::with_capacity(list.len());
    for item in list.iter() {
        match wanted.iter().position(|w| *w == identity(item)) {
            Some(pos) => {
                anchor = pos as isize;
                sub = 0;
                ranks.push((anchor, 0));
            }
            None => {
                sub += 1;
                ranks.push((anchor, sub));
            }
        }
    }
    let mut indexed: Vec<(usize, (isize, usize))> = ranks.into_iter().enumerate().collect();
    indexed.sort_by_key(|(_, rank)| *rank);
    let reordered: Vec<Value> = indexed.iter().map(|(i, _)| list[*i].clone()).collect();
    list.clone_from_slice(&reordered);
}

/// A value taken from a patch as-is: directives and nulls dropped, as Go's decoder drops unknown
/// fields and the merge drops unmatched nulls.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives_map(m)),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn strip_directives_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(original: Value, patch: Value) -> Value {
        apply(
            PatchType::Strategic,
            &original,
            patch.to_string().as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn kubectl_set_image_merges_containers_by_name() {
        let original = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"image": "a:2", "name": "app"}]}}}});
        let out = smp(original, patch);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
            {"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}])
        );
    }

    #[test]
    fn env_items_merge_delete_and_order() {
        let original = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]});
        let patch = json!({
            "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "D"}],
            "env": [{"name": "B", "$patch": "delete"}, {"name": "A", "value": "9"}, {"name": "D", "value": "4"}]});
        assert_eq!(
            smp(original, patch)["env"],
            json!([
            {"name": "C", "value": "3"}, {"name": "A", "value": "9"}, {"name": "D", "value": "4"}])
        );
    }

    #[test]
    fn null_deletes_and_replace_directive_replaces() {
        let original = json!({"spec": {"paused": true, "template": {"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}}}});
        let out = smp(original.clone(), json!({"spec": {"paused": null}}));
        assert!(out["spec"].get("paused").is_none());
        let out = smp(
            original,
            json!({"spec": {"template": {"$patch": "replace", "spec": {"y": 2}}}}),
        );
        assert_eq!(out["spec"]["template"], json!({"spec": {"y": 2}}));
    }

    #[test]
    fn retain_keys_clears_the_other_strategy() {
        let original =
            json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        let patch = json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}});
        assert_eq!(
            smp(original, patch)["strategy"],
            json!({"type": "Recreate"})
        );
    }

    #[test]
    fn lists_without_merge_keys_are_replaced() {
        let original = json!({"args": ["a", "b"], "finalizers": ["x"]});
        let out = smp(original, json!({"args": ["c"], "finalizers": ["y"]}));
        assert_eq!(out, json!({"args": ["c"], "finalizers": ["x", "y"]}));
    }

    #[test]
    fn malformed_patches_are_bad_requests() {
        let doc = json!({"a": 1});
        for (kind, body) in [
            (PatchType::Strategic, "{"),
            (PatchType::Strategic, "[1]"),
            (PatchType::Merge, "nope"),
            (PatchType::Json, "{\"op\":\"add\"}"),
        ] {
            assert_eq!(
                apply(kind, &doc, body.as_bytes()).unwrap_err().code(),
                400,
                "{body}"
            );
        }
        let missing_key = json!({"containers": [{"image": "x"}]});
        assert_eq!(
            apply(
                PatchType::Strategic,
                &doc,
                missing_key.to_string().as_bytes()
            )
            .unwrap_err()
            .code(),
            400
        );
    }

    #[test]
    fn json_patch_test_failure_is_unprocessable() {
        let doc = json!({"metadata": {"resourceVersion": "5"}});
        let patch = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"},
                           {"op": "replace", "path": "/metadata/resourceVersion", "value": "6"}]);
        let err = apply(PatchType::Json, &doc, patch.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.status()["details"]["causes"][0]["message"],
            "testing value /metadata/resourceVersion failed: test failed"
        );
        let ok = json!([{"op": "replace", "path": "/metadata/resourceVersion", "value": "6"}]);
        assert_eq!(
            apply(PatchType::Json, &doc, ok.to_string().as_bytes()).unwrap()["metadata"]["resourceVersion"],
            "6"
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let doc = json!({"metadata": {"annotations": {"a": "1", "b": "2"}}});
        let out = apply(
            PatchType::Merge,
            &doc,
            br#"{"metadata":{"annotations":{"a":null,"c":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["annotations"], json!({"b": "2", "c": "3"}));
    }
}
