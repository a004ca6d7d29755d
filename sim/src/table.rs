//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for (`Accept: ...;as=Table`)
//! when it prints `kubectl get` output, with the columns of the API server's printers for each
//! kind (READY, UP-TO-DATE, AVAILABLE, AGE, ...). Ages are measured on the simulated clock, so a
//! scenario's history shows its intended ages.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clock::{human_duration, parse_time};
use crate::json;
use crate::resources::ResourceKind;
use crate::selector::Selector;

/// A column: name, type, and whether it only shows with `-o wide`.
struct Column(&'static str, &'static str, bool);

fn columns(kind: ResourceKind) -> Vec<Column> {
    let c = Column;
    match kind {
        ResourceKind::Deployment => vec![
            c("Name", "string", false),
            c("Ready", "string", false),
            c("Up-to-date", "integer", false),
            c("Available", "integer", false),
            c("Age", "string", false),
            c("Containers", "string", true),
            c("Images", "string", true),
            c("Selector", "string", true),
        ],
        ResourceKind::ReplicaSet => vec![
            c("Name", "string", false),
            c("Desired", "integer", false),
            c("Current", "integer", false),
            c("Ready", "integer", false),
            c("Age", "string", false),
            c("Containers", "string", true),
            c("Images", "string", true),
            c("Selector", "string", true),
        ],
        ResourceKind::DaemonSet => vec![
            c("Name", "string", false),
            c("Desired", "integer", false),
            c("Current", "integer", false),
            c("Ready", "integer", false),
            c("Up-to-date", "integer", false),
            c("Available", "integer", false),
            c("Node Selector", "string", false),
            c("Age", "string", false),
            c("Containers", "string", true),
            c("Images", "string", true),
            c("Selector", "string", true),
        ],
        ResourceKind::StatefulSet => vec![
            c("Name", "string", false),
            c("Ready", "string", false),
            c("Age", "string", false),
            c("Containers", "string", true),
            c("Images", "string", true),
        ],
        ResourceKind::ControllerRevision => vec![
            c("Name", "string", false),
            c("Controller", "string", false),
            c("Revision", "integer", false),
            c("Age", "string", false),
        ],
        ResourceKind::Pod => vec![
            c("Name", "string", false),
            c("Ready", "string", false),
            c("Status", "string", false),
            c("Restarts", "string", false),
            c("Age", "string", false),
            c("IP", "string", true),
            c("Node", "string", true),
            c("Nominated Node", "string", true),
            c("Readiness Gates", "string", true),
        ],
        ResourceKind::Namespace => vec![
            c("Name", "string", false),
            c("Status", "string", false),
            c("Age", "string", false),
        ],
        ResourceKind::Event | ResourceKind::EventsEvent => vec![
            c("Last Seen", "string", false),
            c("Type", "string", false),
            c("Reason", "string", false),
            c("Object", "string", false),
            c("Message", "string", false),
        ],
        // Never listed (create-only); a name column keeps the table well-formed.
        ResourceKind::SelfSubjectReview => vec![c("Name", "string", false)],
    }
}

fn int(obj: &Value, path: &[&str]) -> Value {
    json!(json::i64_at(obj, path).unwrap_or(0))
}

fn containers(obj: &Value, path: &[&str]) -> (String, String) {
    let list: Vec<&Value> = json::at(obj, path)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = list.iter().map(|c| json::str_at(c, &["name"])).collect();
    let images: Vec<&str> = list.iter().map(|c| json::str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

fn selector(obj: &Value) -> String {
    Selector::from_label_selector(json::at(obj, &["spec", "selector"]))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn age(obj: &Value, now: Timestamp) -> String {
    match parse_time(json::str_at(obj, &["metadata", "creationTimestamp"])) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

fn cells(kind: ResourceKind, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(json::str_at(obj, &["metadata", "name"]));
    let age = json!(age(obj, now));
    let template = ["spec", "template", "spec", "containers"];
    match kind {
        ResourceKind::Deployment => {
            let (c, i) = containers(obj, &template);
            let ready = format!(
                "{}/{}",
                json::i64_at(obj, &["status", "readyReplicas"]).unwrap_or(0),
                json::i64_at(obj, &["spec", "replicas"]).unwrap_or(0)
            );
            vec![
                name,
                json!(ready),
                int(obj, &["status", "updatedReplicas"]),
                int(obj, &["status", "availableReplicas"]),
                age,
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        ResourceKind::ReplicaSet => {
            let (c, i) = containers(obj, &template);
            vec![
                name,
                int(obj, &["spec", "replicas"]),
                int(obj, &["status", "replicas"]),
                int(obj, &["status", "readyReplicas"]),
                age,
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        ResourceKind::DaemonSet => {
            let (c, i) = containers(obj, &template);
            let node_selector: Vec<String> =
                json::string_map(obj, &["spec", "template", "spec", "nodeSelector"])
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
            let node_selector = if node_selector.is_empty() {
                "<none>".to_string()
            } else {
                node_selector.join(",")
            };
            vec![
                name,
                int(obj, &["status", "desiredNumberScheduled"]),
                int(obj, &["status", "currentNumberScheduled"]),
                int(obj, &["status", "numberReady"]),
                int(obj, &["status", "updatedNumberScheduled"]),
                int(obj, &["status", "numberAvailable"]),
                json!(node_selector),
                age,
                json!(c),
                json!(i),
                json!(selector(obj)),
            ]
        }
        ResourceKind::StatefulSet => {
            let (c, i) = containers(obj, &template);
            let ready = format!(
                "{}/{}",
                json::i64_at(obj, &["status", "readyReplicas"]).unwrap_or(0),
                json::i64_at(obj, &["spec", "replicas"]).unwrap_or(0)
            );
            vec![name, json!(ready), age, json!(c), json!(i)]
        }
        ResourceKind::ControllerRevision => {
            let controller = json::at(obj, &["metadata", "ownerReferences"])
                .and_then(Value::as_array)
                .and_then(|refs| {
                    refs.iter()
                        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                })
                .map(|r| {
                    let group = json::str_at(r, &["apiVersion"])
                        .split_once('/')
                        .map(|(g, _)| g)
                        .unwrap_or("");
                    let kind = json::str_at(r, &["kind"]).to_lowercase();
                    let gk = if group.is_empty() {
                        kind
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{gk}/{}", json::str_at(r, &["name"]))
                })
                .unwrap_or_else(|| "<none>".into());
            vec![name, json!(controller), int(obj, &["revision"]), age]
        }
        ResourceKind::Pod => {
            let statuses: Vec<&Value> = json::at(obj, &["status", "containerStatuses"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let total = json::at(obj, &["spec", "containers"])
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let waiting = statuses
                .iter()
                .map(|s| json::str_at(s, &["state", "waiting", "reason"]))
                .find(|r| !r.is_empty());
            let phase = json::str_at(obj, &["status", "phase"]);
            let status = waiting.unwrap_or(if phase.is_empty() { "Pending" } else { phase });
            let restarts: i64 = statuses
                .iter()
                .map(|s| json::i64_at(s, &["restartCount"]).unwrap_or(0))
                .sum();
            let ip = json::str_at(obj, &["status", "podIP"]);
            let node = json::str_at(obj, &["spec", "nodeName"]);
            let or_none = |s: &str| {
                if s.is_empty() {
                    "<none>".to_string()
                } else {
                    s.to_string()
                }
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                age,
                json!(or_none(ip)),
                json!(or_none(node)),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        ResourceKind::Namespace => vec![name, json!(json::str_at(obj, &["status", "phase"])), age],
        ResourceKind::Event | ResourceKind::EventsEvent => {
            // The printer's "last seen": the legacy timestamp, else the series, else eventTime.
            let seen = [
                &["lastTimestamp"][..],
                &["series", "lastObservedTime"],
                &["eventTime"],
            ]
            .into_iter()
            .find_map(|path| parse_time(json::str_at(obj, path)))
            .map_or_else(
                || "<unknown>".to_string(),
                |t| human_duration(now.duration_since(t)),
            );
            let object = format!(
                "{}/{}",
                json::str_at(obj, &["involvedObject", "kind"]).to_lowercase(),
                json::str_at(obj, &["involvedObject", "name"])
            );
            vec![
                json!(seen),
                json!(json::str_at(obj, &["type"])),
                json!(json::str_at(obj, &["reason"])),
                json!(object),
                json!(json::str_at(obj, &["message"])),
            ]
        }
        ResourceKind::SelfSubjectReview => vec![name],
    }
}

/// A Table of `objects`.
pub fn table<'a>(
    kind: ResourceKind,
    objects: impl IntoIterator<Item = &'a Value>,
    revision: u64,
    continue_token: Option<&str>,
    now: Timestamp,
) -> Value {
    let definitions: Vec<Value> = columns(kind)
        .into_iter()
        .map(|Column(name, kind, wide)| {
            let format = if name == "Name" { "name" } else { "" };
            json!({"name": name, "type": kind, "format": format, "description": name, "priority": i32::from(wide)})
        })
        .collect();
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|obj| {
            json!({
                "cells": cells(kind, obj, now),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
                },
            })
        })
        .collect();
    let mut meta = json!({"resourceVersion": revision.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_rows_read_like_kubectl_get() {
        let now: Timestamp = "2024-05-11T00:00:00Z".parse().unwrap();
        let d = json!({"metadata": {"name": "api", "creationTimestamp": "2024-05-01T00:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "x:1"}]}}},
            "status": {"readyReplicas": 3, "updatedReplicas": 1, "availableReplicas": 3}});
        let t = table(ResourceKind::Deployment, [&d], 7, None, now);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["api", "3/3", 1, 3, "10d", "app", "x:1", "app=api"])
        );
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }
}
