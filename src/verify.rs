//! The verify step: kubectl's rollout status for a workload, once or waiting on a watch (not a
//! poll) until the rollout is done, fails, or the time limit passes.
//!
//! Beyond kubectl: the status carries the live revision, and `revision` is checked for
//! DaemonSets and StatefulSets too (kubectl ignores it for them), against the revision whose
//! template is live.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterError};
use crate::rollout::kind::WorkloadKind;
use crate::rollout::status::{self, ReplicaCounts, RolloutState, RolloutStatus};
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
    /// Whether the controller has observed the latest spec.
    pub observed: bool,
    /// What to do next when the rollout failed or cannot be watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// True when the call waited and the time limit passed before the rollout finished.
    pub timed_out: bool,
    /// Seconds spent waiting (0 without `wait`).
    pub waited_seconds: u64,
}

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct StatusQuery {
    /// kubectl's `--revision`: the live revision that is expected.
    pub expected_revision: Option<i64>,
    /// Wait this long for the rollout to finish; None to look once.
    pub wait: Option<Duration>,
}

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
    let mut status = status::evaluate(&current, query.expected_revision);
    // Beyond kubectl: the expected revision of a DaemonSet or StatefulSet is checked against
    // its live ControllerRevision, before any waiting.
    let checks_live =
        query.expected_revision.is_some() && !current.kind.kubectl_checks_expected_revision();
    let mut live = if checks_live {
        live_revision(cluster, &current).await?
    } else {
        None
    };
    expect_revision(&mut status, &current, query.expected_revision, live);
    let mut timed_out = false;
    if let Some(limit) = query.wait.filter(|_| !status.is_final()) {
        progress.changed(&status).await;
        timed_out = watch_until_final(
            cluster,
            &mut current,
            &mut status,
            query,
            started + limit,
            cancelled,
            progress,
        )
        .await?;
        live = None;
    }
    if live.is_none() {
        live = live_revision(cluster, &current).await?;
    }
    expect_revision(&mut status, &current, query.expected_revision, live);
    Ok(report(&current, status, live, timed_out, started.elapsed()))
}

/// Follows the workload on a watch until kubectl's verdict is final, the deadline passes
/// (returns true) or the call is cancelled. Progress is told of every new message.
async fn watch_until_final(
    cluster: &Cluster,
    current: &mut Workload,
    status: &mut RolloutStatus,
    query: StatusQuery,
    deadline: Instant,
    cancelled: &CancellationToken,
    progress: &mut impl ProgressSink,
) -> Result<bool, ClusterError> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(true);
        }
        let seconds = u32::try_from(remaining.as_secs().max(1)).unwrap_or(u32::MAX);
        let events = cluster
            .watch_workload(
                current.kind,
                current.namespace(),
                current.name(),
                current.resource_version(),
                seconds,
            )
            .await?;
        let mut events = std::pin::pin!(events);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let next = tokio::select! {
                next = tokio::time::timeout(remaining, events.next()) => next,
                () = cancelled.cancelled() => return Ok(false),
            };
            let Ok(next) = next else { return Ok(true) };
            // The server closed the watch (its timeoutSeconds): watch again from here.
            let Some(event) = next else { break };
            *current = match event {
                Ok(workload) => workload,
                // 410 Gone: the resourceVersion is too old to watch from; read afresh.
                Err(ClusterError::Api { code: 410, .. }) => {
                    cluster
                        .workload(current.kind, current.namespace(), current.name())
                        .await?
                }
                Err(error) => return Err(error),
            };
            let next_status = status::evaluate(current, query.expected_revision);
            if next_status.message != status.message {
                progress.changed(&next_status).await;
            }
            *status = next_status;
            if status.is_final() {
                return Ok(false);
            }
        }
    }
}

/// Marks a DaemonSet or StatefulSet whose live revision is not the expected one as failed,
/// in kubectl's words for Deployments.
fn expect_revision(
    status: &mut RolloutStatus,
    workload: &Workload,
    expected: Option<i64>,
    live: Option<i64>,
) {
    if workload.kind.kubectl_checks_expected_revision() {
        return;
    }
    if let (Some(expected), Some(live)) = (expected, live)
        && expected != live
    {
        status.state = RolloutState::WrongRevision;
        status.message = format!(
            "desired revision ({expected}) is different from the running revision ({live})"
        );
    }
}

/// The live revision, as history finds it (one LIST): the revision whose template is the live
/// one, so status and history never disagree. None while the controller has not recorded the
/// live template (or a paused Deployment holds an edited one).
async fn live_revision(
    cluster: &Cluster,
    workload: &Workload,
) -> Result<Option<i64>, ClusterError> {
    let set = cluster.revisions(workload).await?;
    Ok(set.live(workload).map(|revision| revision.number))
}

/// What the controller made of an undo write.
pub struct Restored {
    /// The revision number given to the restored template, once recorded.
    pub number: Option<i64>,
    /// How the number was found, or why it is not known.
    pub note: String,
    /// The workload as last seen.
    pub workload: Workload,
}

/// After an undo write: waits (bounded, on a watch) for the controller to observe it, then
/// reads with one LIST the revision that carries the restored template. Its number must be
/// above `highest_before`: the controller renumbers the restored revision to max+1.
pub async fn restored_revision(
    cluster: &Cluster,
    written: &Workload,
    highest_before: i64,
    limit: Duration,
) -> Restored {
    let unknown = |note: String, workload: &Workload| Restored {
        number: None,
        note,
        workload: workload.clone(),
    };
    let observed = match observed(cluster, written, limit).await {
        Ok(Some(observed)) => observed,
        Ok(None) => {
            return unknown(
                format!(
                    "the controller had not observed the write within {}s; check k8s_rollout_status or k8s_rollout_history",
                    limit.as_secs()
                ),
                written,
            );
        }
        Err(error) => {
            return unknown(
                format!("the new revision could not be read back: {error}"),
                written,
            );
        }
    };
    let set = match cluster.revisions(&observed).await {
        Ok(set) => set,
        Err(error) => {
            return unknown(
                format!("the new revision could not be read back: {error}"),
                &observed,
            );
        }
    };
    match set.live(&observed) {
        Some(live) if live.number > highest_before => Restored {
            number: Some(live.number),
            note: format!("read back from {}", live.object_name),
            workload: observed,
        },
        Some(live) => unknown(
            format!(
                "{} still carries revision {}: the controller has not renumbered it yet",
                live.object_name, live.number
            ),
            &observed,
        ),
        None => unknown(
            "no revision carries the restored template yet".into(),
            &observed,
        ),
    }
}

/// The workload once `status.observedGeneration` reaches the write's generation, or None when
/// `limit` passes first.
async fn observed(
    cluster: &Cluster,
    written: &Workload,
    limit: Duration,
) -> Result<Option<Workload>, ClusterError> {
    let generation = written.generation();
    let is_observed = |workload: &Workload| {
        workload.status()["observedGeneration"]
            .as_i64()
            .unwrap_or(0)
            >= generation
    };
    if is_observed(written) {
        return Ok(Some(written.clone()));
    }
    let seconds = u32::try_from(limit.as_secs().max(1)).unwrap_or(u32::MAX);
    let events = cluster
        .watch_workload(
            written.kind,
            written.namespace(),
            written.name(),
            written.resource_version(),
            seconds,
        )
        .await?;
    let waiting = async {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let workload = event?;
            if is_observed(&workload) {
                return Ok(Some(workload));
            }
        }
        Ok(None)
    };
    tokio::time::timeout(limit, waiting)
        .await
        .unwrap_or(Ok(None))
}

fn report(
    workload: &Workload,
    status: RolloutStatus,
    live_revision: Option<i64>,
    timed_out: bool,
    waited: Duration,
) -> StatusReport {
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
        observed: status.observed,
        hint,
        timed_out,
        waited_seconds: waited.as_secs(),
    }
}

/// The report as compact text.
pub fn render(report: &StatusReport) -> String {
    let counts = &report.counts;
    let mut out = format!(
        "{} {}/{}: {}\nstate: {}; revision: {}; {}/{} updated, {} ready, {} available",
        report.kind,
        report.namespace,
        report.name,
        report.message,
        report.state.as_str(),
        report
            .live_revision
            .map_or("unknown".to_string(), |n| n.to_string()),
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
    if let Some(hint) = &report.hint {
        out.push_str(&format!("\nnext: {hint}"));
    }
    out.push('\n');
    out
}
