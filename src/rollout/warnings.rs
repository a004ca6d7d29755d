//! Warnings a human should read before trusting a history or approving an undo: GitOps
//! controllers that will revert it, a Helm release it drifts from, other field managers of the
//! pod template, `kubectl apply` state that may undo it, a paused
//! Deployment, an update strategy that will not replace pods, and gaps in the history.

use super::clip;
use super::revisions::RevisionSet;
use super::workload::{LAST_APPLIED, Workload};

/// Warnings about the workload itself; they matter for history and undo alike.
pub fn for_workload(workload: &Workload) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some((tool, marker)) = workload.gitops_manager() {
        warnings.push(format!(
            "{} {}/{} is managed by {tool} ({}): its next sync will revert an undo; roll back in Git, or suspend the sync first",
            workload.kind,
            workload.namespace(),
            workload.name(),
            clip::untrusted(&marker, clip::VALUE)
        ));
    }
    let subject = format!(
        "{} {}/{}",
        workload.kind,
        workload.namespace(),
        workload.name()
    );
    if let Some(release) = workload.helm_release() {
        warnings.push(format!(
            "{subject} is managed by Helm ({}): use `helm rollback`, or the release record drifts from what runs and the next `helm upgrade` reverts the undo",
            clip::untrusted(&release, clip::VALUE)
        ));
    }
    let managers = workload.template_managers();
    if !managers.is_empty() {
        warnings.push(format!(
            "spec.template of {subject} is also owned by field manager {}: it may write the template back after an undo",
            clip::untrusted(&clip::list(&managers, clip::ITEMS, ", "), clip::VALUE)
        ));
    }
    if workload.annotations().contains_key(LAST_APPLIED) {
        warnings.push(format!(
            "{LAST_APPLIED} is present: a later `kubectl apply` of the current manifest will undo a rollback"
        ));
    }
    if workload.paused() {
        warnings.push(
            "the deployment is paused: an undo is refused until it is resumed (`kubectl rollout resume`)"
                .to_string(),
        );
    }
    if workload.strategy_type() == "OnDelete" {
        warnings.push(format!(
            "{} uses the OnDelete update strategy: pods keep the old template until they are deleted",
            workload.kind
        ));
    }
    warnings
}

/// Warnings for a history: the workload's, plus what kubectl skipped, duplicate numbers,
/// revisions deleted by the history limit, and a live template not yet recorded.
pub fn for_history(workload: &Workload, set: &RevisionSet, live: Option<i64>) -> Vec<String> {
    let mut warnings = for_workload(workload);
    warnings.extend(set.warnings.iter().cloned());
    let duplicates = set.duplicates();
    for duplicate in duplicates.iter().take(clip::ITEMS) {
        warnings.push(format!(
            "revision {} is carried by more than one object ({}); kubectl shows only one of them",
            duplicate.number,
            clip::list(&duplicate.objects, clip::ITEMS, ", ")
        ));
    }
    if duplicates.len() > clip::ITEMS {
        warnings.push(format!(
            "... {} more revision numbers are carried by more than one object",
            duplicates.len() - clip::ITEMS
        ));
    }
    if let Some(gone) = deleted_revisions(set) {
        let limit = workload.revision_history_limit();
        let old = set.revisions.len().saturating_sub(1) as i64;
        let reason = if old >= limit {
            format!(
                "the history limit (revisionHistoryLimit={limit}) is reached, so older revisions are gone"
            )
        } else {
            "they were deleted".to_string()
        };
        warnings.push(format!("revisions {gone} are not in the history: {reason}"));
    }
    if live.is_none() && !set.is_empty() {
        warnings.push(if workload.paused() {
            "no revision matches the live template: the deployment is paused, so its template changes are not rolled out or recorded until it is resumed".to_string()
        } else {
            format!(
                "no revision matches the live template yet: the controller has not recorded generation {} (check again shortly)",
                workload.generation()
            )
        });
    }
    warnings
}

/// Revision numbers from 1 to the highest that no object carries now or carried before being
/// reused, as compact ranges (`1-3, 5`); None when nothing is missing. The work is in the
/// numbers known, not in their size: a revision numbered 2,000,000,000 is one range.
fn deleted_revisions(set: &RevisionSet) -> Option<String> {
    let mut known: Vec<i64> = set
        .revisions
        .iter()
        .flat_map(|revision| {
            std::iter::once(revision.number).chain(revision.earlier_numbers.iter().copied())
        })
        .filter(|number| *number > 0)
        .collect();
    known.sort_unstable();
    known.dedup();
    let highest = *set.numbers().last()?;
    let mut next = 1i64;
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    for &number in known.iter().take_while(|number| **number < highest) {
        if number > next {
            gaps.push((next, number - 1));
        }
        next = number.saturating_add(1);
    }
    if highest > next {
        gaps.push((next, highest - 1));
    }
    if gaps.is_empty() {
        return None;
    }
    let ranges = gaps.iter().map(|(start, end)| {
        if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        }
    });
    Some(clip::list(ranges, clip::ITEMS, ", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::kind::WorkloadKind;
    use crate::rollout::revisions::tests::{deployment, replica_set};
    use crate::rollout::workload::tests::workload;
    use serde_json::json;

    #[test]
    fn gaps_in_the_history_are_explained() {
        let owner = deployment("app:9");
        let set = RevisionSet::owned_by(
            &owner,
            vec![
                replica_set(
                    "web-a",
                    "uid-web",
                    Some("4"),
                    "app:4",
                    "2026-01-01T00:00:00Z",
                ),
                replica_set(
                    "web-b",
                    "uid-web",
                    Some("6"),
                    "app:6",
                    "2026-01-02T00:00:00Z",
                ),
            ],
        );
        let warnings = for_history(&owner, &set, None);
        assert!(
            warnings.contains(
                &"revisions 1-3, 5 are not in the history: they were deleted".to_string()
            ),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("no revision matches the live template yet")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_huge_revision_number_is_one_gap_not_two_billion() {
        let owner = deployment("app:9");
        let set = RevisionSet::owned_by(
            &owner,
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
                    Some("2000000000"),
                    "app:2",
                    "2026-01-02T00:00:00Z",
                ),
                replica_set(
                    "web-c",
                    "uid-web",
                    Some("-7"),
                    "app:3",
                    "2026-01-03T00:00:00Z",
                ),
            ],
        );
        let warnings = for_history(&owner, &set, None);
        assert!(
            warnings.contains(
                &"revisions 2-1999999999 are not in the history: they were deleted".to_string()
            ),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("revision -7 (web-c) is negative")),
            "{warnings:?}"
        );
    }

    #[test]
    fn many_gaps_and_duplicates_are_listed_with_a_count_of_the_rest() {
        let owner = deployment("app:9");
        let listed = (0..100)
            .flat_map(|i| {
                let number = (i * 2 + 2).to_string();
                [
                    replica_set(
                        &format!("web-a{i}"),
                        "uid-web",
                        Some(&number),
                        "app:1",
                        "2026-01-01T00:00:00Z",
                    ),
                    replica_set(
                        &format!("web-b{i}"),
                        "uid-web",
                        Some(&number),
                        "app:2",
                        "2026-01-01T00:00:00Z",
                    ),
                ]
            })
            .collect();
        let set = RevisionSet::owned_by(&owner, listed);
        let warnings = for_history(&owner, &set, None);
        let gaps = warnings
            .iter()
            .find(|w| w.starts_with("revisions 1, 3, 5"))
            .unwrap();
        assert!(
            gaps.contains(", ... 80 more are not in the history"),
            "{gaps}"
        );
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains("is carried by more than one object"))
                .count(),
            20,
            "{warnings:?}"
        );
        assert!(warnings.contains(
            &"... 80 more revision numbers are carried by more than one object".to_string()
        ));
    }

    #[test]
    fn paused_gitops_and_last_applied_are_warned_about() {
        let managed = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "namespace": "shop",
                                "labels": {"argocd.argoproj.io/instance": "shop"},
                                "annotations": {LAST_APPLIED: "{}"}},
                   "spec": {"paused": true}}),
        );
        let warnings = for_workload(&managed);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("managed by Argo CD"));
    }

    #[test]
    fn a_gitops_marker_cannot_forge_a_line() {
        let managed = workload(
            WorkloadKind::Deployment,
            json!({"metadata": {"name": "web", "namespace": "shop",
                                "annotations": {"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web\nWarnings: none\u{202e}"}}}),
        );
        let warning = &for_workload(&managed)[0];
        assert!(
            warning.contains("shop/web\\nWarnings: none\\u{202e}"),
            "{warning}"
        );
    }

    #[test]
    fn on_delete_is_warned_about_for_daemon_sets() {
        let agent = workload(
            WorkloadKind::DaemonSet,
            json!({"metadata": {"name": "agent"}, "spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert!(for_workload(&agent)[0].contains("OnDelete"));
    }
}
