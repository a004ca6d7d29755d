//! Events in their two API versions. The API server stores one Event and serves it as core `v1`
//! (`involvedObject`, `message`, `reportingComponent`, `count`, `lastTimestamp`) and as
//! `events.k8s.io/v1` (`regarding`, `note`, `reportingController`, `deprecatedCount`,
//! `deprecatedLastTimestamp`); the sim stores the core shape and converts `events.k8s.io`
//! requests and answers at the edge, field by field as `pkg/apis/events/v1/conversion.go` does.
//! Also the checks the newer API makes on create (a `note` of at most 1 KiB, a `type`, an
//! `eventTime` with its reporter), and the answer to a `SelfSubjectReview`.

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, FieldError};
use crate::resources::ResourceKind;

/// Fields renamed between the versions: `(events.k8s.io/v1, core v1)`. Fields absent here keep
/// their name (`reason`, `type`, `action`, `eventTime`, `series`, `related`, `reportingInstance`).
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The API's limit on `note` (`NoteLengthLimit`).
pub const NOTE_LIMIT: usize = 1024;

/// An `events.k8s.io/v1` Event in the stored (core `v1`) shape.
pub fn to_core(event: &Value) -> Value {
    let fields = rename(event, |field| {
        RENAMED
            .iter()
            .find(|(new, _)| *new == field)
            .map(|(_, old)| *old)
    });
    typed(fields, ResourceKind::Event)
}

/// A stored Event in the `events.k8s.io/v1` shape.
pub fn to_events_v1(event: &Value) -> Value {
    let fields = rename(event, |field| {
        RENAMED
            .iter()
            .find(|(_, old)| *old == field)
            .map(|(new, _)| *new)
    });
    typed(fields, ResourceKind::EventsEvent)
}

/// A stored object as `served` shows it.
pub fn served(served: ResourceKind, stored: &Value) -> Value {
    match served {
        ResourceKind::EventsEvent => to_events_v1(stored),
        _ => stored.clone(),
    }
}

/// A request body for `served` in the stored shape.
pub fn stored(served: ResourceKind, body: &Value) -> Value {
    match served {
        ResourceKind::EventsEvent => to_core(body),
        _ => body.clone(),
    }
}

/// A `fieldSelector` for `served` in terms of the stored fields (`regarding.name=x` becomes
/// `involvedObject.name=x`).
pub fn stored_field_selector(served: ResourceKind, selector: &str) -> String {
    if served != ResourceKind::EventsEvent {
        return selector.to_string();
    }
    selector
        .split(',')
        .map(|term| {
            let term = term.trim();
            RENAMED
                .iter()
                .find_map(|(new, old)| {
                    let rest = term.strip_prefix(new)?;
                    rest.starts_with(['.', '=', '!'])
                        .then(|| format!("{old}{rest}"))
                })
                .unwrap_or_else(|| term.to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What `events.k8s.io/v1` refuses on create (`ValidateEventCreate` for that version).
pub fn validate_events_v1(event: &Value) -> Result<(), ApiError> {
    let text = |field: &str| event.get(field).and_then(Value::as_str).unwrap_or("");
    let mut causes = Vec::new();
    if text("eventTime").is_empty() {
        causes.push(FieldError::required("eventTime", ""));
    }
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(field).is_empty() {
            causes.push(FieldError::required(field, ""));
        }
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        causes.push(FieldError::not_supported(
            "type",
            text("type"),
            &["Normal", "Warning"],
        ));
    }
    let note = text("note");
    if note.len() > NOTE_LIMIT {
        causes.push(FieldError::invalid(
            "note",
            "",
            format!("can have at most {NOTE_LIMIT} characters"),
        ));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        kind: ResourceKind::EventsEvent,
        name: event
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        causes,
    })
}

/// The answer to a `SelfSubjectReview`: who the API server thinks the caller is.
pub fn self_subject_review(user: &str, groups: &[String]) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": ResourceKind::SelfSubjectReview.api_version(),
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": user, "groups": groups}},
    })
}

fn rename(event: &Value, to: impl Fn(&str) -> Option<&'static str>) -> Map<String, Value> {
    let Some(fields) = event.as_object() else {
        return Map::new();
    };
    fields
        .iter()
        .map(|(k, v)| (to(k).map_or_else(|| k.clone(), str::to_string), v.clone()))
        .collect()
}

/// `fields` as an object of `kind`: type metadata, when present, names the version.
fn typed(mut fields: Map<String, Value>, kind: ResourceKind) -> Value {
    if fields.contains_key("kind") || fields.contains_key("apiVersion") {
        fields.insert("kind".into(), json!(kind.kind()));
        fields.insert("apiVersion".into(), json!(kind.api_version()));
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "api.1", "namespace": "shop"},
            "eventTime": "2024-05-01T12:00:00.000000Z",
            "reportingController": "k8s-rollout-mcp", "reportingInstance": "host",
            "action": "Rollback", "reason": "RollbackApproved", "type": "Normal",
            "regarding": {"kind": "Deployment", "name": "api", "namespace": "shop"},
            "note": "rolled back", "deprecatedCount": 2,
        })
    }

    #[test]
    fn converts_both_ways_field_by_field() {
        let core = to_core(&v1_event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "api");
        assert_eq!(core["message"], "rolled back");
        assert_eq!(core["reportingComponent"], "k8s-rollout-mcp");
        assert_eq!(core["count"], 2);
        assert_eq!(core["reason"], "RollbackApproved");
        assert!(core.get("regarding").is_none());
        assert_eq!(to_events_v1(&core), v1_event());
    }

    #[test]
    fn rewrites_field_selectors_to_the_stored_fields() {
        assert_eq!(
            stored_field_selector(
                ResourceKind::EventsEvent,
                "regarding.name=api,type!=Normal,reportingController=x"
            ),
            "involvedObject.name=api,type!=Normal,reportingComponent=x"
        );
        assert_eq!(
            stored_field_selector(ResourceKind::Event, "regarding.name=api"),
            "regarding.name=api"
        );
    }

    #[test]
    fn events_v1_refuses_a_long_note_and_a_missing_event_time() {
        assert!(validate_events_v1(&v1_event()).is_ok());
        let mut long = v1_event();
        long["note"] = json!("x".repeat(NOTE_LIMIT + 1));
        let err = validate_events_v1(&long).unwrap_err();
        assert_eq!(err.code(), 422);
        assert!(err.to_string().contains("note"), "{err}");
        let mut untimed = v1_event();
        untimed.as_object_mut().unwrap().remove("eventTime");
        assert!(
            validate_events_v1(&untimed)
                .unwrap_err()
                .to_string()
                .contains("eventTime")
        );
    }
}
