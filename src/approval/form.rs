//! The approval question and how its answer is read.
//!
//! The message shows what a human must see to decide: cluster and context, namespace,
//! kind/name, live revision -> target revision, images before -> after, the target's age and
//! change-cause, the reason given, and the warnings. The form asks for `approve` (required)
//! and `approver` (optional, for the audit trail).

use k8s_openapi::jiff::Timestamp;
use rmcp::model::{ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema};
use serde_json::Value;

use std::collections::BTreeMap;

use super::{ApprovalDecision, ApprovalPath, Refusal};
use crate::rollout::clip;
use crate::rollout::history::human_duration;
use crate::rollout::plan::RollbackPlan;
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
                .max_length(128)
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

/// The question, with everything the approver must see.
pub fn message(
    plan: &RollbackPlan,
    cluster: &ClusterIdentity<'_>,
    reason: Option<&str>,
    now: Timestamp,
) -> String {
    let mut lines = vec![
        format!(
            "Approve rolling back {} {}/{}?",
            plan.kind, plan.namespace, plan.name
        ),
        format!(
            "Cluster: context \"{}\" ({})",
            cluster.context, cluster.server
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
    lines.push(format!(
        "Revision {}: {age}; change-cause: {}",
        target.number,
        clip::text(
            target.change_cause.as_deref().unwrap_or("<none>"),
            clip::VALUE
        )
    ));
    lines.push(format!(
        "Images: {}",
        image_changes(&plan.images_before, &plan.images_after)
    ));
    let other_changes = plan.diff.changes.len();
    lines.push(format!(
        "Template changes: {other_changes} (images, env, resources... see the diff in history)"
    ));
    lines.push(format!("Reason: {}", reason.unwrap_or("<none given>")));
    if plan.warnings.is_empty() {
        lines.push("Warnings: none".to_string());
    } else {
        lines.push("Warnings:".to_string());
        lines.extend(plan.warnings.iter().map(|warning| format!("  - {warning}")));
    }
    lines.push(format!(
        "Nothing is written unless you approve. The write applies only if {}/{} is unchanged since this request (resourceVersion {}) apart from its status and replica count.",
        plan.namespace, plan.name, plan.resource_version
    ));
    lines.join("\n")
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
    let show = |image: &str| clip::text(image, clip::VALUE).into_owned();
    let changed = after.iter().map(|image| {
        let label = if image.init {
            format!("{} (init)", image.container)
        } else {
            image.container.clone()
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
        .map(|old| format!("{}: removed ({})", old.container, show(&old.image)));
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
                    (!name.is_empty()).then(|| name.chars().take(128).collect())
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
    }
}
