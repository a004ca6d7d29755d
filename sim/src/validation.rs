//! The validation a real API server applies to what the sim stores, limited to what rollouts
//! touch: names, labels, selectors matching templates, containers, replica counts, strategy
//! fences, and the immutable fields of apps/v1 (the selector; most of a StatefulSet's spec).
//! Failures become 422 `Invalid` with the apiserver's field paths and wording; values of the wrong
//! JSON type become 400, as a failed decode would.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::errors::{ApiError, FieldError, go_value};
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;

/// The most replicas one workload may ask for in the sim.
pub const MAX_SIMULATED_REPLICAS: i64 = 5_000;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without the length limit.
fn is_dns_label_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Problems with `s` as a DNS-1123 label (namespace names, container names).
pub fn dns_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_dns_label_shaped(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Problems with `s` as a DNS-1123 subdomain (most object names).
pub fn dns_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(is_dns_label_shaped) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Problems with `s` as a label or annotation key (`prefix/name`).
pub fn qualified_name_errors(s: &str) -> Vec<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let mut errs = Vec::new();
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            errs.extend(
                dns_subdomain_errors(p)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    } else if !is_qualified_name_part(name) {
        errs.push(QUALIFIED_NAME_MSG.to_string());
    }
    errs
}

/// Problems with `s` as a label value.
pub fn label_value_errors(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    if s.len() > 63 {
        return vec!["must be no more than 63 characters".to_string()];
    }
    if is_qualified_name_part(s) {
        Vec::new()
    } else {
        vec![LABEL_VALUE_MSG.to_string()]
    }
}

/// Rejects values whose JSON type a Go decoder would refuse, with the decoder's 400 message.
pub fn check_types(kind: ResourceKind, obj: &Value) -> Result<(), ApiError> {
    let bad = |path: &str, want: &str, got: &Value| {
        let got = match got {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        ApiError::BadRequest(format!(
            "{kind_name} in version \"v1\" cannot be handled as a {kind_name}: json: cannot unmarshal {got} into Go struct field {path} of type {want}",
            kind_name = kind.kind()
        ))
    };
    if !obj.is_object() {
        return Err(ApiError::BadRequest(format!(
            "{k} in version \"v1\" cannot be handled as a {k}: the body is not a JSON object",
            k = kind.kind()
        )));
    }
    for key in ["labels", "annotations"] {
        if let Some(v) = json::at(obj, &["metadata", key]).filter(|v| !v.is_null()) {
            let ok = v
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err(bad(
                    &format!("ObjectMeta.metadata.{key}"),
                    "map[string]string",
                    v,
                ));
            }
        }
    }
    for key in ["name", "namespace", "resourceVersion", "generateName"] {
        if let Some(v) =
            json::at(obj, &["metadata", key]).filter(|v| !v.is_null() && !v.is_string())
        {
            return Err(bad(&format!("ObjectMeta.metadata.{key}"), "string", v));
        }
    }
    let ints = [
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ];
    for key in ints {
        if let Some(v) = json::at(obj, &["spec", key]).filter(|v| !v.is_null() && !v.is_i64()) {
            return Err(bad(&format!("{}Spec.spec.{key}", kind.kind()), "int32", v));
        }
    }
    if let Some(v) = json::at(obj, &["spec", "paused"]).filter(|v| !v.is_null() && !v.is_boolean())
    {
        return Err(bad("DeploymentSpec.spec.paused", "bool", v));
    }
    if let Some(t) = json::at(obj, &["spec", "template"]).filter(|v| !v.is_null()) {
        if !t.is_object() {
            return Err(bad(
                &format!("{}Spec.spec.template", kind.kind()),
                "v1.PodTemplateSpec",
                t,
            ));
        }
        check_pod_spec_types(kind, t.get("spec"), "spec.template.spec")?;
    }
    if kind == ResourceKind::Pod {
        check_pod_spec_types(kind, obj.get("spec"), "spec")?;
    }
    Ok(())
}

fn check_pod_spec_types(
    kind: ResourceKind,
    spec: Option<&Value>,
    path: &str,
) -> Result<(), ApiError> {
    let Some(spec) = spec.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let decode_err = |field: &str| {
        ApiError::BadRequest(format!(
            "{k} in version \"v1\" cannot be handled as a {k}: json: cannot unmarshal into Go struct field {field}",
            k = kind.kind()
        ))
    };
    if !spec.is_object() {
        return Err(decode_err(path));
    }
    for list in ["containers", "initContainers"] {
        let Some(items) = spec.get(list).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(items) = items.as_array() else {
            return Err(decode_err(&format!(
                "PodSpec.{path}.{list} of type []v1.Container"
            )));
        };
        for c in items {
            let image_ok = c.get("image").is_none_or(|v| v.is_null() || v.is_string());
            let name_ok = c.get("name").is_none_or(|v| v.is_null() || v.is_string());
            if !c.is_object() || !image_ok || !name_ok {
                return Err(decode_err(&format!(
                    "PodSpec.{path}.{list} of type v1.Container"
                )));
            }
        }
    }
    Ok(())
}

/// Validates an object about to be stored; `old` is the stored version on update.
pub fn validate(kind: ResourceKind, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = json::str_at(obj, &["metadata", "name"]).to_string();
    let mut errs = Vec::new();
    validate_metadata(kind, obj, &mut errs);
    match kind {
        ResourceKind::Deployment
        | ResourceKind::ReplicaSet
        | ResourceKind::DaemonSet
        | ResourceKind::StatefulSet => validate_workload(kind, obj, old, &mut errs),
        ResourceKind::Pod => validate_pod_spec(obj.get("spec"), "spec", &mut errs),
        ResourceKind::ControllerRevision => {
            if json::at(obj, &["revision"])
                .and_then(Value::as_i64)
                .is_none_or(|r| r < 0)
            {
                let v = obj.get("revision").cloned().unwrap_or(Value::Null);
                errs.push(FieldError::invalid(
                    "revision",
                    go_value(&v),
                    "must be greater than or equal to 0",
                ));
            }
        }
        // What events.k8s.io checks on create is in `events.rs`; core v1 Events take anything.
        ResourceKind::Namespace
        | ResourceKind::Event
        | ResourceKind::EventsEvent
        | ResourceKind::SelfSubjectReview => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind,
            name,
            causes: errs,
        })
    }
}

fn validate_metadata(kind: ResourceKind, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = json::str_at(obj, &["metadata", "name"]);
    let name_errs = if kind == ResourceKind::Namespace {
        dns_label_errors(name)
    } else {
        dns_subdomain_errors(name)
    };
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for e in name_errs {
            errs.push(FieldError::invalid("metadata.name", format!("{name:?}"), e));
        }
    }
    for (k, v) in json::string_map(obj, &["metadata", "labels"]) {
        for e in qualified_name_errors(&k) {
            errs.push(FieldError::invalid("metadata.labels", format!("{k:?}"), e));
        }
        for e in label_value_errors(&v) {
            errs.push(FieldError::invalid("metadata.labels", format!("{v:?}"), e));
        }
    }
    for k in json::string_map(obj, &["metadata", "annotations"]).keys() {
        for e in qualified_name_errors(k) {
            errs.push(FieldError::invalid(
                "metadata.annotations",
                format!("{k:?}"),
                e,
            ));
        }
    }
}

fn validate_workload(
    kind: ResourceKind,
    obj: &Value,
    old: Option<&Value>,
    errs: &mut Vec<FieldError>,
) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match spec.get("replicas").and_then(Value::as_i64) {
        Some(r) if r < 0 => errs.push(FieldError::invalid(
            "spec.replicas",
            r.to_string(),
            "must be greater than or equal to 0",
        )),
        // Not an API server rule: every replica is a simulated pod, and a typo such as
        // 300000 should fail loudly rather than stall the sim.
        Some(r) if r > MAX_SIMULATED_REPLICAS => errs.push(FieldError::invalid(
            "spec.replicas",
            r.to_string(),
            format!("kube-sim simulates at most {MAX_SIMULATED_REPLICAS} replicas per workload"),
        )),
        _ => {}
    }
    for key in ["minReadySeconds", "revisionHistoryLimit"] {
        if let Some(v) = spec.get(key).and_then(Value::as_i64).filter(|v| *v < 0) {
            errs.push(FieldError::invalid(
                format!("spec.{key}"),
                v.to_string(),
                "must be greater than or equal to 0",
            ));
        }
    }
    let selector_value = spec.get("selector").filter(|s| !s.is_null());
    match selector_value {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => match Selector::from_label_selector(Some(sel)) {
            Err(e) => errs.push(FieldError::invalid(
                "spec.selector",
                crate::json::to_string(sel),
                e,
            )),
            Ok(s) if s.is_everything() => errs.push(FieldError::invalid(
                "spec.selector",
                label_selector_go(sel),
                format!("empty selector is invalid for {}", kind.singular()),
            )),
            Ok(s) => {
                let template_labels = json::at(&spec, &["template", "metadata", "labels"]);
                if !s.matches(template_labels.and_then(Value::as_object)) {
                    errs.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        go_value(template_labels.unwrap_or(&Value::Null)),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        },
    }
    if let Some(old) = old {
        let old_sel = json::at(old, &["spec", "selector"]);
        if kind != ResourceKind::ReplicaSet && old_sel != selector_value {
            errs.push(FieldError::invalid(
                "spec.selector",
                selector_value
                    .map(label_selector_go)
                    .unwrap_or_else(|| "nil".into()),
                "field is immutable",
            ));
        }
        if kind == ResourceKind::StatefulSet && statefulset_forbidden_change(old, obj) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    if json::at(&spec, &["template"]).is_none_or(Value::is_null) {
        errs.push(FieldError::required("spec.template", ""));
    } else {
        for (k, v) in json::string_map(&spec, &["template", "metadata", "labels"]) {
            for e in qualified_name_errors(&k)
                .into_iter()
                .chain(label_value_errors(&v))
            {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    format!("{v:?}"),
                    e,
                ));
            }
        }
        let pod_spec = json::at(&spec, &["template", "spec"]);
        validate_pod_spec(pod_spec, "spec.template.spec", errs);
        let restart = pod_spec
            .map(|s| json::str_at(s, &["restartPolicy"]))
            .unwrap_or("");
        if !restart.is_empty() && restart != "Always" {
            errs.push(FieldError::not_supported(
                "spec.template.spec.restartPolicy",
                format!("{restart:?}"),
                &["Always"],
            ));
        }
    }
    if kind == ResourceKind::Deployment {
        validate_deployment_strategy(&spec, errs);
    }
}

fn statefulset_forbidden_change(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
        if let Some(m) = spec.as_object_mut() {
            for k in [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ] {
                m.remove(k);
            }
        }
        spec
    };
    strip(old) != strip(new)
}

fn validate_deployment_strategy(spec: &Value, errs: &mut Vec<FieldError>) {
    let strategy_type = json::str_at(spec, &["strategy", "type"]);
    let rolling = json::at(spec, &["strategy", "rollingUpdate"]).filter(|v| !v.is_null());
    match strategy_type {
        "Recreate" if rolling.is_some() => errs.push(FieldError::forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        "Recreate" | "RollingUpdate" => {}
        other => errs.push(FieldError::not_supported(
            "spec.strategy.type",
            format!("{other:?}"),
            &["Recreate", "RollingUpdate"],
        )),
    }
    if let Some(r) = rolling {
        let is_zero = |v: Option<&Value>| match v {
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s == "0%" || s == "0",
            _ => false,
        };
        if is_zero(r.get("maxSurge")) && is_zero(r.get("maxUnavailable")) {
            errs.push(FieldError::invalid(
                "spec.strategy.rollingUpdate.maxUnavailable",
                json::to_string(r.get("maxUnavailable").unwrap_or(&Value::Null)),
                "may not be 0 when `maxSurge` is 0",
            ));
        }
    }
    let pds = spec.get("progressDeadlineSeconds").and_then(Value::as_i64);
    let mrs = spec
        .get("minReadySeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(p) = pds.filter(|p| *p <= mrs) {
        errs.push(FieldError::invalid(
            "spec.progressDeadlineSeconds",
            p.to_string(),
            "must be greater than minReadySeconds",
        ));
    }
}

fn validate_pod_spec(spec: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        let items = spec.and_then(|s| s.get(list)).and_then(Value::as_array);
        for (i, c) in items.into_iter().flatten().enumerate() {
            let field = format!("{path}.{list}[{i}]");
            let name = json::str_at(c, &["name"]);
            if name.is_empty() {
                errs.push(FieldError::required(format!("{field}.name"), ""));
            } else {
                for e in dns_label_errors(name) {
                    errs.push(FieldError::invalid(
                        format!("{field}.name"),
                        format!("{name:?}"),
                        e,
                    ));
                }
                if !names.insert(name.to_string()) {
                    errs.push(FieldError::duplicate(
                        format!("{field}.name"),
                        format!("{name:?}"),
                    ));
                }
            }
            if json::str_at(c, &["image"]).trim().is_empty() {
                errs.push(FieldError::required(format!("{field}.image"), ""));
            }
        }
    }
}

/// A LabelSelector rendered the way validation messages print it.
fn label_selector_go(sel: &Value) -> String {
    let labels = json::at(sel, &["matchLabels"])
        .map(go_value)
        .unwrap_or_else(|| "map[string]string(nil)".into());
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => {
            let parts: Vec<String> = items
                .iter()
                .map(|e| {
                    let values: Vec<String> = e
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(go_value).collect())
                        .unwrap_or_default();
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:[]string{{{}}}}}",
                        json::str_at(e, &["key"]),
                        json::str_at(e, &["operator"]),
                        values.join(", ")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".into(),
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(labels: Value, selector: Value) -> Value {
        json!({"metadata": {"name": "api"}, "spec": {"replicas": 1, "selector": selector,
            "strategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "x"}]}}}})
    }

    #[test]
    fn names_follow_rfc_1123() {
        assert!(dns_subdomain_errors("api-server.v2").is_empty());
        assert!(!dns_subdomain_errors("Bad_Name").is_empty());
        assert!(!dns_label_errors("a.b").is_empty());
        assert!(qualified_name_errors("app.kubernetes.io/name").is_empty());
        assert!(!qualified_name_errors("a b").is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(!label_value_errors("-x").is_empty());
    }

    #[test]
    fn selector_must_match_template_labels() {
        let ok = deployment(
            json!({"app": "api"}),
            json!({"matchLabels": {"app": "api"}}),
        );
        assert!(validate(ResourceKind::Deployment, &ok, None).is_ok());
        let bad = deployment(
            json!({"app": "web"}),
            json!({"matchLabels": {"app": "api"}}),
        );
        let err = validate(ResourceKind::Deployment, &bad, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Deployment.apps \"api\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
        );
        assert_eq!(err.code(), 422);
    }

    #[test]
    fn selector_is_immutable() {
        let old = deployment(
            json!({"app": "api", "v": "1"}),
            json!({"matchLabels": {"app": "api"}}),
        );
        let new = deployment(
            json!({"app": "api", "v": "1"}),
            json!({"matchLabels": {"v": "1"}}),
        );
        let err = validate(ResourceKind::Deployment, &new, Some(&old)).unwrap_err();
        assert!(err.to_string().contains("spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"v\":\"1\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"), "{err}");
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let v = json!({"metadata": {"name": "x"}, "spec": {"replicas": "3"}});
        assert_eq!(
            check_types(ResourceKind::Deployment, &v)
                .unwrap_err()
                .code(),
            400
        );
        let v = json!({"metadata": {"name": "x", "labels": {"a": 1}}});
        assert_eq!(
            check_types(ResourceKind::Deployment, &v)
                .unwrap_err()
                .code(),
            400
        );
        assert_eq!(
            check_types(ResourceKind::Deployment, &json!([1]))
                .unwrap_err()
                .code(),
            400
        );
    }

    #[test]
    fn containers_need_names_and_images() {
        let mut d = deployment(
            json!({"app": "api"}),
            json!({"matchLabels": {"app": "api"}}),
        );
        d["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "app"}, {"name": "app", "image": "y"}]);
        let err = validate(ResourceKind::Deployment, &d, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spec.template.spec.containers[0].image: Required value"),
            "{err}"
        );
        assert!(
            err.contains("spec.template.spec.containers[1].name: Duplicate value: \"app\""),
            "{err}"
        );
    }
}
