//! The verify step: kubectl's rollout status for a workload, once or waiting on a watch (not a
//! poll, resumed across 410 Gone: `crate::follow`) until the rollout is done, fails, or the
//! time limit passes.
//!
//! Beyond kubectl: the status says why the rollout stands where it does ([`evidence`]: pods by
//! revision and state, Warning events), names the live revision and the ReplicaSet or ControllerRevision
//! carrying it, and `revision` is checked for DaemonSets and StatefulSets too (kubectl ignores
//! it for them), against the revision whose template is live. A progress deadline condition
//! left over from an earlier rollout (it names another ReplicaSet than the live one, or predates
//! our undo) is not taken for a failure ([`status::EarlierRollout`]).

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterError};
use crate::follow::Follow;
use crate::rollout::evidence::{self, Evidence};
use crate::rollout::kind::WorkloadKind;
use crate::rollout::revisions::RevisionSet;
use crate::rollout::status::{self, EarlierRollout, ReplicaCounts, RolloutState, RolloutStatus};
use crate::rollout::workload::Workload;

/// The longest a status call may wait, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 600;
/// The wait when none is given, in seconds.
pub const DEFAULT_WAIT_SECONDS: u64 = 120;

/// Told about every change of kubectl's message while waiting.
pub trait ProgressSink {
    fn changed(&mut self, status: &RolloutStatus) -> impl Future<Output = ()> + Send;
}

/// No one to tell.
impl ProgressSink for () {
    async fn changed(&mut self, _status: &RolloutStatus) {}
}

/// The result of a status check.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// kubectl would exit 0: the rollout is complete.
    pub done: bool,
    /// kubectl would report an error: deadline exceeded or revision mismatch.
    pub failed: bool,
    pub state: RolloutState,
    /// kubectl's message.
    pub message: String,
    pub counts: ReplicaCounts,
    /// The revision whose template is live.
    pub live_revision: Option<i64>,
    /// The ReplicaSet or ControllerRevision carrying the live template.
    pub live_revision_object: Option<String>,
    /// Whether the controller has observed the latest spec.
    pub observed: bool,
    /// What to do next when the rollout failed or cannot be watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// True when the call waited and the time limit passed before the rollout finished.
    pub timed_out: bool,
    /// Seconds spent waiting (0 without `wait`).
    pub waited_seconds: u64,
    /// Why it stands there: pods by revision and state, Warning events.
    pub evidence: Evidence,
    /// Warnings about the cluster (a Kubernetes release outside the tested ones, on a
    /// context's first result).
    pub warnings: Vec<String>,
}

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct StatusQuery {
    /// kubectl's `--revision`: the live revision that is expected.
    pub expected_revision: Option<i64>,
    /// Wait this long for the rollout to finish; None to look once.
    pub wait: Option<Duration>,
    /// After an undo: the `Progressing` condition's `lastUpdateTime` before the write
    /// ([`status::EarlierRollout::updated_before_write`]).
    pub progressing_before: Option<Timestamp>,
}

/// The live revision's number and the object carrying it.
type Live = Option<(i64, String)>;

/// Checks (and optionally waits for) the rollout of a workload already fetched.
pub async fn check(
    cluster: &Cluster,
    workload: Workload,
    query: StatusQuery,
    cancelled: &CancellationToken,
    progress: &mut impl ProgressSink,
) -> Result<StatusReport, ClusterError> {
    let started = Instant::now();
    let mut current = workload;
    // Beyond kubectl, both judged against the live revision before any waiting: the expected
    // revision of a DaemonSet or StatefulSet (its live ControllerRevision), and a Deployment's
    // deadline condition (the live ReplicaSet: is the condition about it?).
    let checks_live =
        query.expected_revision.is_some() && !current.kind.kubectl_checks_expected_revision();
    let mut set = if checks_live || status::has_deadline_condition(&current) {
        Some(cluster.revisions(&current).await?)
    } else {
        None
    };
    let live_before = set.as_ref().and_then(|set| live(set, &current));
    let earlier = EarlierRollout {
        live_replica_set: live_before.as_ref().map(|(_, object)| object.as_str()),
        updated_before_write: query.progressing_before,
    };
    let evaluate = |workload: &Workload| {
        status::with_earlier_rollout(workload, query.expected_revision, earlier)
    };
    let mut status = evaluate(&current);
    expect_revision(
        &mut status,
        &current,
        query.expected_revision,
        live_before.as_ref(),
    );
    let mut timed_out = false;
    if let Some(limit) = query.wait.filter(|_| !status.is_final()) {
        progress.changed(&status).await;
        timed_out = watch_until_final(
            Follow::new(cluster, current.clone(), started + limit),
            &mut current,
            &mut status,
            evaluate,
            cancelled,
            progress,
        )
        .await?;
        set = None;
    }
    let set = match set {
        Some(set) => set,
        None => cluster.revisions(&current).await?,
    };
    let live = live(&set, &current);
    expect_revision(
        &mut status,
        &current,
        query.expected_revision,
        live.as_ref(),
    );
    let evidence = evidence(cluster, &current, &set).await;
    let mut report = report(&current, status, live, timed_out, started.elapsed());
    report.evidence = evidence;
    Ok(report)
}

/// Why the rollout stands where it does: the workload's pods and its namespace's Warning
/// events (two LISTs, sent together), summarised by `rollout::evidence`. Never a reason to
/// fail the call: what cannot be read is one line in `unavailable`.
pub async fn evidence(cluster: &Cluster, workload: &Workload, set: &RevisionSet) -> Evidence {
    let (pods, events) = tokio::join!(
        cluster.pods(workload),
        cluster.warning_events(workload.namespace())
    );
    let mut unavailable = Vec::new();
    let (pods, pods_sampled) = pods.unwrap_or_else(|error| {
        unavailable.push(format!("pods could not be read: {error}"));
        (Vec::new(), false)
    });
    let (events, events_sampled) = events.unwrap_or_else(|error| {
        unavailable.push(format!("events could not be read: {error}"));
        (Vec::new(), false)
    });
    if events_sampled {
        unavailable.push(format!(
            "only the first {} Warning events of namespace \"{}\" were read",
            evidence::EVENTS_READ,
            workload.namespace()
        ));
    }
    Evidence {
        warning_events: evidence::warning_events(workload, set, &pods, &events),
        pods: evidence::pods(workload, set, &pods),
        pods_sampled,
        unavailable,
    }
}

/// Follows the workload until the verdict is final, the deadline passes (returns true) or the
/// call is cancelled. Progress is told of every new message.
async fn watch_until_final(
    mut follow: Follow<'_>,
    current: &mut Workload,
    status: &mut RolloutStatus,
    evaluate: impl Fn(&Workload) -> RolloutStatus,
    cancelled: &CancellationToken,
    progress: &mut impl ProgressSink,
) -> Result<bool, ClusterError> {
    loop {
        let next = tokio::select! {
            next = follow.next() => next?,
            () = cancelled.cancelled() => return Ok(false),
        };
        let Some(next) = next else { return Ok(true) };
        *current = next.clone();
        let next_status = evaluate(current);
        if next_status.message != status.message {
            progress.changed(&next_status).await;
        }
        *status = next_status;
        if status.is_final() {
            return Ok(false);
        }
    }
}

/// Marks a DaemonSet or StatefulSet whose live revision is not the expected one as failed,
/// in kubectl's words for Deployments.
fn expect_revision(
    status: &mut RolloutStatus,
    workload: &Workload,
    expected: Option<i64>,
    live: Option<&(i64, String)>,
) {
    if workload.kind.kubectl_checks_expected_revision() {
        return;
    }
    if let (Some(expected), Some((live, _))) = (expected, live)
        && expected != *live
    {
        status.state = RolloutState::WrongRevision;
        status.message = format!(
            "desired revision ({expected}) is different from the running revision ({live})"
        );
    }
}

/// The live revision, as history finds it: the revision whose template is the live one, so
/// status and history never disagree. None while the controller has not recorded the live
/// template (or a paused Deployment holds an edited one).
fn live(set: &RevisionSet, workload: &Workload) -> Live {
    set.live(workload)
        .map(|revision| (revision.number, revision.object_name.clone()))
}

fn report(
    workload: &Workload,
    status: RolloutStatus,
    live: Live,
    timed_out: bool,
    waited: Duration,
) -> StatusReport {
    let (live_revision, live_revision_object) = live.unzip();
    let subject = format!(
        "{} {}/{}",
        workload.kind,
        workload.namespace(),
        workload.name()
    );
    let hint = match status.state {
        RolloutState::Failed => Some(format!(
            "the rollout of {subject} failed: inspect k8s_rollout_history to find the last good revision, and consider k8s_rollout_undo to it"
        )),
        RolloutState::WrongRevision => Some(format!(
            "{subject} is not at the expected revision: someone else deployed or undid it; inspect k8s_rollout_history before acting"
        )),
        RolloutState::Unsupported => Some(format!(
            "{subject} does not use the RollingUpdate strategy: its pods change only when deleted, so there is no rollout to watch"
        )),
        RolloutState::Progressing if status.stale_deadline.is_some() => Some(format!(
            "the progress deadline condition of {subject} (\"{}\") is left over from the rollout before this one; the Deployment controller keeps it until {} makes progress (and does not time that one out while it stands), so it is not this rollout's failure: judge it by its pods",
            status.stale_deadline.as_deref().unwrap_or_default(),
            live_revision_object
                .as_deref()
                .map_or("the restored ReplicaSet".to_string(), |name| format!(
                    "the restored ReplicaSet {name}"
                )),
        )),
        RolloutState::Progressing if workload.paused() => Some(format!(
            "{subject} is paused, so its rollout will not progress; resume it (`kubectl rollout resume`) to continue"
        )),
        RolloutState::Progressing if timed_out => Some(format!(
            "{subject} is still rolling out; check again later, or inspect k8s_rollout_history if it seems stuck"
        )),
        _ => None,
    };
    StatusReport {
        kind: workload.kind,
        namespace: workload.namespace().to_string(),
        name: workload.name().to_string(),
        done: status.done(),
        failed: status.failed(),
        state: status.state,
        message: status.message,
        counts: status.counts,
        live_revision,
        live_revision_object,
        observed: status.observed,
        hint,
        timed_out,
        waited_seconds: waited.as_secs(),
        evidence: Evidence::default(),
        warnings: Vec::new(),
    }
}

/// The report as compact text.
pub fn render(report: &StatusReport) -> String {
    let counts = &report.counts;
    let revision = match (&report.live_revision, &report.live_revision_object) {
        (Some(number), Some(object)) => format!("{number} ({object})"),
        _ => "unknown".to_string(),
    };
    let mut out = format!(
        "{} {}/{}: {}\nstate: {}; revision: {revision}; {}/{} updated, {} ready, {} available",
        report.kind,
        report.namespace,
        report.name,
        report.message,
        report.state.as_str(),
        counts.updated,
        counts.desired,
        counts.ready,
        counts.available,
    );
    if report.timed_out {
        out.push_str(&format!(
            "\nstopped waiting after {}s",
            report.waited_seconds
        ));
    }
    out.push('\n');
    out.push_str(&report.evidence.render());
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if let Some(hint) = &report.hint {
        out.push_str(&format!("next: {hint}\n"));
    }
    out
}
