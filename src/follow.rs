//! Following one workload on a watch: each new version of it until a deadline, across the
//! server ending the watch (its `timeoutSeconds`), a stream that breaks mid-way (a cut
//! connection, a restarting API server: watched again from the last version, a few times in a
//! row at most), and 410 Gone (the resourceVersion is too old to watch from, as for a workload
//! nothing has changed in a while): then the workload is listed again and the watch resumes
//! from the list's resourceVersion, as informers do.
//! Waiting for a rollout (`crate::verify`) and reading back an undo (`crate::undo::readback`)
//! both follow a workload this way.
//!
//! An API server ends a watch only once its `timeoutSeconds` (at least one second here) have
//! passed. A watch that ends sooner, with nothing sent, was ended by something in between (a
//! proxy that closes watch requests): it is watched again after a pause that doubles each
//! time, and given up with an error after [`QUICK_ENDS`] in a row, rather than re-opened in a
//! tight loop until the deadline.

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};

use crate::cluster::{Cluster, ClusterError};
use crate::rollout::workload::Workload;

type Events = Pin<Box<dyn Stream<Item = Result<Workload, ClusterError>> + Send>>;

/// Broken streams in a row (with no event between them) before the break is reported.
const REWATCHES: u32 = 3;
/// Watches in a row ended sooner than [`QUICK_END`], with nothing sent, before following
/// gives up.
const QUICK_ENDS: u32 = 5;
/// A watch that ends sooner than this after it was asked for was not ended by the API server:
/// [`open`] asks for at least one second.
const QUICK_END: Duration = Duration::from_secs(1);
/// The pause before watching again after a quick end, doubled after each one in a row.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// A workload being followed.
pub struct Follow<'a> {
    cluster: &'a Cluster,
    /// The latest version seen.
    last: Workload,
    /// The resourceVersion the next watch starts from: the last object's, or a list's.
    resume_from: String,
    deadline: Instant,
    events: Option<Events>,
    /// When the open watch was asked for.
    opened: Instant,
    /// Streams that broke since the last event.
    broken: u32,
    /// Watches in a row that ended at once, with nothing sent.
    quick_ends: u32,
}

impl<'a> Follow<'a> {
    /// Follows `from` (as last read) until `deadline`.
    pub fn new(cluster: &'a Cluster, from: Workload, deadline: Instant) -> Self {
        Self {
            cluster,
            resume_from: from.resource_version().to_string(),
            last: from,
            deadline,
            events: None,
            opened: Instant::now(),
            broken: 0,
            quick_ends: 0,
        }
    }

    /// The next version of the workload, or None once the deadline passes. After a 410 the
    /// freshly listed workload is returned, changed or not.
    pub async fn next(&mut self) -> Result<Option<&Workload>, ClusterError> {
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            let events = match self.events.as_mut() {
                Some(events) => events,
                None => {
                    let asked = Instant::now();
                    match open(self.cluster, &self.last, &self.resume_from, remaining).await {
                        Ok(events) => {
                            self.opened = asked;
                            self.events.insert(events)
                        }
                        Err(error) if error.is_gone() => return self.relist().await.map(Some),
                        Err(error) => return Err(error),
                    }
                }
            };
            match tokio::time::timeout(remaining, events.next()).await {
                Err(_) => return Ok(None),
                // The watch ended: watch again from the last version.
                Ok(None) => {
                    self.events = None;
                    self.pause_after_an_end(remaining).await?;
                }
                Ok(Some(Ok(workload))) => {
                    self.broken = 0;
                    self.quick_ends = 0;
                    self.resume_from = workload.resource_version().to_string();
                    self.last = workload;
                    return Ok(Some(&self.last));
                }
                Ok(Some(Err(error))) if error.is_gone() => {
                    self.events = None;
                    return self.relist().await.map(Some);
                }
                // The stream broke: watch again from the last version seen (events are not
                // lost: the new watch replays what came after it).
                Ok(Some(Err(error))) if error.is_transient() && self.broken < REWATCHES => {
                    tracing::debug!(%error, "a watch broke; watching again");
                    self.broken += 1;
                    self.events = None;
                }
                Ok(Some(Err(error))) => return Err(error),
            }
        }
    }

    /// After a watch ended: nothing when the API server ended it (it ran for a while); after a
    /// quick end, a pause that doubles with each in a row (within the `remaining` time), or
    /// the error that gives up after [`QUICK_ENDS`].
    async fn pause_after_an_end(&mut self, remaining: Duration) -> Result<(), ClusterError> {
        if self.opened.elapsed() >= QUICK_END {
            self.quick_ends = 0;
            return Ok(());
        }
        self.quick_ends += 1;
        if self.quick_ends == QUICK_ENDS {
            return Err(ClusterError::WatchEndedEarly {
                server: self.cluster.server.clone(),
                context: self.cluster.context.clone(),
                resource: self.last.kind.plural(),
                namespace: self.last.namespace().to_string(),
                name: self.last.name().to_string(),
                ends: self.quick_ends,
            });
        }
        let pause = FIRST_PAUSE * 2u32.pow(self.quick_ends - 1);
        tracing::debug!(
            ?pause,
            ends = self.quick_ends,
            "a watch ended at once; watching again after a pause"
        );
        tokio::time::sleep(pause.min(remaining)).await;
        Ok(())
    }

    /// Lists the workload again; the next watch starts from the list's resourceVersion.
    async fn relist(&mut self) -> Result<&Workload, ClusterError> {
        let (workload, version) = self
            .cluster
            .list_workload(self.last.kind, self.last.namespace(), self.last.name())
            .await?;
        self.resume_from = version;
        self.last = workload;
        Ok(&self.last)
    }
}

/// Watches `last` from `resume_from` for at most `remaining` (the server ends it then).
async fn open(
    cluster: &Cluster,
    last: &Workload,
    resume_from: &str,
    remaining: Duration,
) -> Result<Events, ClusterError> {
    let seconds = u32::try_from(remaining.as_secs().max(1)).unwrap_or(u32::MAX);
    let events = cluster
        .watch_workload(
            last.kind,
            last.namespace(),
            last.name(),
            resume_from,
            seconds,
        )
        .await?;
    Ok(Box::pin(events))
}
