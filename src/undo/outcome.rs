//! What the API server's answer to the undo write proves, and, when it proves nothing, what a
//! re-read of the workload shows.
//!
//! A write is *written* (a 2xx with the object), *refused* before it could apply (a 4xx whose
//! `Status` proves it: 403 Forbidden, 404 NotFound, 409 Conflict, 422 Invalid; the API server
//! authorises, finds, checks the precondition and validates before it stores), or *unknown*:
//! a 5xx, a timeout, a reset or a lost response says nothing about whether the write was
//! stored (a 504 is typically sent while the write goes on, or after it reached etcd). An
//! unknown write is never sent again; re-reading the workload settles it when our patch shows
//! ([`applied`]), and otherwise the result says it may still apply and how to check.

use crate::cluster::ClusterError;
use crate::rollout::plan::{RollbackPlan, Stamp};
use crate::rollout::template;
use crate::rollout::workload::{CALL_ID, CHANGE_CAUSE, Workload};

/// What the answer to a write proves.
#[derive(Debug)]
pub enum WriteOutcome {
    /// The API server stored it and answered with the object as written.
    Written(Box<Workload>),
    /// 409 Conflict: the precondition failed (or another writer won); nothing was stored.
    Conflict(String),
    /// Refused before it could apply, with the API server's `Status` as proof.
    Refused(ClusterError),
    /// No proof either way.
    Unknown(ClusterError),
}

/// Classifies the answer to a write.
pub fn classify(answer: Result<Workload, ClusterError>) -> WriteOutcome {
    match answer {
        Ok(written) => WriteOutcome::Written(Box::new(written)),
        Err(ClusterError::Conflict { message }) => WriteOutcome::Conflict(message),
        Err(error) if refused_before_applying(&error) => WriteOutcome::Refused(error),
        Err(error) => WriteOutcome::Unknown(error),
    }
}

/// Whether the error is a `Status` the API server only sends before storing anything.
/// `crate::cluster` concludes not found and forbidden from the `Status` reason, not from the
/// HTTP code alone (a proxy's 403 page proves nothing).
fn refused_before_applying(error: &ClusterError) -> bool {
    match error {
        // Authentication and TLS fail before the request is read, an exec plugin before it
        // is sent.
        ClusterError::NotFound { .. }
        | ClusterError::Forbidden { .. }
        | ClusterError::Unauthorized { .. }
        | ClusterError::UntrustedCertificate { .. }
        | ClusterError::CertificateNotForName { .. }
        | ClusterError::Client { .. } => true,
        ClusterError::Api { code, reason, .. } => *code == 422 && reason == "Invalid",
        _ => false,
    }
}

/// Whether the workload as re-read carries our write: the same object, its generation moved
/// past the planned one (the write changed the template), the target's template, and the
/// stamp this very call wrote: its change-cause and its call id (two calls with the same
/// approver and reason write the same change-cause, never the same call id).
pub fn applied(plan: &RollbackPlan, stamp: &Stamp<'_>, now: &Workload) -> bool {
    now.uid() == plan.uid
        && now.generation() > plan.generation
        && template::digest(now.template()) == plan.template_digest
        && carries(now, stamp)
}

/// Whether the workload carries this call's stamp.
fn carries(workload: &Workload, stamp: &Stamp<'_>) -> bool {
    let annotation = |key| workload.annotations().get(key).map(String::as_str);
    annotation(CHANGE_CAUSE) == Some(stamp.change_cause)
        && annotation(CALL_ID) == Some(stamp.call_id)
}

/// What a re-read showed about an unknown write that had not applied (as far as the re-read
/// can tell), in words.
pub fn not_applied(plan: &RollbackPlan, now: &Result<Workload, ClusterError>) -> String {
    match now {
        Ok(workload) if workload.resource_version() == plan.resource_version => {
            "a re-read shows the workload unchanged since the plan: the rollback has not applied so far, but may still".into()
        }
        Ok(workload) if template::digest(workload.template()) == plan.template_digest => {
            "a re-read shows the approved template live, but without this call's change-cause and call id: another write (another undo to the same revision, or a later change of the annotations) carries it, so whether this write applied is unknown".into()
        }
        Ok(_) => "a re-read shows the workload changed, but not to the approved template: the rollback has not applied so far, but may still".into(),
        Err(error) => format!(
            "the workload could not be re-read either ({error}): the rollback may or may not have applied"
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rollout::plan::{self, RollbackPlan};
    use crate::rollout::revisions::RevisionSet;
    use crate::rollout::revisions::tests::{deployment, replica_set};

    const CAUSE: &str = "rollback to revision 1 approved by alice via k8s-rollout-mcp";
    const STAMP: Stamp<'static> = Stamp {
        change_cause: CAUSE,
        call_id: "call-1",
    };

    /// A Deployment at revision 2 and the plan to undo it to 1.
    pub(crate) fn planned() -> (Workload, RollbackPlan) {
        let live = deployment("app:2");
        let set = RevisionSet::owned_by(
            &live,
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
        );
        let plan = plan::plan(&live, &set, 1, false).unwrap();
        (live, plan)
    }

    /// The workload after a patch with `stamp`: the target template, the next generation.
    fn after_write(live: &Workload, plan: &RollbackPlan, stamp: &Stamp<'_>) -> Workload {
        let mut written = live.clone();
        written.object.data["spec"]["template"] = plan.target.template();
        written.object.metadata.generation = Some(plan.generation + 1);
        written.object.metadata.resource_version = Some("43".into());
        let annotations = written.object.metadata.annotations.get_or_insert_default();
        annotations.insert(CHANGE_CAUSE.into(), stamp.change_cause.into());
        annotations.insert(CALL_ID.into(), stamp.call_id.into());
        written
    }

    fn api(code: u16, reason: &str) -> ClusterError {
        ClusterError::Api {
            server: "https://k8s".into(),
            verb: "patch",
            resource: "deployments",
            code,
            reason: reason.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn only_a_status_that_proves_it_counts_as_refused() {
        let refused =
            |error: ClusterError| matches!(classify(Err(error)), WriteOutcome::Refused(_));
        assert!(refused(ClusterError::Forbidden {
            context: "c".into(),
            verb: "patch",
            resource: "deployments",
            group: ".apps",
            namespace: "shop".into(),
            message: "m".into(),
        }));
        assert!(refused(ClusterError::NotFound {
            resource: "deployments",
            group: ".apps",
            name: "web".into(),
            namespace: "shop".into(),
        }));
        assert!(refused(api(422, "Invalid")));
        for (code, reason) in [
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (504, "Timeout"),
            (429, "TooManyRequests"),
            (422, "Failed to parse error data"),
        ] {
            assert!(
                matches!(classify(Err(api(code, reason))), WriteOutcome::Unknown(_)),
                "{code} {reason}"
            );
        }
        for lost in [
            ClusterError::Timeout {
                server: "s".into(),
                context: "c".into(),
                verb: "patch",
                resource: "deployments",
                seconds: 30,
            },
            ClusterError::Unreachable {
                server: "s".into(),
                context: "c".into(),
                verb: "patch",
                resource: "deployments",
                detail: "connection reset".into(),
            },
        ] {
            assert!(matches!(classify(Err(lost)), WriteOutcome::Unknown(_)));
        }
        assert!(matches!(
            classify(Err(ClusterError::Conflict {
                message: "m".into()
            })),
            WriteOutcome::Conflict(_)
        ));
    }

    #[test]
    fn a_re_read_shows_our_write_only_with_template_generation_and_stamp() {
        let (live, plan) = planned();
        assert!(applied(&plan, &STAMP, &after_write(&live, &plan, &STAMP)));
        assert!(!applied(&plan, &STAMP, &live), "unchanged");
        assert_eq!(
            not_applied(&plan, &Ok(live.clone())),
            "a re-read shows the workload unchanged since the plan: the rollback has not applied so far, but may still"
        );
        let kubectl = Stamp {
            change_cause: "kubectl rollout undo",
            call_id: "",
        };
        let someone_else = after_write(&live, &plan, &kubectl);
        assert!(
            !applied(&plan, &STAMP, &someone_else),
            "the same template written by another hand is not ours"
        );
        assert_eq!(
            not_applied(&plan, &Ok(someone_else)),
            "a re-read shows the approved template live, but without this call's change-cause and call id: another write (another undo to the same revision, or a later change of the annotations) carries it, so whether this write applied is unknown"
        );
        let mut same_generation = after_write(&live, &plan, &STAMP);
        same_generation.object.metadata.generation = Some(plan.generation);
        assert!(!applied(&plan, &STAMP, &same_generation));
        let mut other_template = after_write(&live, &plan, &STAMP);
        other_template.object.data["spec"]["template"]["spec"]["containers"][0]["image"] =
            "app:9".into();
        assert!(!applied(&plan, &STAMP, &other_template));
        assert_eq!(
            not_applied(&plan, &Ok(other_template)),
            "a re-read shows the workload changed, but not to the approved template: the rollback has not applied so far, but may still"
        );
    }

    #[test]
    fn a_concurrent_undo_with_the_same_approver_and_reason_is_not_ours() {
        let (live, plan) = planned();
        let twin = Stamp {
            change_cause: CAUSE,
            call_id: "call-2",
        };
        assert!(!applied(&plan, &STAMP, &after_write(&live, &plan, &twin)));
    }
}
