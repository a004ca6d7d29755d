//! What the API server adds to every object it stores: the apps/v1 and core/v1 defaulters
//! (strategy, history limit, progress deadline, `imagePullPolicy`, `terminationMessagePath`,
//! probe timings, ...) and the normal form Go's typed round trip gives JSON (no `null`s, no empty
//! lists or maps, `"creationTimestamp": null` in pod templates, `"resources": {}` in containers).
//! Templates must be in this form for the revision machinery to behave like a real cluster: kubectl
//! compares a DaemonSet's re-encoded template with its ControllerRevision byte for byte, and
//! Deployments compare templates after defaulting.

use serde_json::{Map, Value, json};

use crate::json;
use crate::resources::ResourceKind;
use crate::world::Cluster;

/// Applies defaults and the normal form to an object about to be stored, as the release `cluster`
/// serves defaults it.
pub fn apply(kind: ResourceKind, cluster: &Cluster, obj: &mut Value) {
    normalize(kind, obj);
    match kind {
        ResourceKind::Deployment => deployment(obj),
        ResourceKind::ReplicaSet => {
            default_field(obj, &["spec", "replicas"], json!(1));
            pod_template(obj);
        }
        ResourceKind::DaemonSet => daemonset(obj),
        ResourceKind::StatefulSet => statefulset(cluster, obj),
        ResourceKind::Pod => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec);
            }
        }
        ResourceKind::Namespace => {
            let name = json::str_at(obj, &["metadata", "name"]).to_string();
            json::object_at(obj, &["metadata", "labels"])
                .insert("kubernetes.io/metadata.name".into(), json!(name));
        }
        ResourceKind::ControllerRevision
        | ResourceKind::Event
        | ResourceKind::EventsEvent
        | ResourceKind::SelfSubjectReview => {}
    }
}

fn default_field(obj: &mut Value, path: &[&str], value: Value) {
    if json::at(obj, path).is_none() {
        json::set_at(obj, path, value);
    }
}

fn deployment(obj: &mut Value) {
    default_field(obj, &["spec", "replicas"], json!(1));
    default_field(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if json::str_at(obj, &["spec", "strategy", "type"]) == "RollingUpdate" {
        default_field(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxUnavailable"],
            json!("25%"),
        );
        default_field(
            obj,
            &["spec", "strategy", "rollingUpdate", "maxSurge"],
            json!("25%"),
        );
    }
    default_field(obj, &["spec", "revisionHistoryLimit"], json!(10));
    default_field(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    pod_template(obj);
}

fn daemonset(obj: &mut Value) {
    default_field(
        obj,
        &["spec", "updateStrategy", "type"],
        json!("RollingUpdate"),
    );
    if json::str_at(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate" {
        default_field(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
            json!(1),
        );
        default_field(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
            json!(0),
        );
    }
    default_field(obj, &["spec", "revisionHistoryLimit"], json!(10));
    pod_template(obj);
}

/// `SetDefaults_StatefulSet`: a `rollingUpdate` is made only when the type is; one the client
/// sent with type `RollingUpdate` gets `partition` and, where the release defaults it,
/// `maxUnavailable`.
fn statefulset(cluster: &Cluster, obj: &mut Value) {
    default_field(obj, &["spec", "replicas"], json!(1));
    default_field(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
    if json::str_at(obj, &["spec", "updateStrategy", "type"]).is_empty() {
        json::set_at(
            obj,
            &["spec", "updateStrategy", "type"],
            json!("RollingUpdate"),
        );
        default_field(obj, &["spec", "updateStrategy", "rollingUpdate"], json!({}));
    }
    let rolling = json::str_at(obj, &["spec", "updateStrategy", "type"]) == "RollingUpdate"
        && json::at(obj, &["spec", "updateStrategy", "rollingUpdate"])
            .is_some_and(Value::is_object);
    if rolling {
        default_field(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        );
        if cluster.defaults_stateful_set_max_unavailable() {
            default_field(
                obj,
                &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
                json!(1),
            );
        }
    }
    default_field(obj, &["spec", "revisionHistoryLimit"], json!(10));
    default_field(obj, &["spec", "serviceName"], json!(""));
    default_field(
        obj,
        &["spec", "persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    pod_template(obj);
}

fn pod_template(obj: &mut Value) {
    let Some(template) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .filter(|t| t.is_object())
    else {
        return;
    };
    // metav1.Time is a struct: Go always writes it, as null when zero.
    json::object_at(template, &["metadata"])
        .entry("creationTimestamp")
        .or_insert(Value::Null);
    if let Some(spec) = template.get_mut("spec") {
        pod_spec(spec);
    }
}

/// core/v1 `SetDefaults_PodSpec` and the container, probe, port, env and volume defaulters.
pub fn pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
    ];
    for (k, v) in defaults {
        map.entry(k).or_insert(v);
    }
    for list in ["initContainers", "containers"] {
        if let Some(items) = map.get_mut(list).and_then(Value::as_array_mut) {
            items.iter_mut().for_each(container);
        }
    }
    if let Some(volumes) = map.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.iter_mut().for_each(volume);
    }
}

fn container(c: &mut Value) {
    let image = json::str_at(c, &["image"]).to_string();
    let Some(map) = c.as_object_mut() else {
        return;
    };
    map.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    map.entry("terminationMessagePolicy")
        .or_insert(json!("File"));
    map.entry("imagePullPolicy")
        .or_insert_with(|| json!(default_pull_policy(&image)));
    // ResourceRequirements is a struct: Go always writes it.
    map.entry("resources").or_insert(json!({}));
    if let Some(ports) = map.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
        }
    }
    if let Some(env) = map.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(field_ref) = e
                .get_mut("valueFrom")
                .and_then(|v| v.get_mut("fieldRef"))
                .and_then(Value::as_object_mut)
            {
                field_ref.entry("apiVersion").or_insert(json!("v1"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = map.get_mut(probe).and_then(Value::as_object_mut) {
            p.entry("timeoutSeconds").or_insert(json!(1));
            p.entry("periodSeconds").or_insert(json!(10));
            p.entry("successThreshold").or_insert(json!(1));
            p.entry("failureThreshold").or_insert(json!(3));
            if let Some(http) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                http.entry("scheme").or_insert(json!("HTTP"));
            }
            if let Some(grpc) = p.get_mut("grpc").and_then(Value::as_object_mut) {
                grpc.entry("service").or_insert(json!(""));
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn volume(v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    if map.len() == 1 && map.contains_key("name") {
        map.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = map.get_mut(source).and_then(Value::as_object_mut) {
            s.entry("defaultMode").or_insert(json!(420));
        }
    }
    if let Some(h) = map.get_mut("hostPath").and_then(Value::as_object_mut) {
        h.entry("type").or_insert(json!(""));
    }
}

/// Fields Go drops when zero (`omitempty` on a non-pointer) that clients commonly send anyway.
const OMITEMPTY_FALSE: &[&str] = &[
    "paused",
    "stdin",
    "stdinOnce",
    "tty",
    "readOnly",
    "hostNetwork",
    "hostPID",
    "hostIPC",
];
const OMITEMPTY_ZERO: &[&str] = &["minReadySeconds", "initialDelaySeconds", "hostPort"];
/// Map-typed fields (`omitempty` maps vanish when empty, unlike struct-typed `{}`).
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "matchLabels",
    "limits",
    "requests",
    "overhead",
];

/// The normal form of a Go typed round trip, over everything but a ControllerRevision's opaque
/// `data`.
fn normalize(kind: ResourceKind, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        if kind == ResourceKind::ControllerRevision && key == "data" {
            continue;
        }
        normalize_value(value);
    }
    map.retain(|k, v| !(v.is_null() && k != "data"));
}

fn normalize_value(value: &mut Value) {
    match value {
        Value::Object(map) => normalize_map(map),
        Value::Array(items) => items.iter_mut().for_each(normalize_value),
        _ => {}
    }
}

fn normalize_map(map: &mut Map<String, Value>) {
    for value in map.values_mut() {
        normalize_value(value);
    }
    map.retain(|k, v| match v {
        // metav1.Time fields are structs that Go writes as null when zero.
        Value::Null => k == "creationTimestamp" || k == "lastProbeTime",
        Value::Array(items) => !items.is_empty(),
        Value::Object(m) => !(m.is_empty() && MAP_FIELDS.contains(&k.as_str())),
        Value::Bool(false) => !OMITEMPTY_FALSE.contains(&k.as_str()),
        Value::Number(n) => !(n.as_i64() == Some(0) && OMITEMPTY_ZERO.contains(&k.as_str())),
        Value::String(s) => !s.is_empty() || !matches!(k.as_str(), "namespace" | "generateName"),
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::RolloutModel;

    fn serving(kube_minor: u32) -> Cluster {
        Cluster {
            nodes: vec!["node-1".into()],
            rollout: RolloutModel::instant(),
            seeding: false,
            pods_created: 0,
            kube_minor,
        }
    }

    #[test]
    fn deployment_defaults_match_a_real_api_server() {
        let mut d = json!({"metadata": {"name": "api", "labels": {}}, "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "paused": false,
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
                {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}], "args": [],
                 "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}],
                "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}]}}}});
        apply(ResourceKind::Deployment, &serving(36), &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert!(d["spec"].get("paused").is_none());
        assert!(d["metadata"].get("labels").is_none());
        let t = &d["spec"]["template"];
        assert_eq!(t["metadata"]["creationTimestamp"], Value::Null);
        let c = &t["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["resources"], json!({}));
        assert!(c.get("args").is_none());
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
        assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(t["spec"]["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(t["spec"]["volumes"][1]["configMap"]["defaultMode"], 420);
        assert_eq!(t["spec"]["securityContext"], json!({}));
        assert_eq!(t["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn defaulting_is_idempotent() {
        let mut d = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r/i:1.0"}]}}}});
        apply(ResourceKind::StatefulSet, &serving(36), &mut d);
        let once = d.clone();
        apply(ResourceKind::StatefulSet, &serving(36), &mut d);
        assert_eq!(once, d);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(d["spec"]["updateStrategy"]["rollingUpdate"]["partition"], 0);
    }

    #[test]
    fn a_stateful_set_rolling_update_is_defaulted_as_the_release_does() {
        let unset = json!({"metadata": {"name": "db"}, "spec": {}});
        let strategy = |minor: u32, mut d: Value| {
            apply(ResourceKind::StatefulSet, &serving(minor), &mut d);
            d["spec"]["updateStrategy"].clone()
        };
        assert_eq!(
            strategy(36, unset.clone()),
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            strategy(37, unset),
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}})
        );
        // A type the client sent without a rollingUpdate gets none, as SetDefaults_StatefulSet.
        let typed = json!({"metadata": {"name": "db"}, "spec": {"updateStrategy": {"type": "RollingUpdate"}}});
        assert_eq!(strategy(37, typed), json!({"type": "RollingUpdate"}));
        let on_delete =
            json!({"metadata": {"name": "db"}, "spec": {"updateStrategy": {"type": "OnDelete"}}});
        assert_eq!(strategy(37, on_delete), json!({"type": "OnDelete"}));
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:1.2"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}
