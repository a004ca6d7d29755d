//! Reading back an undo: which revision number the controller gave the restored template.
//!
//! The PATCH returns before any controller has reacted; the Deployment controller renumbers
//! the restored ReplicaSet (the DaemonSet and StatefulSet controllers their ControllerRevision)
//! milliseconds to seconds later. So: follow the workload (bounded, on a watch that survives
//! 410 Gone) until `status.observedGeneration` reaches the write's generation, then LIST the
//! revisions once. Whatever fails here, the write stands: the answer is a note saying what is
//! not known yet and how to find out.

use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterError};
use crate::follow::Follow;
use crate::rollout::workload::Workload;

use super::report::ReadBack;

/// What was read back, and the workload as last seen (for the wait that may follow).
pub struct Restored {
    pub read_back: ReadBack,
    pub workload: Workload,
}

/// Waits up to `limit` for the controller to observe `written`, then reads the revision that
/// carries the restored template. Its number must be above `highest_before`: the controller
/// renumbers the restored revision to max+1.
pub async fn restored_revision(
    cluster: &Cluster,
    written: &Workload,
    highest_before: i64,
    limit: Duration,
) -> Restored {
    let unknown = |note: String, workload: &Workload| Restored {
        read_back: ReadBack {
            note,
            ..ReadBack::default()
        },
        workload: workload.clone(),
    };
    let failed = |error: ClusterError| {
        format!(
            "the new revision could not be read back ({error}); the rollback was written: check k8s_rollout_history"
        )
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
        Err(error) => return unknown(failed(error), written),
    };
    let set = match cluster.revisions(&observed).await {
        Ok(set) => set,
        Err(error) => return unknown(failed(error), &observed),
    };
    match set.live(&observed) {
        Some(live) if live.number > highest_before => Restored {
            read_back: ReadBack {
                number: Some(live.number),
                object: Some(live.object_name.clone()),
                note: format!("read back from {}", live.object_name),
            },
            workload: observed,
        },
        Some(live) => unknown(
            format!(
                "{} still carries revision {}: the controller has not renumbered it yet; check k8s_rollout_history",
                live.object_name, live.number
            ),
            &observed,
        ),
        None => unknown(
            "no revision carries the restored template yet; check k8s_rollout_history".into(),
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
    let mut follow = Follow::new(cluster, written.clone(), Instant::now() + limit);
    while let Some(workload) = follow.next().await? {
        if is_observed(workload) {
            return Ok(Some(workload.clone()));
        }
    }
    Ok(None)
}
