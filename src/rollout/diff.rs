//! What changes between two pod templates, in the terms people check during an incident:
//! images, commands, env, resources, probes, ports, volumes, labels and annotations, plus a
//! unified text diff of the whole template (rendered with `similar`).
//!
//! Env values are compared raw but shown redacted unless the operator opted in: a change of a
//! secret value is reported as a change without printing either value.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};
use similar::TextDiff;

use super::clip;
use super::template::{self, CONTAINER_LISTS, REDACTED};

/// How long the unified diff may search for a minimal edit script before it settles for a
/// coarser one: two large, unrelated templates would otherwise take time quadratic in their
/// length.
const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// The part of the template a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeArea {
    Container,
    Image,
    Command,
    Args,
    Env,
    Resources,
    Probe,
    Port,
    Volume,
    Label,
    Annotation,
    Other,
}

/// Whether something appeared, disappeared or changed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference between two templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub area: ChangeArea,
    /// What changed, e.g. `container app`, `env DATABASE_URL (container app)`, `label tier`.
    pub subject: String,
    pub kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Change {
    /// `subject: before -> after` (or `added x` / `removed x`), one line.
    pub fn describe(&self) -> String {
        let values = match (&self.before, &self.after) {
            (Some(before), Some(after)) => format!("{before} -> {after}"),
            (None, Some(after)) => format!("added {after}"),
            (Some(before), None) => format!("removed {before}"),
            (None, None) => String::new(),
        };
        format!("{}: {values}", self.subject)
    }
}

/// The difference between two templates, structured and as unified text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TemplateDiff {
    /// What the left side is, e.g. `live template (revision 5)`.
    pub from: String,
    /// What the right side is, e.g. `revision 3`.
    pub to: String,
    pub changes: Vec<Change>,
    /// A unified diff of the two templates as JSON (env values redacted unless shown).
    pub unified: String,
}

impl TemplateDiff {
    /// One `- change` line per change, at most [`clip::ITEMS`] of them and a count of the rest.
    pub fn describe_changes(&self) -> String {
        let mut out = String::new();
        for change in self.changes.iter().take(clip::ITEMS) {
            out.push_str(&format!("- {}\n", change.describe()));
        }
        if self.changes.len() > clip::ITEMS {
            out.push_str(&format!(
                "- ... {} more changes\n",
                self.changes.len() - clip::ITEMS
            ));
        }
        out
    }
}

/// Compares `before` (labelled `from`) with `after` (labelled `to`).
pub fn diff(
    from: &str,
    before: &Value,
    to: &str,
    after: &Value,
    show_env_values: bool,
) -> TemplateDiff {
    let before = template::comparable(before);
    let after = template::comparable(after);
    let mut changes = Changes {
        list: Vec::new(),
        show_env_values,
    };
    changes.template(&before, &after);
    let (left, right) = if show_env_values {
        (before.clone(), after.clone())
    } else {
        redact_for_display(&before, &after)
    };
    let left = serde_json::to_string_pretty(&left).unwrap_or_default();
    let right = serde_json::to_string_pretty(&right).unwrap_or_default();
    let unified = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(&left, &right)
        .unified_diff()
        .context_radius(3)
        .header(from, to)
        .to_string();
    TemplateDiff {
        from: from.to_string(),
        to: to.to_string(),
        changes: changes.list,
        unified: clip::text(&unified, clip::BLOCK).into_owned(),
    }
}

/// How an object of annotations changes, one [`Change`] per key (`annotation KEY`), with
/// manifests held in them redacted unless values are shown.
pub fn annotation_changes(before: &Value, after: &Value, show_values: bool) -> Vec<Change> {
    let mut changes = Changes {
        list: Vec::new(),
        show_env_values: show_values,
    };
    changes.annotations(before, after);
    changes.list
}

/// Redacts env values on both sides, marking values that differ so the text diff still
/// shows a line changed.
fn redact_for_display(before: &Value, after: &Value) -> (Value, Value) {
    let raw_before = env_values(before);
    let raw_after = env_values(after);
    let left = template::redact(before);
    let mut right = template::redact(after);
    for (list, _) in CONTAINER_LISTS {
        let Some(containers) = right
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for container in containers.iter_mut() {
            let container_name = container["name"].as_str().unwrap_or_default().to_string();
            // `get_mut`, not `container["env"]`: indexing a map for writing inserts a null for a
            // container without env, which the text diff would then show as a change.
            let env = container.get_mut("env").and_then(Value::as_array_mut);
            for variable in env.into_iter().flatten() {
                let key = (
                    container_name.clone(),
                    variable["name"].as_str().unwrap_or_default().to_string(),
                );
                if variable.get("value").is_some() && raw_before.get(&key) != raw_after.get(&key) {
                    variable["value"] = Value::String(format!("{REDACTED} (changed)"));
                }
            }
        }
    }
    (left, right)
}

/// Literal env values by (container, variable).
fn env_values(template: &Value) -> BTreeMap<(String, String), Value> {
    CONTAINER_LISTS
        .iter()
        .flat_map(|(list, _)| template::containers(template, list))
        .flat_map(|container| {
            let container_name = container["name"].as_str().unwrap_or_default().to_string();
            container["env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |variable| {
                    Some((
                        (
                            container_name.clone(),
                            variable["name"].as_str()?.to_string(),
                        ),
                        variable.get("value")?.clone(),
                    ))
                })
        })
        .collect()
}

struct Changes {
    list: Vec<Change>,
    show_env_values: bool,
}

/// Container fields that get their own change area; the rest are reported as `other`.
const CONTAINER_FIELDS: &[(&str, ChangeArea)] = &[
    ("image", ChangeArea::Image),
    ("command", ChangeArea::Command),
    ("args", ChangeArea::Args),
    ("livenessProbe", ChangeArea::Probe),
    ("readinessProbe", ChangeArea::Probe),
    ("startupProbe", ChangeArea::Probe),
];

impl Changes {
    fn push(
        &mut self,
        area: ChangeArea,
        subject: String,
        before: Option<String>,
        after: Option<String>,
    ) {
        let kind = match (&before, &after) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        };
        self.list.push(Change {
            area,
            subject,
            kind,
            before,
            after,
        });
    }

    /// Compares one value that may be absent on either side.
    fn compare(
        &mut self,
        area: ChangeArea,
        subject: String,
        before: Option<&Value>,
        after: Option<&Value>,
    ) {
        if before != after {
            self.push(area, subject, before.map(render), after.map(render));
        }
    }

    fn template(&mut self, before: &Value, after: &Value) {
        self.string_map(
            ChangeArea::Label,
            "label",
            &before["metadata"]["labels"],
            &after["metadata"]["labels"],
        );
        self.annotations(
            &before["metadata"]["annotations"],
            &after["metadata"]["annotations"],
        );
        let before_meta = without(&before["metadata"], &["labels", "annotations"]);
        let after_meta = without(&after["metadata"], &["labels", "annotations"]);
        self.other_fields("template metadata", &before_meta, &after_meta);

        for (list, init) in CONTAINER_LISTS {
            self.containers(init, &before["spec"][list], &after["spec"][list]);
        }
        self.keyed_list(
            ChangeArea::Volume,
            "volume",
            "name",
            &before["spec"]["volumes"],
            &after["spec"]["volumes"],
        );
        let before_spec = without(
            &before["spec"],
            &["containers", "initContainers", "volumes"],
        );
        let after_spec = without(&after["spec"], &["containers", "initContainers", "volumes"]);
        self.other_fields("pod spec", &before_spec, &after_spec);
    }

    fn containers(&mut self, init: bool, before: &Value, after: &Value) {
        let label = if init { "init container" } else { "container" };
        let before = by_key(before, "name");
        let after = by_key(after, "name");
        for name in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let subject = format!("{label} {name}");
            match (before.get(name), after.get(name)) {
                (Some(old), Some(new)) => self.container(&subject, old, new),
                (old, new) => self.compare(
                    ChangeArea::Container,
                    subject,
                    old.map(|c| &c["image"]),
                    new.map(|c| &c["image"]),
                ),
            }
        }
    }

    fn container(&mut self, subject: &str, before: &Value, after: &Value) {
        for (field, area) in CONTAINER_FIELDS {
            let what = match area {
                ChangeArea::Probe => format!("{field} ({subject})"),
                _ => subject.to_string(),
            };
            self.compare(*area, what, before.get(*field), after.get(*field));
        }
        self.env(subject, &before["env"], &after["env"]);
        for group in ["requests", "limits"] {
            let old = &before["resources"][group];
            let new = &after["resources"][group];
            for key in keys(old, new) {
                self.compare(
                    ChangeArea::Resources,
                    format!("{group}.{key} ({subject})"),
                    old.get(key),
                    new.get(key),
                );
            }
        }
        self.ports(subject, &before["ports"], &after["ports"]);
        self.keyed_list(
            ChangeArea::Volume,
            &format!("mount ({subject})"),
            "mountPath",
            &before["volumeMounts"],
            &after["volumeMounts"],
        );
        let handled = [
            "name",
            "env",
            "resources",
            "ports",
            "volumeMounts",
            "image",
            "command",
            "args",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
        ];
        self.other_fields(
            subject,
            &without(before, &handled),
            &without(after, &handled),
        );
    }

    fn env(&mut self, subject: &str, before: &Value, after: &Value) {
        let before = by_key(before, "name");
        let after = by_key(after, "name");
        for name in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let (old, new) = (before.get(name), after.get(name));
            if old == new {
                continue;
            }
            let show = |variable: &Value| self.env_source(variable);
            let (old_text, new_text) = (old.map(show), new.map(show));
            self.push(
                ChangeArea::Env,
                format!("env {name} ({subject})"),
                old_text,
                new_text,
            );
        }
    }

    /// How an env variable gets its value, with literal values redacted unless shown.
    fn env_source(&self, variable: &Value) -> String {
        if let Some(value) = variable.get("value") {
            return if self.show_env_values {
                render(value)
            } else {
                REDACTED.to_string()
            };
        }
        let from = &variable["valueFrom"];
        for (reference, label) in [("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")] {
            if let Some(source) = from.get(reference) {
                return format!(
                    "from {label} {}/{}",
                    source["name"].as_str().unwrap_or_default(),
                    source["key"].as_str().unwrap_or_default()
                );
            }
        }
        if from.is_null() {
            String::new()
        } else {
            format!("from {}", render(from))
        }
    }

    fn ports(&mut self, subject: &str, before: &Value, after: &Value) {
        let key = |port: &Value| {
            format!(
                "{}/{}",
                port["containerPort"],
                port["protocol"].as_str().unwrap_or("TCP")
            )
        };
        let index = |list: &Value| -> BTreeMap<String, Value> {
            list.as_array()
                .into_iter()
                .flatten()
                .map(|port| (key(port), port.clone()))
                .collect()
        };
        let (before, after) = (index(before), index(after));
        for port in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            self.compare(
                ChangeArea::Port,
                format!("port {port} ({subject})"),
                before.get(port),
                after.get(port),
            );
        }
    }

    fn keyed_list(
        &mut self,
        area: ChangeArea,
        what: &str,
        key: &str,
        before: &Value,
        after: &Value,
    ) {
        let before = by_key(before, key);
        let after = by_key(after, key);
        for name in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            self.compare(
                area,
                format!("{what} {name}"),
                before.get(name),
                after.get(name),
            );
        }
    }

    fn string_map(&mut self, area: ChangeArea, what: &str, before: &Value, after: &Value) {
        for key in keys(before, after) {
            self.compare(
                area,
                format!("{what} {key}"),
                before.get(key),
                after.get(key),
            );
        }
    }

    /// Template annotations, with manifests held in them redacted unless values are shown
    /// ([`template::shown_annotation`]).
    fn annotations(&mut self, before: &Value, after: &Value) {
        let show_values = self.show_env_values;
        let show = |key: &str, value: &Value| match value {
            Value::String(text) if !show_values => {
                clip::text(&template::shown_annotation(key, text), clip::VALUE).into_owned()
            }
            other => render(other),
        };
        for key in keys(before, after) {
            let (old, new) = (before.get(key), after.get(key));
            if old != new {
                self.push(
                    ChangeArea::Annotation,
                    format!("annotation {key}"),
                    old.map(|value| show(key, value)),
                    new.map(|value| show(key, value)),
                );
            }
        }
    }

    fn other_fields(&mut self, subject: &str, before: &Value, after: &Value) {
        for key in keys(before, after) {
            self.compare(
                ChangeArea::Other,
                format!("{key} ({subject})"),
                before.get(key),
                after.get(key),
            );
        }
    }
}

/// The keys of two objects, merged and sorted.
fn keys<'a>(before: &'a Value, after: &'a Value) -> BTreeSet<&'a String> {
    before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(Map::keys)
        .collect()
}

/// A list of objects indexed by one of their fields.
fn by_key(list: &Value, key: &str) -> BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            (
                item[key]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| item[key].to_string()),
                item.clone(),
            )
        })
        .collect()
}

/// The object without some fields (so they are not compared twice).
fn without(object: &Value, fields: &[&str]) -> Value {
    let mut object = object.as_object().cloned().unwrap_or_default();
    for field in fields {
        object.remove(*field);
    }
    Value::Object(object)
}

/// A value in one line: strings bare, everything else compact JSON, at most
/// [`clip::VALUE`] characters.
fn render(value: &Value) -> String {
    match value {
        Value::String(text) => clip::text(text, clip::VALUE).into_owned(),
        other => clip::text(&other.to_string(), clip::VALUE).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str, mode: &str, memory: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
            "spec": {
                "containers": [{
                    "name": "app", "image": image, "args": ["--serve"],
                    "env": [
                        {"name": "MODE", "value": mode},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}
                    ],
                    "resources": {"limits": {"memory": memory}},
                    "ports": [{"containerPort": 8080, "name": "http"}]
                }],
                "volumes": [{"name": "cache", "emptyDir": {}}]
            }
        })
    }

    #[test]
    fn reports_image_env_and_resource_changes_with_values_redacted() {
        let result = diff(
            "revision 1",
            &template("app:1", "a", "128Mi"),
            "revision 2",
            &template("app:2", "b", "256Mi"),
            false,
        );
        assert_eq!(
            result.changes,
            vec![
                Change {
                    area: ChangeArea::Image,
                    subject: "container app".into(),
                    kind: ChangeKind::Changed,
                    before: Some("app:1".into()),
                    after: Some("app:2".into())
                },
                Change {
                    area: ChangeArea::Env,
                    subject: "env MODE (container app)".into(),
                    kind: ChangeKind::Changed,
                    before: Some(REDACTED.into()),
                    after: Some(REDACTED.into())
                },
                Change {
                    area: ChangeArea::Resources,
                    subject: "limits.memory (container app)".into(),
                    kind: ChangeKind::Changed,
                    before: Some("128Mi".into()),
                    after: Some("256Mi".into())
                },
            ]
        );
        let removed = |text: &str| {
            result
                .unified
                .lines()
                .any(|line| line.starts_with('-') && line.contains(text))
        };
        assert!(removed("\"image\": \"app:1\""), "{}", result.unified);
        assert!(
            result.unified.contains("<redacted> (changed)"),
            "{}",
            result.unified
        );
        assert!(
            !result.unified.contains("\"a\""),
            "env values must not leak: {}",
            result.unified
        );
        assert!(
            result
                .unified
                .starts_with("--- revision 1\n+++ revision 2\n"),
            "{}",
            result.unified
        );
    }

    #[test]
    fn shows_env_values_when_the_operator_opted_in() {
        let result = diff(
            "a",
            &template("app:1", "a", "1Gi"),
            "b",
            &template("app:1", "b", "1Gi"),
            true,
        );
        assert_eq!(result.changes[0].before.as_deref(), Some("a"));
        assert_eq!(result.changes[0].after.as_deref(), Some("b"));
    }

    #[test]
    fn identical_templates_have_no_changes() {
        let result = diff(
            "a",
            &template("app:1", "a", "1Gi"),
            "b",
            &template("app:1", "a", "1Gi"),
            false,
        );
        assert!(result.changes.is_empty());
        assert!(result.unified.is_empty());
    }

    #[test]
    fn a_container_without_env_gets_no_env_line_in_the_text_diff() {
        let before = json!({"spec": {"containers": [{"name": "app", "image": "app:1"}]}});
        let after = json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}});
        let unified = diff("a", &before, "b", &after, false).unified;
        assert!(!unified.contains("env"), "{unified}");
        assert_eq!(
            unified
                .lines()
                .filter(|line| line.starts_with(['+', '-']))
                .count(),
            4,
            "the headers and the image line only: {unified}"
        );
    }

    #[test]
    fn added_containers_volumes_and_labels_are_named() {
        let before = template("app:1", "a", "1Gi");
        let mut after = before.clone();
        after["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "proxy:1"}));
        after["spec"]["volumes"] = json!([]);
        after["metadata"]["labels"]["tier"] = json!("web");
        after["spec"]["serviceAccountName"] = json!("api");
        let kinds: Vec<(ChangeArea, String, ChangeKind)> = diff("a", &before, "b", &after, false)
            .changes
            .into_iter()
            .map(|change| (change.area, change.subject, change.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (ChangeArea::Label, "label tier".into(), ChangeKind::Added),
                (
                    ChangeArea::Container,
                    "container sidecar".into(),
                    ChangeKind::Added
                ),
                (
                    ChangeArea::Volume,
                    "volume cache".into(),
                    ChangeKind::Removed
                ),
                (
                    ChangeArea::Other,
                    "serviceAccountName (pod spec)".into(),
                    ChangeKind::Added
                ),
            ]
        );
    }
}
