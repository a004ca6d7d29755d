//! After a 409 on the undo write: send the approved patch once more, or refuse.
//!
//! The write is conditional on the resourceVersion the plan was made from, and status updates
//! move it too (a crash-looping pod does every few seconds), so a 409 during an incident is
//! often no change at all. The plan is made again from the workload as it is now; the same
//! patch is sent once more, with the new resourceVersion, only if what the human approved is
//! unchanged (spec except `replicas`, labels, annotations, target template, reason) and the
//! resourceVersion did move (otherwise the 409 was not our precondition's, and a re-send would
//! not be the same write). This is the only write ever sent twice.

use crate::approval::state::ApprovalBinding;
use crate::rollout::plan::{PlanRefusal, RollbackPlan};

/// The decision after a 409.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterConflict {
    /// Only the status moved: send the approved patch with this plan's precondition.
    SendAgain(Box<RollbackPlan>),
    /// Refuse; the text says why (what changed). Nothing was written (the 409 proves it).
    Refuse(String),
}

/// Decides what to do after `sent` got a 409, given the plan made again (`fresh`), what the
/// human approved (`approved`, bound with the same context and reason as `fresh` is here),
/// and whether the patch was already sent again once.
pub fn after_conflict(
    approved: &ApprovalBinding,
    sent: &RollbackPlan,
    fresh: Result<RollbackPlan, PlanRefusal>,
    context: &str,
    reason: Option<&str>,
    sent_again: bool,
) -> AfterConflict {
    let changed = |what: String| {
        AfterConflict::Refuse(format!(
            "it changed since the rollback was approved ({what})"
        ))
    };
    let fresh = match fresh {
        Ok(fresh) => fresh,
        Err(refusal) => return changed(format!("now: {refusal}")),
    };
    let differences = approved.differences(&ApprovalBinding::of(&fresh, context, reason));
    if !differences.is_empty() {
        return changed(differences.join("; "));
    }
    if fresh.resource_version == sent.resource_version {
        return AfterConflict::Refuse(
            "its resourceVersion did not move, so the conflict was not the precondition's: the API server or an admission webhook refused the write".into(),
        );
    }
    if sent_again {
        return changed("it changed again while writing".into());
    }
    AfterConflict::SendAgain(Box::new(fresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::{Stamp, plan};
    use crate::rollout::revisions::RevisionSet;
    use crate::rollout::revisions::tests::{deployment, replica_set};
    use crate::rollout::workload::Workload;

    fn history(live: &Workload) -> RevisionSet {
        RevisionSet::owned_by(
            live,
            vec![
                replica_set(
                    "web-a",
                    "uid-web",
                    Some("1"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-b",
                    "uid-web",
                    Some("2"),
                    "app:2",
                    "2026-01-02T00:00:00Z",
                ),
            ],
        )
    }

    const STAMP: Stamp<'static> = Stamp {
        change_cause: "c",
        call_id: "call-1",
    };

    fn planned(live: &Workload) -> RollbackPlan {
        plan(live, &history(live), 1, false).unwrap()
    }

    fn decide(sent: &RollbackPlan, now: &Workload, sent_again: bool) -> AfterConflict {
        let approved = ApprovalBinding::of(sent, "prod", Some("errors"));
        let fresh = plan(now, &history(now), 1, false);
        after_conflict(&approved, sent, fresh, "prod", Some("errors"), sent_again)
    }

    #[test]
    fn a_status_update_sends_the_approved_patch_once_more_with_the_new_precondition() {
        let live = deployment("app:2");
        let sent = planned(&live);
        let mut status_moved = live.clone();
        status_moved.object.metadata.resource_version = Some("57".into());
        status_moved.object.data["status"] = serde_json::json!({"readyReplicas": 1});
        let AfterConflict::SendAgain(fresh) = decide(&sent, &status_moved, false) else {
            panic!("expected a second attempt")
        };
        assert_eq!(fresh.resource_version, "57");
        assert_eq!(fresh.patch(&STAMP), {
            let mut expected = sent.clone();
            expected.resource_version = "57".into();
            expected.patch(&STAMP)
        });
        assert_eq!(
            decide(&sent, &status_moved, true),
            AfterConflict::Refuse(
                "it changed since the rollback was approved (it changed again while writing)"
                    .into()
            ),
            "never a third time"
        );
    }

    #[test]
    fn a_conflict_without_a_new_resource_version_is_not_retried() {
        let live = deployment("app:2");
        let sent = planned(&live);
        let AfterConflict::Refuse(why) = decide(&sent, &live, false) else {
            panic!("expected a refusal")
        };
        assert!(why.contains("did not move"), "{why}");
    }

    #[test]
    fn a_deploy_since_the_approval_is_refused_naming_the_change() {
        let live = deployment("app:2");
        let sent = planned(&live);
        let mut deployed = deployment("app:3");
        deployed.object.metadata.resource_version = Some("60".into());
        let AfterConflict::Refuse(why) = decide(&sent, &deployed, false) else {
            panic!("expected a refusal")
        };
        assert!(
            why.contains("spec, labels or annotations changed (resourceVersion 42 -> 60)"),
            "{why}"
        );
        let mut paused = live.clone();
        paused.object.data["spec"]["paused"] = serde_json::json!(true);
        assert!(matches!(
            decide(&sent, &paused, false),
            AfterConflict::Refuse(why) if why.contains("(now: you cannot rollback a paused deployment")
        ));
    }
}
