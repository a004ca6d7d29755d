//! Revision-object parsing and everything built on it: a workload, the objects a LIST
//! returned, and its pods and Warning events, as any cluster may hold them, through numbering,
//! history (with a revision shown and diffed), warnings, status, the evidence of why a rollout
//! stands where it does, undo planning and the approval message. It must return, never panic,
//! whatever the objects say.
#![no_main]

use std::time::Duration;

use k8s_rollout_mcp::approval::form::{self, Briefing, ClusterIdentity};
use k8s_rollout_mcp::approval::page::{self, PageStatus, view::PageView};
use k8s_rollout_mcp::rollout::evidence::{self, Evidence, EventObject, PodObject};
use k8s_rollout_mcp::rollout::history::{self, HistoryQuery};
use k8s_rollout_mcp::rollout::kind::WorkloadKind;
use k8s_rollout_mcp::rollout::revisions::{RevisionObject, RevisionSet};
use k8s_rollout_mcp::rollout::workload::Workload;
use k8s_rollout_mcp::rollout::{plan, status, template};
use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
struct Input {
    /// 0 Deployment, 1 DaemonSet, anything else StatefulSet.
    kind: u8,
    workload: kube::api::DynamicObject,
    /// The LIST's items, parsed as the server parses them.
    items: Vec<Box<serde_json::value::RawValue>>,
    /// The pods and Warning events the evidence reads, likewise.
    #[serde(default)]
    pods: Vec<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    events: Vec<Box<serde_json::value::RawValue>>,
    revision: Option<i64>,
    compare_with: Option<i64>,
    to_revision: i64,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Input>(data) else {
        return;
    };
    let kind = match input.kind {
        0 => WorkloadKind::Deployment,
        1 => WorkloadKind::DaemonSet,
        _ => WorkloadKind::StatefulSet,
    };
    let workload = Workload::new(kind, input.workload);
    let objects: Vec<RevisionObject> = parsed(&input.items);
    let set = RevisionSet::owned_by(&workload, objects);
    let now = "2026-06-01T00:00:00Z".parse().expect("a timestamp");
    let query = HistoryQuery {
        limit: 20,
        revision: input.revision,
        compare_with: input.compare_with,
        show_env_values: false,
    };
    let report = history::report(&workload, &set, query, now);
    let live = status::evaluate(&workload, input.revision);
    let pods: Vec<PodObject> = parsed(&input.pods);
    let events: Vec<EventObject> = parsed(&input.events);
    let evidence = Evidence {
        warning_events: evidence::warning_events(&workload, &set, &pods, &events),
        pods: evidence::pods(&workload, &set, &pods),
        ..Evidence::default()
    };
    let _ = evidence.render();
    if let Ok(plan) = plan::plan(&workload, &set, input.to_revision, false) {
        let stamp = plan::Stamp {
            change_cause: "fuzz",
            call_id: "fuzz",
        };
        let patch = plan.patch(&stamp);
        let _ = (patch.sha256(), patch.shown(false), plan.patch_digest(Some("fuzz")));
        let annotation_changes = plan.annotation_changes(&stamp, false);
        let cluster = ClusterIdentity {
            context: "fuzz",
            server: "https://127.0.0.1",
            kube_user: "kube user \"fuzz\"",
        };
        let references = template::config_references(&plan.target.template());
        let target = report.as_ref().ok().and_then(|report| {
            report
                .revisions
                .iter()
                .find(|summary| summary.revision == plan.target_revision())
        });
        let briefing = Briefing {
            live: &live,
            evidence: &evidence,
            target,
            revisions: report
                .as_ref()
                .map(|report| report.revisions.as_slice())
                .unwrap_or_default(),
            dry_run: "accepted",
            admission: Some(&plan.diff),
            annotation_changes: &annotation_changes,
            config_references: &references,
        };
        let _ = form::message(&plan, &cluster, &briefing, Some("fuzz"), now);
        let view = PageView::new(&plan, &cluster, &briefing, Some("fuzz"), now, "fuzz (uid 1)");
        let _ = page::view::render(&view, &PageStatus::Open, "csrf", Duration::from_secs(60));
    }
});

/// The items that parse, one by one (a LIST whose page does not parse fails as a whole).
fn parsed<T: serde::de::DeserializeOwned>(items: &[Box<serde_json::value::RawValue>]) -> Vec<T> {
    items
        .iter()
        .filter_map(|item| serde_json::from_str(item.get()).ok())
        .collect()
}
