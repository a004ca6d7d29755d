//! The record in the cluster: after an approved write, an `events.k8s.io/v1` Event on the
//! workload (type Normal, reason `RollbackApproved`, reported by `k8s-rollout-mcp`) saying who
//! approved what, so `kubectl describe` and event pipelines show the rollback to the whole team,
//! not only in one laptop's audit file. It carries the hash of the audit record of the write
//! (annotation [`AUDIT_HASH_ANNOTATION`]), which keeps the local hash chain's head in the
//! cluster (see `crate::audit`).
//!
//! Best effort: an Event that cannot be written (403, a server error) never changes the
//! rollback's outcome; the result says it is missing and why. Declines and refusals write none.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use schemars::JsonSchema;
use serde::Serialize;

use crate::cluster::{Cluster, FIELD_MANAGER};
use crate::rollout::clip;
use crate::rollout::workload::Workload;

/// The Event's `reason`.
pub const REASON: &str = "RollbackApproved";
/// The Event's `action`.
pub const ACTION: &str = "Rollback";
/// The annotation carrying the SHA-256 of the audit record of the write.
pub const AUDIT_HASH_ANNOTATION: &str = "k8s-rollout-mcp.io/audit-record-sha256";
/// The API's limit on `note` (`NoteLengthLimit`), in bytes.
pub const NOTE_LIMIT: usize = 1024;
/// The API's limit on `reportingInstance`.
const INSTANCE_LIMIT: usize = 128;

/// Whether the Event was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterEvent {
    /// Created, with this name, in the workload's namespace.
    Created { name: String },
    /// Not written; why.
    Missing { reason: String },
}

/// What the Event says about one approved rollback.
#[derive(Debug, Clone)]
pub struct ApprovedRollback<'a> {
    pub target_revision: i64,
    pub new_revision: Option<i64>,
    /// `approved by alice` (`ApprovalSummary::approved_by`).
    pub approved_by: &'a str,
    /// The MCP client's name and version.
    pub client: &'a str,
    pub reason: Option<&'a str>,
    /// The SHA-256 of the audit record of the write, when it was kept.
    pub audit_hash: Option<&'a str>,
}

/// `rolled back to revision 3 (new revision 5), approved by alice via claude-code 1.0: errors`,
/// control characters escaped, cut to [`NOTE_LIMIT`] bytes.
pub fn note(rollback: &ApprovedRollback<'_>) -> String {
    let new = rollback
        .new_revision
        .map_or("not yet known".to_string(), |n| n.to_string());
    let mut note = format!(
        "rolled back to revision {} (new revision {new}), {} via {}",
        rollback.target_revision,
        clip::escape(rollback.approved_by),
        clip::escape(rollback.client)
    );
    if let Some(reason) = rollback.reason {
        note.push_str(": ");
        note.push_str(&clip::escape(reason));
    }
    cut(note, NOTE_LIMIT)
}

/// The Event for `rollback` of `workload` at `now`, reported from `instance`.
pub fn event(
    workload: &Workload,
    rollback: &ApprovedRollback<'_>,
    instance: &str,
    now: Timestamp,
) -> Event {
    Event {
        metadata: ObjectMeta {
            // client-go's recorder names events `<object>.<unix nanos in hex>`.
            name: Some(format!(
                "{}.{:x}",
                workload.name(),
                now.as_nanosecond().max(0)
            )),
            namespace: Some(workload.namespace().to_string()),
            annotations: rollback.audit_hash.map(|hash| {
                BTreeMap::from([(AUDIT_HASH_ANNOTATION.to_string(), hash.to_string())])
            }),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        type_: Some("Normal".into()),
        reason: Some(REASON.into()),
        action: Some(ACTION.into()),
        reporting_controller: Some(FIELD_MANAGER.into()),
        reporting_instance: Some(cut(clip::escape(instance), INSTANCE_LIMIT)),
        regarding: Some(ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some(workload.kind.kind().into()),
            name: Some(workload.name().to_string()),
            namespace: Some(workload.namespace().to_string()),
            uid: Some(workload.uid().to_string()),
            resource_version: Some(workload.resource_version().to_string()),
            ..Default::default()
        }),
        note: Some(note(rollback)),
        ..Default::default()
    }
}

/// Writes the Event; never fails the rollback.
pub async fn record(
    cluster: &Cluster,
    workload: &Workload,
    rollback: &ApprovedRollback<'_>,
) -> ClusterEvent {
    let event = event(workload, rollback, &instance(), Timestamp::now());
    match cluster.create_event(workload.namespace(), &event).await {
        Ok(name) => ClusterEvent::Created { name },
        Err(error) => ClusterEvent::Missing {
            reason: error.to_string(),
        },
    }
}

/// `k8s-rollout-mcp@<host name>`: where the approval was given.
fn instance() -> String {
    let host = crate::platform::host_name().unwrap_or_else(|| "unknown-host".into());
    format!("{FIELD_MANAGER}@{host}")
}

/// `text` cut to at most `limit` bytes on a character boundary, ending in `...` when cut.
fn cut(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollback(reason: Option<&str>) -> ApprovedRollback<'_> {
        ApprovedRollback {
            target_revision: 3,
            new_revision: Some(5),
            approved_by: "approved by alice",
            client: "claude-code 1.0",
            reason,
            audit_hash: Some("ab12"),
        }
    }

    #[test]
    fn the_note_says_what_was_rolled_back_and_who_approved() {
        assert_eq!(
            note(&rollback(Some("checkout errors"))),
            "rolled back to revision 3 (new revision 5), approved by alice via claude-code 1.0: checkout errors"
        );
        let unread = ApprovedRollback {
            new_revision: None,
            ..rollback(None)
        };
        assert_eq!(
            note(&unread),
            "rolled back to revision 3 (new revision not yet known), approved by alice via claude-code 1.0"
        );
    }

    #[test]
    fn a_hostile_reason_is_escaped_and_capped_to_the_api_limit() {
        let hostile = format!("ok\nWarnings: none\u{1b}[2J{}", "é".repeat(5000));
        let note = note(&rollback(Some(&hostile)));
        assert!(note.len() <= NOTE_LIMIT, "{}", note.len());
        assert!(!note.contains('\n') && !note.contains('\u{1b}'));
        assert!(note.contains(r"ok\nWarnings: none\u{1b}[2J"), "{note}");
        assert!(note.ends_with("..."));
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        assert_eq!(cut("abc".into(), 3), "abc");
        assert_eq!(cut("ééé".into(), 5), "é...");
        assert_eq!(cut("aééé".into(), 6), "aé...");
    }
}
