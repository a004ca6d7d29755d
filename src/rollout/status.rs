//! kubectl's rollout status logic, per kind, with its messages verbatim.
//!
//! Mirrors `pkg/polymorphichelpers/rollout_status.go`: each viewer looks at the observed
//! generation and the replica counts and says whether the rollout is done, still going, or
//! failed. The messages are kubectl's without the trailing newline.
//!
//! One departure ([`with_earlier_rollout`]): the Deployment controller replaces its
//! `Progressing` condition only when it sees progress, so right after an undo of a deploy past
//! its deadline (ours or anyone's) the old `ProgressDeadlineExceeded` is still there while the
//! restored ReplicaSet scales up. kubectl calls that rollout failed. A condition that names
//! another ReplicaSet than the live one, or (after our own write) was last updated before it,
//! says nothing about the rollout under way, so it is "progressing" here, with the condition
//! named as stale.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::kind::WorkloadKind;
use super::revisions::REVISION;
use super::workload::Workload;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Every desired replica runs the live template and is available.
    Complete,
    /// The controller is still working (or has not yet observed the latest spec).
    Progressing,
    /// kubectl reports an error: the progress deadline passed.
    Failed,
    /// kubectl reports an error: the live revision is not the expected one (someone else
    /// deployed, or the rollout was undone).
    WrongRevision,
    /// kubectl cannot report status for this update strategy (only RollingUpdate).
    Unsupported,
}

impl RolloutState {
    /// The name used in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Progressing => "progressing",
            Self::Failed => "failed",
            Self::WrongRevision => "wrong_revision",
            Self::Unsupported => "unsupported",
        }
    }
}

/// The replica counts the status is decided from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReplicaCounts {
    /// Replicas (pods, for a DaemonSet) the workload should have.
    pub desired: i64,
    /// Running the live template.
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    /// All current replicas, old and new (Deployments and StatefulSets).
    pub current: i64,
}

/// kubectl's verdict on a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RolloutStatus {
    pub state: RolloutState,
    /// kubectl's message (its error text when it reports an error).
    pub message: String,
    pub counts: ReplicaCounts,
    /// Whether the controller has observed the latest spec (`observedGeneration`).
    pub observed: bool,
    /// The message of a `ProgressDeadlineExceeded` condition left over from an earlier rollout
    /// ([`EarlierRollout`]), and so not taken as a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_deadline: Option<String>,
}

impl RolloutStatus {
    pub fn done(&self) -> bool {
        self.state == RolloutState::Complete
    }

    pub fn failed(&self) -> bool {
        matches!(
            self.state,
            RolloutState::Failed | RolloutState::WrongRevision
        )
    }

    /// True when waiting longer cannot change the answer.
    pub fn is_final(&self) -> bool {
        self.state != RolloutState::Progressing
    }
}

/// What tells a Deployment's `ProgressDeadlineExceeded` condition left over from an earlier
/// rollout from one about the rollout under way.
#[derive(Debug, Clone, Copy, Default)]
pub struct EarlierRollout<'a> {
    /// The ReplicaSet running the live template. The controller names the ReplicaSet it timed
    /// out in the condition's message (`ReplicaSet "web-7c9d" has timed out progressing.`), and
    /// a rollback to an existing ReplicaSet keeps that condition until the restored one
    /// progresses: a condition naming another ReplicaSet is about an earlier rollout.
    pub live_replica_set: Option<&'a str>,
    /// After our own write: the condition's `lastUpdateTime` before it ([`progressing_updated`]
    /// of the object the write replaced); a condition no newer than that predates the write.
    pub updated_before_write: Option<Timestamp>,
}

/// Decides the rollout status as `kubectl rollout status --watch=false` would.
/// `expected_revision` is kubectl's `--revision` (checked for Deployments, as kubectl does).
pub fn evaluate(workload: &Workload, expected_revision: Option<i64>) -> RolloutStatus {
    with_earlier_rollout(workload, expected_revision, EarlierRollout::default())
}

/// [`evaluate`], except that a deadline condition `earlier` shows to be left over from an
/// earlier rollout is not a failure.
pub fn with_earlier_rollout(
    workload: &Workload,
    expected_revision: Option<i64>,
    earlier: EarlierRollout<'_>,
) -> RolloutStatus {
    match workload.kind {
        WorkloadKind::Deployment => deployment(workload, expected_revision, earlier),
        WorkloadKind::DaemonSet => daemon_set(workload),
        WorkloadKind::StatefulSet => stateful_set(workload),
    }
}

/// Whether a Deployment carries a `ProgressDeadlineExceeded` condition: the one case where
/// the live ReplicaSet changes the verdict ([`EarlierRollout::live_replica_set`]).
pub fn has_deadline_condition(workload: &Workload) -> bool {
    workload.kind == WorkloadKind::Deployment && deadline_exceeded(workload.status()).is_some()
}

/// The ReplicaSet a timed-out `Progressing` condition names, from the controller's message.
fn timed_out_replica_set(condition: &Value) -> Option<&str> {
    condition["message"]
        .as_str()?
        .strip_prefix("ReplicaSet \"")?
        .split_once('"')
        .map(|(name, _)| name)
}

/// The `lastUpdateTime` of a Deployment's `Progressing` condition (None for the other kinds,
/// which have no such condition).
pub fn progressing_updated(workload: &Workload) -> Option<Timestamp> {
    condition(workload.status(), "Progressing")?["lastUpdateTime"]
        .as_str()?
        .parse()
        .ok()
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|condition| condition["type"] == kind)
}

/// A count from the status. The API server validates counts, but a status is written by
/// whoever may update it: arithmetic on counts saturates rather than trusting them.
fn field(value: &Value, name: &str) -> i64 {
    value[name].as_i64().unwrap_or(0)
}

fn observed_generation(workload: &Workload) -> i64 {
    field(workload.status(), "observedGeneration")
}

fn status(
    state: RolloutState,
    message: String,
    counts: ReplicaCounts,
    observed: bool,
) -> RolloutStatus {
    RolloutStatus {
        state,
        message,
        counts,
        observed,
        stale_deadline: None,
    }
}

fn deployment(
    workload: &Workload,
    expected_revision: Option<i64>,
    earlier: EarlierRollout<'_>,
) -> RolloutStatus {
    let mut status = deployment_verdict(workload, expected_revision, earlier);
    if status.state == RolloutState::Progressing {
        status.stale_deadline = deadline_exceeded(workload.status())
            .filter(|condition| from_earlier_rollout(condition, earlier))
            .map(|condition| {
                condition["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            });
    }
    status
}

/// Whether a deadline condition is about an earlier rollout than the one under way.
fn from_earlier_rollout(condition: &Value, earlier: EarlierRollout<'_>) -> bool {
    let names_another = earlier
        .live_replica_set
        .zip(timed_out_replica_set(condition))
        .is_some_and(|(live, named)| live != named);
    let predates_the_write = earlier.updated_before_write.is_some_and(|before| {
        condition["lastUpdateTime"]
            .as_str()
            .and_then(|text| text.parse::<Timestamp>().ok())
            .is_some_and(|updated| updated <= before)
    });
    names_another || predates_the_write
}

/// The `Progressing` condition when it says the progress deadline passed.
fn deadline_exceeded(status: &Value) -> Option<&Value> {
    condition(status, "Progressing")
        .filter(|condition| condition["reason"] == "ProgressDeadlineExceeded")
}

fn deployment_verdict(
    workload: &Workload,
    expected_revision: Option<i64>,
    earlier: EarlierRollout<'_>,
) -> RolloutStatus {
    let name = workload.name();
    let st = workload.status();
    let desired = workload.desired_replicas();
    let counts = ReplicaCounts {
        desired,
        updated: field(st, "updatedReplicas"),
        ready: field(st, "readyReplicas"),
        available: field(st, "availableReplicas"),
        current: field(st, "replicas"),
    };
    let observed = workload.generation() <= observed_generation(workload);
    let failed = |message: String| status(RolloutState::Failed, message, counts.clone(), observed);
    let wrong_revision = |message: String| {
        status(
            RolloutState::WrongRevision,
            message,
            counts.clone(),
            observed,
        )
    };
    let progressing =
        |message: String| status(RolloutState::Progressing, message, counts.clone(), observed);

    if let Some(expected) = expected_revision.filter(|revision| *revision > 0) {
        let running = workload
            .annotations()
            .get(REVISION)
            .map(|text| text.parse::<i64>());
        match running {
            Some(Ok(running)) if running == expected => {}
            Some(Ok(running)) => {
                return wrong_revision(format!(
                    "desired revision ({expected}) is different from the running revision ({running})"
                ));
            }
            None => {
                return wrong_revision(format!(
                    "desired revision ({expected}) is different from the running revision (0)"
                ));
            }
            Some(Err(error)) => {
                return wrong_revision(format!(
                    "cannot get the revision of deployment \"{name}\": {error}"
                ));
            }
        }
    }
    if !observed {
        return progressing("Waiting for deployment spec update to be observed...".into());
    }
    let timed_out =
        deadline_exceeded(st).is_some_and(|condition| !from_earlier_rollout(condition, earlier));
    if timed_out {
        return failed(format!(
            "deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    if counts.updated < desired {
        return progressing(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} out of {desired} new replicas have been updated...",
            counts.updated
        ));
    }
    if counts.current > counts.updated {
        return progressing(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            counts.current.saturating_sub(counts.updated)
        ));
    }
    if counts.available < counts.updated {
        return progressing(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} of {} updated replicas are available...",
            counts.available, counts.updated
        ));
    }
    status(
        RolloutState::Complete,
        format!("deployment \"{name}\" successfully rolled out"),
        counts,
        observed,
    )
}

const ROLLING_UPDATE_ONLY: &str =
    "rollout status is only available for RollingUpdate strategy type";

fn daemon_set(workload: &Workload) -> RolloutStatus {
    let name = workload.name();
    let st = workload.status();
    let counts = ReplicaCounts {
        desired: field(st, "desiredNumberScheduled"),
        updated: field(st, "updatedNumberScheduled"),
        ready: field(st, "numberReady"),
        available: field(st, "numberAvailable"),
        current: field(st, "currentNumberScheduled"),
    };
    let observed = workload.generation() <= observed_generation(workload);
    if workload.strategy_type() != "RollingUpdate" {
        return status(
            RolloutState::Unsupported,
            ROLLING_UPDATE_ONLY.into(),
            counts,
            observed,
        );
    }
    if !observed {
        return status(
            RolloutState::Progressing,
            "Waiting for daemon set spec update to be observed...".into(),
            counts,
            observed,
        );
    }
    if counts.updated < counts.desired {
        let message = format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {} out of {} new pods have been updated...",
            counts.updated, counts.desired
        );
        return status(RolloutState::Progressing, message, counts, observed);
    }
    if counts.available < counts.desired {
        let message = format!(
            "Waiting for daemon set \"{name}\" rollout to finish: {} of {} updated pods are available...",
            counts.available, counts.desired
        );
        return status(RolloutState::Progressing, message, counts, observed);
    }
    status(
        RolloutState::Complete,
        format!("daemon set \"{name}\" successfully rolled out"),
        counts,
        observed,
    )
}

fn stateful_set(workload: &Workload) -> RolloutStatus {
    let st = workload.status();
    let desired = workload.desired_replicas();
    let counts = ReplicaCounts {
        desired,
        updated: field(st, "updatedReplicas"),
        ready: field(st, "readyReplicas"),
        available: field(st, "availableReplicas"),
        current: field(st, "currentReplicas"),
    };
    let observed_generation = observed_generation(workload);
    let observed = observed_generation != 0 && workload.generation() <= observed_generation;
    if workload.strategy_type() != "RollingUpdate" {
        return status(
            RolloutState::Unsupported,
            ROLLING_UPDATE_ONLY.into(),
            counts,
            observed,
        );
    }
    let progressing =
        |message: String| status(RolloutState::Progressing, message, counts.clone(), observed);
    if !observed {
        return progressing("Waiting for statefulset spec update to be observed...".into());
    }
    if counts.ready < desired {
        return progressing(format!(
            "Waiting for {} pods to be ready...",
            desired.saturating_sub(counts.ready)
        ));
    }
    let rolling_update = &workload.spec()["updateStrategy"]["rollingUpdate"];
    if rolling_update.is_object() {
        if let Some(partition) = rolling_update["partition"].as_i64()
            && counts.updated < desired.saturating_sub(partition)
        {
            return progressing(format!(
                "Waiting for partitioned roll out to finish: {} out of {} new pods have been updated...",
                counts.updated,
                desired.saturating_sub(partition)
            ));
        }
        let message = format!(
            "partitioned roll out complete: {} new pods have been updated...",
            counts.updated
        );
        return status(RolloutState::Complete, message, counts, observed);
    }
    let update_revision = st["updateRevision"].as_str().unwrap_or_default();
    let current_revision = st["currentRevision"].as_str().unwrap_or_default();
    if update_revision != current_revision {
        return progressing(format!(
            "waiting for statefulset rolling update to complete {} pods at revision {update_revision}...",
            counts.updated
        ));
    }
    let message = format!(
        "statefulset rolling update complete {} pods at revision {current_revision}...",
        counts.current
    );
    status(RolloutState::Complete, message, counts, observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::workload::tests::workload;
    use serde_json::json;

    fn deployment(generation: i64, status: Value, annotations: Value) -> Workload {
        workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "generation": generation, "annotations": annotations},
                   "spec": {"replicas": 3}, "status": status}),
        )
    }

    #[test]
    fn deployment_messages_follow_kubectl_in_order() {
        let cases = [
            (
                2,
                json!({"observedGeneration": 1}),
                RolloutState::Progressing,
                "Waiting for deployment spec update to be observed...",
            ),
            (
                1,
                json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}),
                RolloutState::Failed,
                "deployment \"web\" exceeded its progress deadline",
            ),
            (
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 1, "replicas": 4}),
                RolloutState::Progressing,
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...",
            ),
            (
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 3, "replicas": 4}),
                RolloutState::Progressing,
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...",
            ),
            (
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}),
                RolloutState::Progressing,
                "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...",
            ),
            (
                1,
                json!({"observedGeneration": 1, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "readyReplicas": 3}),
                RolloutState::Complete,
                "deployment \"web\" successfully rolled out",
            ),
        ];
        for (generation, st, state, message) in cases {
            let result = evaluate(&deployment(generation, st, json!({})), None);
            assert_eq!((result.state, result.message.as_str()), (state, message));
        }
    }

    #[test]
    fn a_deadline_condition_from_before_the_write_is_not_a_failure() {
        let stale = json!({"observedGeneration": 2, "updatedReplicas": 0, "replicas": 3,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                            "lastUpdateTime": "2026-12-01T10:00:00Z", "message": "ReplicaSet \"web-bad\" has timed out progressing."}]});
        let workload = deployment(2, stale, json!({}));
        assert_eq!(
            evaluate(&workload, None).state,
            RolloutState::Failed,
            "kubectl's verdict"
        );
        let before_write = |time: &str| EarlierRollout {
            updated_before_write: Some(time.parse().unwrap()),
            live_replica_set: None,
        };
        let after = with_earlier_rollout(&workload, None, before_write("2026-12-01T10:00:00Z"));
        assert_eq!(
            (after.state, after.message.as_str()),
            (
                RolloutState::Progressing,
                "Waiting for deployment \"web\" rollout to finish: 0 out of 3 new replicas have been updated..."
            )
        );
        assert_eq!(
            after.stale_deadline.as_deref(),
            Some("ReplicaSet \"web-bad\" has timed out progressing.")
        );
        assert_eq!(
            with_earlier_rollout(&workload, None, before_write("2026-12-01T09:59:59Z")).state,
            RolloutState::Failed,
            "a deadline passed after the write is a failure"
        );
        assert_eq!(
            progressing_updated(&workload),
            Some("2026-12-01T10:00:00Z".parse().unwrap()),
            "what a plan records as the mark"
        );
    }

    #[test]
    fn a_deadline_condition_naming_another_replica_set_is_an_earlier_rollouts() {
        let timed_out = json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3,
            "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                            "lastUpdateTime": "2026-12-01T10:00:00Z", "message": "ReplicaSet \"web-bad\" has timed out progressing."}]});
        let workload = deployment(2, timed_out, json!({}));
        assert!(has_deadline_condition(&workload));
        let live = |name| EarlierRollout {
            live_replica_set: Some(name),
            updated_before_write: None,
        };
        let restored = with_earlier_rollout(&workload, None, live("web-good"));
        assert_eq!(
            (restored.state, restored.message.as_str()),
            (
                RolloutState::Progressing,
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
            ),
            "a rollback to web-good, which has not progressed yet"
        );
        assert_eq!(
            restored.stale_deadline.as_deref(),
            Some("ReplicaSet \"web-bad\" has timed out progressing.")
        );
        let own = with_earlier_rollout(&workload, None, live("web-bad"));
        assert_eq!(
            (own.state, own.stale_deadline),
            (RolloutState::Failed, None),
            "the live ReplicaSet's own deadline"
        );
        let mut unnamed = workload.clone();
        unnamed.object.data["status"]["conditions"][0]["message"] =
            json!("Deployment \"web\" has timed out progressing.");
        assert_eq!(
            with_earlier_rollout(&unnamed, None, live("web-good")).state,
            RolloutState::Failed,
            "a condition naming no ReplicaSet proves nothing"
        );
    }

    #[test]
    fn counts_at_the_ends_of_i64_do_not_overflow() {
        let web = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "generation": 1},
                   "spec": {"replicas": i64::MIN},
                   "status": {"observedGeneration": 1, "replicas": i64::MAX,
                              "updatedReplicas": i64::MIN}}),
        );
        assert_eq!(
            evaluate(&web, None).message,
            format!(
                "Waiting for deployment \"web\" rollout to finish: {} old replicas are pending termination...",
                i64::MAX
            )
        );
        let mut sts = workload(
            WorkloadKind::StatefulSet,
            json!({"metadata": {"name": "db", "generation": 1},
                   "spec": {"replicas": i64::MAX, "updateStrategy": {"type": "RollingUpdate",
                            "rollingUpdate": {"partition": i64::MIN}}},
                   "status": {"observedGeneration": 1, "readyReplicas": i64::MIN}}),
        );
        assert_eq!(evaluate(&sts, None).state, RolloutState::Progressing);
        sts.object.data["status"]["readyReplicas"] = json!(i64::MAX);
        assert_eq!(evaluate(&sts, None).state, RolloutState::Progressing);
    }

    #[test]
    fn deployment_revision_mismatch_is_kubectls_error() {
        let result = evaluate(
            &deployment(1, json!({"observedGeneration": 1}), json!({REVISION: "4"})),
            Some(3),
        );
        assert_eq!(result.state, RolloutState::WrongRevision);
        assert!(result.failed());
        assert_eq!(
            result.message,
            "desired revision (3) is different from the running revision (4)"
        );
    }

    #[test]
    fn daemon_set_on_delete_is_unsupported() {
        let ds = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "agent", "generation": 1}, "spec": {"updateStrategy": {"type": "OnDelete"}}, "status": {"observedGeneration": 1}}),
        );
        let result = evaluate(&ds, None);
        assert_eq!(result.state, RolloutState::Unsupported);
        assert_eq!(result.message, ROLLING_UPDATE_ONLY);
    }

    #[test]
    fn daemon_set_counts_pods_over_nodes() {
        let ds = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "agent", "generation": 2}, "spec": {},
                   "status": {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 1}}),
        );
        assert_eq!(
            evaluate(&ds, None).message,
            "Waiting for daemon set \"agent\" rollout to finish: 1 of 3 updated pods are available..."
        );
    }

    #[test]
    fn stateful_set_with_a_partition_reports_partitioned_rollout() {
        let sts = |updated: i64| {
            workload(
                WorkloadKind::StatefulSet,
                json!({"metadata": {"name": "db", "generation": 2},
                       "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
                       "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": updated}}),
            )
        };
        assert_eq!(
            evaluate(&sts(1), None).message,
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."
        );
        let done = evaluate(&sts(2), None);
        assert_eq!(
            done.message,
            "partitioned roll out complete: 2 new pods have been updated..."
        );
        assert!(done.done());
    }

    #[test]
    fn stateful_set_without_rolling_update_details_compares_revisions() {
        let sts = workload(
            WorkloadKind::StatefulSet,
            json!({"metadata": {"name": "db", "generation": 2}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1, "currentReplicas": 1,
                              "currentRevision": "db-aaa", "updateRevision": "db-bbb"}}),
        );
        assert_eq!(
            evaluate(&sts, None).message,
            "waiting for statefulset rolling update to complete 1 pods at revision db-bbb..."
        );
    }
}
