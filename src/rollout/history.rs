//! The history report: kubectl's revision list plus the facts that answer "which one was
//! good?": when each revision was made, roughly how long it was live, its images, its
//! change-cause, and the live revision's health.
//!
//! Pure: built from a workload, its revision set and the current time.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::clip;
use super::diff::{self, TemplateDiff};
use super::evidence::Evidence;
use super::kind::WorkloadKind;
use super::revisions::{Revision, RevisionLookupError, RevisionSet};
use super::status;
use super::template::{self, ContainerImage};
use super::warnings;
use super::workload::Workload;

/// kubectl's answer when a workload has no revisions.
pub const NO_HISTORY: &str = "No rollout history found.";

/// What the caller asked to see besides the list.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    /// Newest revisions to list.
    pub limit: usize,
    /// Show this revision in full and diff it.
    pub revision: Option<i64>,
    /// Diff `revision` against this revision instead of the live template.
    pub compare_with: Option<i64>,
    /// Show env values instead of redacting them (operator opt-in).
    pub show_env_values: bool,
}

/// One line of history.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RevisionSummary {
    pub revision: i64,
    /// True for the revision whose template is the live one.
    pub live: bool,
    /// The ReplicaSet or ControllerRevision that holds it.
    pub object: String,
    /// Creation time of that object (RFC 3339).
    pub created: Option<String>,
    /// Age of that object, e.g. `3d4h`.
    pub age: Option<String>,
    /// Estimated time this revision was (or has been) live, e.g. `2d5h`; `<=2d` when only an
    /// upper bound is known. An estimate from creation times and revision order: the API keeps
    /// no record of when a reused revision became live again.
    pub live_for_estimate: Option<String>,
    pub live_for_estimate_seconds: Option<i64>,
    /// When it stopped being live (RFC 3339): when the next revision was made. An estimate,
    /// like the live time; None for the live revision or when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_estimate: Option<String>,
    /// Set when it was live for less than the Deployment's progress deadline: it may never
    /// have finished rolling out, so its being replaced says nothing about its health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_lived: Option<String>,
    pub change_cause: Option<String>,
    pub images: Vec<ContainerImage>,
    /// For the live revision: its rollout health in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Numbers this ReplicaSet carried before it was reused (`revision-history`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_numbers: Vec<i64>,
}

/// One revision in full, with its diff.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RevisionDetail {
    pub revision: i64,
    pub object: String,
    /// The pod template as an undo would restore it (env values redacted unless shown).
    #[schemars(extend("type" = "object"))]
    pub template: serde_json::Value,
    /// What would change going from the compared template to this revision.
    pub diff: TemplateDiff,
}

/// The result of a history call.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HistoryReport {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The live revision, if the controller has recorded the live template.
    pub live_revision: Option<i64>,
    /// The newest revisions (at most `limit`), oldest first as kubectl prints them.
    pub revisions: Vec<RevisionSummary>,
    /// How many older revisions the limit left out.
    pub omitted_older: usize,
    /// kubectl's `No rollout history found.` when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<RevisionDetail>,
    /// `redacted` or `shown`.
    pub env_values: &'static str,
    pub warnings: Vec<String>,
    /// When the live revision is not healthy: why (pods by revision and state, Warning
    /// events). Read only then, so a healthy history costs two requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// Builds the report, or says which requested revision does not exist.
pub fn report(
    workload: &Workload,
    set: &RevisionSet,
    query: HistoryQuery,
    now: Timestamp,
) -> Result<HistoryReport, RevisionLookupError> {
    let live = set.live(workload);
    let live_number = live.map(|revision| revision.number);
    let detail = query
        .revision
        .map(|number| detail(workload, set, number, query, live_number))
        .transpose()?;

    let live_index = live.and_then(|live| {
        set.revisions
            .iter()
            .position(|revision| revision.object_name == live.object_name)
    });
    let live_times = live_times(&set.revisions, live_index, now);
    let deadline = workload.progress_deadline_seconds();
    let mut summaries: Vec<RevisionSummary> = set
        .revisions
        .iter()
        .zip(live_times)
        .enumerate()
        .map(|(index, (revision, live_time))| {
            let is_live = live_index == Some(index);
            let LiveTime { live_for, replaced } = live_time;
            let short_lived = deadline
                .zip(live_for.as_ref())
                .filter(|(deadline, (_, seconds))| !is_live && seconds < deadline)
                .map(|(deadline, (text, _))| {
                    format!(
                        "live for {text}, less than its progress deadline ({deadline}s): it may never have finished rolling out"
                    )
                });
            RevisionSummary {
                revision: revision.number,
                live: is_live,
                object: revision.object_name.clone(),
                created: revision.created.map(|time| time.to_string()),
                age: revision
                    .created
                    .map(|time| human_duration(now.duration_since(time))),
                live_for_estimate_seconds: live_for.as_ref().map(|(_, seconds)| *seconds),
                live_for_estimate: live_for.map(|(text, _)| text),
                replaced_estimate: replaced.filter(|_| !is_live).map(|time| time.to_string()),
                short_lived,
                change_cause: revision
                    .change_cause
                    .as_deref()
                    .map(|cause| clip::text(cause, clip::FIELD).into_owned()),
                images: revision.images.clone(),
                health: is_live.then(|| health(workload)),
                earlier_numbers: revision.earlier_numbers.clone(),
            }
        })
        .collect();
    let limit = query.limit.max(1);
    let omitted_older = summaries.len().saturating_sub(limit);
    summaries.drain(..omitted_older);

    Ok(HistoryReport {
        kind: workload.kind,
        namespace: workload.namespace().to_string(),
        name: workload.name().to_string(),
        live_revision: live_number,
        revisions: summaries,
        omitted_older,
        message: set.is_empty().then(|| NO_HISTORY.to_string()),
        detail,
        env_values: if query.show_env_values {
            "shown"
        } else {
            "redacted"
        },
        warnings: warnings::for_history(workload, set, live_number),
        evidence: None,
    })
}

fn detail(
    workload: &Workload,
    set: &RevisionSet,
    number: i64,
    query: HistoryQuery,
    live_number: Option<i64>,
) -> Result<RevisionDetail, RevisionLookupError> {
    let revision = set.find(number)?;
    let restored = revision.template();
    let (label, compared) = match query.compare_with {
        Some(other) => (format!("revision {other}"), set.find(other)?.template()),
        None => (
            match live_number {
                Some(live) => format!("live template (revision {live})"),
                None => "live template".to_string(),
            },
            workload.template().clone(),
        ),
    };
    let diff = diff::diff(
        &label,
        &compared,
        &format!("revision {number}"),
        &restored,
        query.show_env_values,
    );
    let shown = if query.show_env_values {
        restored
    } else {
        template::redact(&restored)
    };
    Ok(RevisionDetail {
        revision: number,
        object: revision.object_name.clone(),
        template: shown,
        diff,
    })
}

/// One period a revision number was live, as far as the API can tell.
#[derive(Debug, Clone, Copy)]
struct Stint {
    number: i64,
    /// Index of the revision object that carried the number.
    object: usize,
    start: Option<Timestamp>,
    /// False when the start is only a lower bound: a number an object took when it was reused
    /// (its `revision-history` shows an earlier one) began at some unknown time after the
    /// number before it.
    exact: bool,
}

/// Every number each revision object has carried (its current one and its
/// `revision-history`), in order. An object's first number started at its creation time;
/// later numbers started no earlier than the number before them.
fn timeline(revisions: &[Revision]) -> Vec<Stint> {
    let mut stints: Vec<Stint> = revisions
        .iter()
        .enumerate()
        .flat_map(|(object, revision)| {
            let first = revision
                .earlier_numbers
                .iter()
                .copied()
                .chain([revision.number])
                .min()
                .unwrap_or(revision.number);
            revision
                .earlier_numbers
                .iter()
                .copied()
                .chain([revision.number])
                .map(move |number| Stint {
                    number,
                    object,
                    start: (number == first).then_some(revision.created).flatten(),
                    exact: number == first,
                })
        })
        .collect();
    stints.sort_by_key(|stint| stint.number);
    let mut previous: Option<Timestamp> = None;
    for stint in &mut stints {
        match (stint.start, previous) {
            (Some(start), Some(before)) if start < before => {
                stint.start = Some(before);
                stint.exact = false;
            }
            (None, before) => {
                stint.start = before;
                stint.exact = false;
            }
            _ => {}
        }
        previous = stint.start;
    }
    stints
}

/// How long one revision object was live, and when it last stopped being live.
#[derive(Debug, Clone, Default)]
struct LiveTime {
    /// `2d5h` (or `<=2d5h`) and the seconds.
    live_for: Option<(String, i64)>,
    /// The end of its last stint: when the next number started.
    replaced: Option<Timestamp>,
}

/// How long each revision object was live in total: each of its stints lasted until the next
/// number started (when that start is known) or, for the live object's current number, until
/// now. A stint whose start is only a lower bound makes the total an upper bound, written
/// `<=`; an unknown start or end makes it unknown. One pass over the stints, so the work grows
/// with the numbers the objects carry, not with their count squared.
fn live_times(revisions: &[Revision], live: Option<usize>, now: Timestamp) -> Vec<LiveTime> {
    let stints = timeline(revisions);
    let mut totals: Vec<Option<(SignedDuration, bool)>> =
        vec![Some((SignedDuration::ZERO, false)); revisions.len()];
    let mut replaced: Vec<Option<Timestamp>> = vec![None; revisions.len()];
    for (index, stint) in stints.iter().enumerate() {
        let Some((total, upper_bound)) = totals[stint.object].as_mut() else {
            continue;
        };
        let end = if live == Some(stint.object) && stint.number == revisions[stint.object].number {
            Some(now)
        } else {
            stints
                .get(index + 1)
                .filter(|next| next.exact)
                .and_then(|next| next.start)
        };
        // Stints come in number order, so an object's last one is seen last.
        replaced[stint.object] = end;
        match (stint.start, end) {
            (Some(start), Some(end)) => {
                *total += end.duration_since(start);
                *upper_bound |= !stint.exact;
            }
            _ => totals[stint.object] = None,
        }
    }
    totals
        .into_iter()
        .zip(replaced)
        .map(|(total, replaced)| LiveTime {
            live_for: total.map(|(total, upper_bound)| {
                let bound = if upper_bound { "<=" } else { "" };
                (format!("{bound}{}", human_duration(total)), total.as_secs())
            }),
            replaced,
        })
        .collect()
}

/// Whether the live revision's rollout is complete (else history reads the evidence).
pub fn healthy(workload: &Workload) -> bool {
    status::evaluate(workload, None).done()
}

/// The live revision's rollout health in one line.
pub fn health(workload: &Workload) -> String {
    let status = status::evaluate(workload, None);
    let counts = &status.counts;
    format!(
        "{}/{} updated, {} ready, {} available: {}",
        counts.updated, counts.desired, counts.ready, counts.available, status.message
    )
}

/// A duration as kubectl prints ages: the two largest units, e.g. `3d4h`, `5m10s`.
pub fn human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs().max(0);
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) if secs == 0 => format!("{minutes}m"),
        (0, 0, _) => format!("{minutes}m{secs}s"),
        (0, _, 0) => format!("{hours}h"),
        (0, _, _) => format!("{hours}h{minutes}m"),
        (_, 0, _) => format!("{days}d"),
        _ => format!("{days}d{hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::revisions::tests::{deployment, replica_set};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn three_revisions() -> RevisionSet {
        RevisionSet::owned_by(
            &deployment("app:2"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("1"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-bbb",
                    "uid-web",
                    Some("2"),
                    "app:2",
                    "2026-01-03T00:00:00Z",
                ),
                replica_set(
                    "web-ccc",
                    "uid-web",
                    Some("3"),
                    "app:3",
                    "2026-01-06T00:00:00Z",
                ),
            ],
        )
    }

    #[test]
    fn marks_the_live_revision_and_estimates_how_long_each_was_live() {
        let report = report(
            &deployment("app:3"),
            &three_revisions(),
            HistoryQuery {
                limit: 20,
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        let lines: Vec<(i64, bool, Option<&str>)> = report
            .revisions
            .iter()
            .map(|r| (r.revision, r.live, r.live_for_estimate.as_deref()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (1, false, Some("2d")),
                (2, false, Some("3d")),
                (3, true, Some("4d"))
            ]
        );
        assert_eq!(report.live_revision, Some(3));
        assert_eq!(report.revisions[0].age.as_deref(), Some("9d"));
        assert_eq!(report.revisions[2].images[0].image, "app:3");
        assert!(report.revisions[2].health.is_some());
        assert!(report.revisions[0].health.is_none());
    }

    #[test]
    fn a_revision_replaced_within_its_progress_deadline_is_flagged_short_lived() {
        // Revision 2 was replaced five minutes after it was created, inside the default
        // 600 s deadline: it may never have finished rolling out.
        let set = RevisionSet::owned_by(
            &deployment("app:3"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("1"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-bbb",
                    "uid-web",
                    Some("2"),
                    "app:2",
                    "2026-01-03T00:00:00Z",
                ),
                replica_set(
                    "web-ccc",
                    "uid-web",
                    Some("3"),
                    "app:3",
                    "2026-01-03T00:05:00Z",
                ),
            ],
        );
        let report = report(
            &deployment("app:3"),
            &set,
            HistoryQuery {
                limit: 20,
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        let flags: Vec<(i64, Option<&str>, Option<&str>)> = report
            .revisions
            .iter()
            .map(|r| {
                (
                    r.revision,
                    r.replaced_estimate.as_deref(),
                    r.short_lived.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                (1, Some("2026-01-03T00:00:00Z"), None),
                (
                    2,
                    Some("2026-01-03T00:05:00Z"),
                    Some(
                        "live for 5m, less than its progress deadline (600s): it may never have finished rolling out"
                    )
                ),
                (3, None, None),
            ],
            "the live revision is never flagged or replaced"
        );
    }

    #[test]
    fn a_reused_revision_counts_its_earlier_stint_from_revision_history() {
        // 1, 2, 3 then undo to 2: the controller renumbers web-bbb to 4. It was live as 2 for
        // 3d (Jan 3 to Jan 6), and as 4 since some time after Jan 6: at most 4d.
        let mut reused = replica_set(
            "web-bbb",
            "uid-web",
            Some("4"),
            "app:2",
            "2026-01-03T00:00:00Z",
        );
        reused.metadata.annotations.insert(
            crate::rollout::revisions::REVISION_HISTORY.into(),
            "2".into(),
        );
        let set = RevisionSet::owned_by(
            &deployment("app:2"),
            vec![
                replica_set(
                    "web-aaa",
                    "uid-web",
                    Some("1"),
                    "app:1",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-ccc",
                    "uid-web",
                    Some("3"),
                    "app:3",
                    "2026-01-06T00:00:00Z",
                ),
                reused,
            ],
        );
        let report = report(
            &deployment("app:2"),
            &set,
            HistoryQuery {
                limit: 20,
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        let live = report.revisions.last().unwrap();
        assert_eq!((live.revision, live.live), (4, true));
        assert_eq!(live.live_for_estimate.as_deref(), Some("<=7d"));
        assert_eq!(live.earlier_numbers, vec![2]);
        assert_eq!(
            report.revisions[1].live_for_estimate, None,
            "revision 3 ended at an unknown time"
        );
    }

    #[test]
    fn limit_keeps_the_newest_and_counts_the_rest() {
        let report = report(
            &deployment("app:3"),
            &three_revisions(),
            HistoryQuery {
                limit: 2,
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            report
                .revisions
                .iter()
                .map(|r| r.revision)
                .collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(report.omitted_older, 1);
    }

    #[test]
    fn a_revision_is_diffed_against_the_live_template_by_default() {
        let report = report(
            &deployment("app:3"),
            &three_revisions(),
            HistoryQuery {
                limit: 20,
                revision: Some(1),
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        let detail = report.detail.unwrap();
        assert_eq!(detail.diff.from, "live template (revision 3)");
        assert_eq!(detail.diff.to, "revision 1");
        assert_eq!(detail.diff.changes[0].before.as_deref(), Some("app:3"));
        assert_eq!(detail.diff.changes[0].after.as_deref(), Some("app:1"));
        assert_eq!(
            detail.template["metadata"]["labels"]["pod-template-hash"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn an_unknown_revision_names_the_ones_that_exist() {
        let error = report(
            &deployment("app:3"),
            &three_revisions(),
            HistoryQuery {
                limit: 20,
                revision: Some(1),
                compare_with: Some(9),
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(
            error,
            RevisionLookupError::NotFound {
                requested: 9,
                available: vec![1, 2, 3]
            }
        );
    }

    #[test]
    fn empty_history_says_so_like_kubectl() {
        let report = report(
            &deployment("app:3"),
            &RevisionSet::default(),
            HistoryQuery {
                limit: 20,
                ..Default::default()
            },
            at("2026-01-10T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(report.message.as_deref(), Some(NO_HISTORY));
        assert_eq!(report.live_revision, None);
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        let cases = [
            (59, "59s"),
            (60, "1m"),
            (125, "2m5s"),
            (7200, "2h"),
            (7260, "2h1m"),
            (86_400 * 3 + 3600 * 4, "3d4h"),
            (86_400 * 2, "2d"),
        ];
        for (seconds, text) in cases {
            assert_eq!(human_duration(SignedDuration::from_secs(seconds)), text);
        }
    }
}
