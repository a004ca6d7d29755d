//! The approval question and how its answer is read.
//!
//! The message shows what a human must see to decide: cluster and context, namespace,
//! kind/name, live revision -> target revision, the live revision's state and why it fails,
//! the target's age, live time and change-cause, every template change (the first
//! [`CHANGES_SHOWN`]), the server's dry run, the agent's reason (quoted), the warnings, and
//! what an undo does not restore. The form asks for `approve` (required) and `approver`
//! (optional, for the audit trail), both of which hosts can render.

use k8s_openapi::jiff::Timestamp;
use rmcp::model::{ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema};
use serde_json::Value;

use std::collections::BTreeMap;

use super::{ApprovalDecision, ApprovalPath, Refusal};
use crate::rollout::clip;
use crate::rollout::diff::{Change, ChangeArea, TemplateDiff};
use crate::rollout::evidence::Evidence;
use crate::rollout::history::{RevisionSummary, human_duration};
use crate::rollout::plan::RollbackPlan;
use crate::rollout::status::RolloutStatus;
use crate::rollout::template::ContainerImage;

/// The key of the approval in an `InputRequiredResult`'s requests and the retry's responses.
pub const INPUT_KEY: &str = "approval";

/// Where the workload lives, for the message.
#[derive(Debug, Clone)]
pub struct ClusterIdentity<'a> {
    pub context: &'a str,
    pub server: &'a str,
    /// `kube user "jane"` or `kube user unknown (why)` (`KubeUser::describe`).
    pub kube_user: &'a str,
}

/// Characters of the approver's name kept (the form says so too); control characters are
/// escaped ([`clip::untrusted`]).
pub const APPROVER_CHARACTERS: usize = 128;

/// The form: `approve` (boolean, required) and `approver` (string, optional).
pub fn schema() -> ElicitationSchema {
    ElicitationSchema::builder()
        .required_bool_with("approve", |field| {
            field
                .title("Approve this rollback")
                .description("true performs the rollback; anything else writes nothing")
        })
        .optional_string_with("approver", |field| {
            field
                .title("Your name")
                .description("Recorded in the audit trail and the workload's change-cause")
                .max_length(APPROVER_CHARACTERS as u32)
        })
        .description("Approve a Kubernetes rollback")
        .build()
        .expect("the approval form names only properties it defines")
}

/// The elicitation request for a plan.
pub fn request(message: String) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema(),
    }
}

/// Changes of the template listed in the question; the rest are counted.
pub const CHANGES_SHOWN: usize = 15;
/// Characters of the agent's reason shown in the question.
pub const REASON_SHOWN: usize = 500;

/// What the approver is shown beside the plan, read before asking.
#[derive(Debug, Clone)]
pub struct Briefing<'a> {
    /// kubectl's verdict on the live revision's rollout.
    pub live: &'a RolloutStatus,
    /// Why it stands there (pods, events).
    pub evidence: &'a Evidence,
    /// The target revision's line of history (age, live time, replaced, short-lived).
    pub target: Option<&'a RevisionSummary>,
    /// The server-side dry run of the very patch, which the API server accepted.
    pub dry_run: &'a str,
    /// How admission changes the template the API server would store, if it does.
    pub admission: Option<&'a TemplateDiff>,
    /// How the write changes the workload's own annotations.
    pub annotation_changes: &'a [Change],
    /// The ConfigMaps and Secrets the target template uses, which an undo does not restore.
    pub config_references: &'a [String],
    /// The workload's revisions as history lists them, oldest first (the page shows them).
    pub revisions: &'a [RevisionSummary],
}

/// The question, with everything the approver must see. Text that comes from the agent (the
/// reason) or the cluster (change-causes, template values, pod and event messages) is escaped
/// and clipped ([`clip::untrusted`]), so it cannot start a line of its own: every line of the
/// question starts with this server's words.
pub fn message(
    plan: &RollbackPlan,
    cluster: &ClusterIdentity<'_>,
    briefing: &Briefing<'_>,
    reason: Option<&str>,
    now: Timestamp,
) -> String {
    let show = |text: &str| clip::untrusted(text, clip::VALUE);
    let mut lines = vec![
        format!(
            "Approve rolling back {} {}/{}?",
            plan.kind,
            show(&plan.namespace),
            show(&plan.name)
        ),
        format!(
            "Cluster: context \"{}\" ({})",
            show(cluster.context),
            show(cluster.server)
        ),
        format!("Writes as: {}", cluster.kube_user),
        format!(
            "Revision: {} -> {} (the template of revision {} becomes the live one)",
            plan.live_revision
                .map_or("unknown".to_string(), |live| format!("{live} (live)")),
            plan.target_revision(),
            plan.target_revision()
        ),
    ];
    let live = briefing.live;
    let failure = briefing
        .evidence
        .top_failure()
        .map_or(String::new(), |failure| format!("; top failure: {failure}"));
    lines.push(format!(
        "Live revision now: {} ({}){failure}",
        live.state.as_str(),
        show(&live.message)
    ));
    if let Some(event) = briefing.evidence.warning_events.first() {
        lines.push(format!(
            "Newest warning event: {} x{} on {}: \"{}\"",
            event.reason, event.count, event.object, event.message
        ));
    }
    if !briefing.evidence.unavailable.is_empty() {
        // The approver should know the evidence above is partial, not that all is well.
        let missing: Vec<String> = briefing
            .evidence
            .unavailable
            .iter()
            .map(|line| show(line))
            .collect();
        lines.push(format!("Evidence incomplete: {}", missing.join("; ")));
    }
    let target = &plan.target;
    let age = target
        .created
        .map(|created| {
            format!(
                "created {} ({} ago)",
                created.strftime("%Y-%m-%d %H:%M UTC"),
                human_duration(now.duration_since(created))
            )
        })
        .unwrap_or_else(|| "creation time unknown".to_string());
    let live_for = briefing
        .target
        .and_then(|summary| summary.live_for_estimate.as_deref())
        .map_or("unknown".to_string(), str::to_string);
    lines.push(format!(
        "Revision {} (target): {age}; was live for {live_for} (an estimate from the API's timestamps); change-cause: \"{}\"",
        target.number,
        show(target.change_cause.as_deref().unwrap_or("<none>"))
    ));
    if let Some(short) = briefing
        .target
        .and_then(|summary| summary.short_lived.as_deref())
    {
        lines.push(format!("Caution: revision {} was {short}", target.number));
    }
    lines.push(format!(
        "Images: {}",
        image_changes(&plan.images_before, &plan.images_after)
    ));
    changes_block(
        &mut lines,
        "Template changes",
        &plan.diff.changes,
        &format!(
            "see the diff: k8s_rollout_history with revision {}",
            target.number
        ),
    );
    changes_block(
        &mut lines,
        "Workload annotation changes",
        briefing.annotation_changes,
        "see annotation_changes in a dry run's result",
    );
    lines.push(format!("Server dry run: {}", briefing.dry_run));
    if let Some(admission) = briefing.admission {
        changes_block(
            &mut lines,
            "Admission (a mutating webhook or policy) changes the restored template; the API server would store, compared with the revision",
            &admission.changes,
            "see admission_changes in a dry run's result",
        );
    }
    lines.push(match reason {
        Some(reason) => format!(
            "The agent's reason (its words, unverified): \"{}\"",
            clip::untrusted(reason, REASON_SHOWN)
        ),
        None => "The agent's reason: none given".to_string(),
    });
    if plan.warnings.is_empty() {
        lines.push("Warnings: none".to_string());
    } else {
        lines.push("Warnings:".to_string());
        lines.extend(
            plan.warnings
                .iter()
                .map(|warning| format!("  - {}", clip::untrusted(warning, 2 * clip::VALUE))),
        );
    }
    let references = if briefing.config_references.is_empty() {
        String::new()
    } else {
        format!(
            " (this template uses {})",
            show(&clip::list(briefing.config_references, clip::ITEMS, ", "))
        )
    };
    lines.push(format!(
        "Not restored by an undo: the contents of ConfigMaps and Secrets{references}, the replica count, and every other object; only the pod template changes."
    ));
    lines.push(format!(
        "Nothing is written unless you approve. The write applies only if, since this request (resourceVersion {}), the spec of {}/{} (but its replica count), its labels and annotations, and revision {}'s template and the patch above are unchanged; its status and other metadata may move.",
        show(&plan.resource_version),
        show(&plan.namespace),
        show(&plan.name),
        target.number
    ));
    lines.join("\n")
}

/// `title (N):` and the first [`CHANGES_SHOWN`] changes, each escaped and clipped, then how
/// many more and where to see them; nothing when there are none.
fn changes_block(lines: &mut Vec<String>, title: &str, changes: &[Change], rest: &str) {
    if changes.is_empty() {
        return;
    }
    lines.push(format!("{title} ({}):", changes.len()));
    lines.extend(
        changes
            .iter()
            .take(CHANGES_SHOWN)
            .map(|change| format!("  - {}", clip::untrusted(&change_line(change), clip::VALUE))),
    );
    if changes.len() > CHANGES_SHOWN {
        lines.push(format!(
            "  - and {} more, {rest}",
            changes.len() - CHANGES_SHOWN
        ));
    }
}

/// One change as the question lists it: what part of the container it is when the subject
/// only names the container (`image of container app: a:2 -> a:1`).
fn change_line(change: &Change) -> String {
    let part = match change.area {
        ChangeArea::Image => "image",
        ChangeArea::Command => "command",
        ChangeArea::Args => "args",
        _ => return change.describe(),
    };
    format!("{part} of {}", change.describe())
}

/// `app: a:1 -> a:2; sidecar: unchanged (p:1)`, at most [`clip::ITEMS`] containers.
fn image_changes(before: &[ContainerImage], after: &[ContainerImage]) -> String {
    let key = |image: &ContainerImage| (image.init, image.container.clone());
    let old: BTreeMap<_, &str> = before
        .iter()
        .map(|image| (key(image), image.image.as_str()))
        .collect();
    let new: BTreeMap<_, &str> = after
        .iter()
        .map(|image| (key(image), image.image.as_str()))
        .collect();
    let show = |text: &str| clip::untrusted(text, clip::VALUE);
    let changed = after.iter().map(|image| {
        let label = if image.init {
            format!("{} (init)", show(&image.container))
        } else {
            show(&image.container)
        };
        match old.get(&key(image)) {
            Some(old) if *old == image.image => {
                format!("{label}: unchanged ({})", show(&image.image))
            }
            Some(old) => format!("{label}: {} -> {}", show(old), show(&image.image)),
            None => format!("{label}: added {}", show(&image.image)),
        }
    });
    let removed = before
        .iter()
        .filter(|image| !new.contains_key(&key(image)))
        .map(|old| format!("{}: removed ({})", show(&old.container), show(&old.image)));
    clip::list(changed.chain(removed), clip::ITEMS, "; ")
}

/// Reads an answer. Only `accept` with `approve: true` approves.
pub fn decide(answer: &ElicitResult, path: ApprovalPath) -> ApprovalDecision {
    match &answer.action {
        ElicitationAction::Decline => ApprovalDecision::Refused(Refusal::Declined),
        ElicitationAction::Cancel => ApprovalDecision::Refused(Refusal::Cancelled),
        ElicitationAction::Accept => {
            let Some(content) = answer.content.as_ref().and_then(Value::as_object) else {
                return ApprovalDecision::Refused(Refusal::Malformed(
                    "accepted without a form".into(),
                ));
            };
            let approver = match content.get("approver") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => {
                    let name = name.trim();
                    (!name.is_empty()).then(|| clip::untrusted(name, APPROVER_CHARACTERS))
                }
                Some(other) => {
                    return ApprovalDecision::Refused(Refusal::Malformed(format!(
                        "approver is {}, not a string",
                        clip::text(&other.to_string(), clip::VALUE)
                    )));
                }
            };
            match content.get("approve") {
                Some(Value::Bool(true)) => ApprovalDecision::Approved { approver, path },
                Some(Value::Bool(false)) => ApprovalDecision::Refused(Refusal::NotApproved),
                Some(other) => ApprovalDecision::Refused(Refusal::Malformed(format!(
                    "approve is {}, not a boolean",
                    clip::text(&other.to_string(), clip::VALUE)
                ))),
                None => ApprovalDecision::Refused(Refusal::Malformed("approve is missing".into())),
            }
        }
        other => ApprovalDecision::Refused(Refusal::Malformed(format!("unknown action {other:?}"))),
    }
}

/// Reads the answer a 2026-07-28 client sent back in `inputResponses`.
pub fn decide_response(response: Option<&Value>) -> ApprovalDecision {
    let Some(response) = response else {
        return ApprovalDecision::Refused(Refusal::Malformed(format!(
            "no response under \"{INPUT_KEY}\""
        )));
    };
    match serde_json::from_value::<ElicitResult>(response.clone()) {
        Ok(answer) => decide(&answer, ApprovalPath::InputRequired),
        Err(error) => ApprovalDecision::Refused(Refusal::Malformed(format!(
            "not an elicitation result: {}",
            clip::text(&error.to_string(), clip::VALUE)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accept(content: Value) -> ElicitResult {
        ElicitResult::new(ElicitationAction::Accept).with_content(content)
    }

    #[test]
    fn a_huge_malformed_answer_is_clipped_in_the_refusal() {
        let answer = accept(json!({"approve": "x".repeat(1 << 20)}));
        let ApprovalDecision::Refused(Refusal::Malformed(reason)) =
            decide(&answer, ApprovalPath::Elicitation)
        else {
            panic!("refused as malformed")
        };
        assert!(reason.len() < 1024, "{} bytes", reason.len());
    }

    #[test]
    fn only_an_accepted_true_approves() {
        let path = ApprovalPath::Elicitation;
        assert_eq!(
            decide(
                &accept(json!({"approve": true, "approver": " alice "})),
                path
            ),
            ApprovalDecision::Approved {
                approver: Some("alice".into()),
                path
            }
        );
        assert_eq!(
            decide(&accept(json!({"approve": false})), path),
            ApprovalDecision::Refused(Refusal::NotApproved)
        );
        assert!(matches!(
            decide(&accept(json!({"approve": "yes"})), path),
            ApprovalDecision::Refused(Refusal::Malformed(_))
        ));
        assert!(matches!(
            decide(&accept(json!({})), path),
            ApprovalDecision::Refused(Refusal::Malformed(_))
        ));
        assert!(matches!(
            decide(&accept(json!({"approve": true, "approver": 7})), path),
            ApprovalDecision::Refused(Refusal::Malformed(_))
        ));
        assert_eq!(
            decide(&ElicitResult::new(ElicitationAction::Decline), path),
            ApprovalDecision::Refused(Refusal::Declined)
        );
        assert_eq!(
            decide(&ElicitResult::new(ElicitationAction::Cancel), path),
            ApprovalDecision::Refused(Refusal::Cancelled)
        );
    }

    #[test]
    fn a_retry_without_a_readable_answer_is_refused() {
        assert!(matches!(
            decide_response(None),
            ApprovalDecision::Refused(Refusal::Malformed(_))
        ));
        assert!(matches!(
            decide_response(Some(&json!("yes"))),
            ApprovalDecision::Refused(Refusal::Malformed(_))
        ));
        assert_eq!(
            decide_response(Some(
                &json!({"action": "accept", "content": {"approve": true}})
            )),
            ApprovalDecision::Approved {
                approver: None,
                path: ApprovalPath::InputRequired
            }
        );
    }

    #[test]
    fn the_form_requires_approve_and_offers_approver() {
        let schema = serde_json::to_value(schema()).unwrap();
        assert_eq!(schema["required"], json!(["approve"]));
        assert_eq!(schema["properties"]["approve"]["type"], "boolean");
        assert_eq!(schema["properties"]["approver"]["type"], "string");
    }

    #[test]
    fn image_changes_read_naturally() {
        let image = |container: &str, image: &str| ContainerImage {
            container: container.into(),
            image: image.into(),
            init: false,
        };
        assert_eq!(
            image_changes(
                &[image("app", "a:2"), image("proxy", "p:1")],
                &[image("app", "a:1"), image("proxy", "p:1")]
            ),
            "app: a:2 -> a:1; proxy: unchanged (p:1)"
        );
        assert_eq!(
            image_changes(
                &[image("app", "a:2")],
                &[image("app", "a:1\nWarnings: none")]
            ),
            "app: a:2 -> a:1\\nWarnings: none",
            "an image cannot forge a line of the question"
        );
        assert_eq!(
            image_changes(
                &[image("gone\nWarnings: none", "g:1")],
                &[image("app\u{202e}\nWarnings: none", "a:1")]
            ),
            "app\\u{202e}\\nWarnings: none: added a:1; gone\\nWarnings: none: removed (g:1)",
            "nor a container name"
        );
    }
}
