//! Discovery documents: `/version` (whose minor version steers the kubectl dispatcher to the
//! matching `kubectl.1.NN`), the legacy `/api` and `/apis` lists, and one `APIResourceList` per
//! group version with names, short names, verbs, categories and subresources. kubectl asks for
//! aggregated discovery first and falls back to these plain documents.

use serde_json::{Value, json};

use crate::resources::ResourceKind;

/// `/version` for Kubernetes `1.<minor>`.
pub fn version(minor: u32) -> Value {
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The named API groups served (`apps`, `events.k8s.io`, ...), each at `v1`, in the order of
/// [`ResourceKind::ALL`].
pub fn group_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for group in ResourceKind::ALL.map(ResourceKind::group) {
        if !group.is_empty() && !names.contains(&group) {
            names.push(group);
        }
    }
    names
}

fn group_entry(name: &str) -> Value {
    let v = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [v.clone()], "preferredVersion": v})
}

/// `/apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = group_names().into_iter().map(group_entry).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{name}`.
pub fn group(name: &str) -> Value {
    let mut g = group_entry(name);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

/// `/api/v1` or `/apis/{group}/v1`.
pub fn resources(group: &str) -> Value {
    let group_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let mut list = Vec::new();
    for kind in ResourceKind::ALL.into_iter().filter(|k| k.group() == group) {
        let mut r = json!({
            "name": kind.plural(),
            "singularName": kind.singular(),
            "namespaced": kind.namespaced(),
            "kind": kind.kind(),
            "verbs": kind.verbs(),
        });
        if !kind.short_names().is_empty() {
            r["shortNames"] = json!(kind.short_names());
        }
        if matches!(
            kind,
            ResourceKind::Pod
                | ResourceKind::Deployment
                | ResourceKind::ReplicaSet
                | ResourceKind::DaemonSet
                | ResourceKind::StatefulSet
        ) {
            r["categories"] = json!(["all"]);
        }
        list.push(r);
        if kind.has_scale() {
            list.push(json!({
                "name": format!("{}/scale", kind.plural()), "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
        if kind.has_status() {
            list.push(json!({
                "name": format!("{}/status", kind.plural()), "singularName": "", "namespaced": kind.namespaced(),
                "kind": kind.kind(), "verbs": ["get", "patch", "update"],
            }));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_lists_every_workload_with_its_subresources() {
        let r = resources("apps");
        let names: Vec<&str> = r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        for n in [
            "deployments",
            "deployments/scale",
            "deployments/status",
            "daemonsets",
            "statefulsets",
            "replicasets",
            "controllerrevisions",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert!(!names.contains(&"daemonsets/scale"));
        assert_eq!(
            group_names(),
            ["apps", "events.k8s.io", "authentication.k8s.io"]
        );
        assert_eq!(
            resources("authentication.k8s.io")["resources"][0]["verbs"],
            json!(["create"])
        );
        assert_eq!(resources("events.k8s.io")["resources"][0]["name"], "events");
        assert_eq!(resources("")["groupVersion"], "v1");
        assert_eq!(version(27)["minor"], "27");
    }
}
