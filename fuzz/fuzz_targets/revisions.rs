//! Revision-object parsing and everything built on it: a workload and the objects a LIST
//! returned, as any cluster may hold them, through numbering, history (with a revision shown
//! and diffed), warnings, status, undo planning and the approval message. It must return,
//! never panic, whatever the objects say.
#![no_main]

use k8s_rollout_mcp::approval::form::{self, ClusterIdentity};
use k8s_rollout_mcp::rollout::history::{self, HistoryQuery};
use k8s_rollout_mcp::rollout::kind::WorkloadKind;
use k8s_rollout_mcp::rollout::revisions::{RevisionObject, RevisionSet};
use k8s_rollout_mcp::rollout::workload::Workload;
use k8s_rollout_mcp::rollout::{plan, status};
use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
struct Input {
    /// 0 Deployment, 1 DaemonSet, anything else StatefulSet.
    kind: u8,
    workload: kube::api::DynamicObject,
    /// The LIST's items, parsed as the server parses them.
    items: Vec<Box<serde_json::value::RawValue>>,
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
    // One item that does not parse is skipped, as a page that does not parse fails the list.
    let objects: Vec<RevisionObject> = input
        .items
        .iter()
        .filter_map(|item| serde_json::from_str(item.get()).ok())
        .collect();
    let set = RevisionSet::owned_by(&workload, objects);
    let now = "2026-06-01T00:00:00Z".parse().expect("a timestamp");
    let query = HistoryQuery {
        limit: 20,
        revision: input.revision,
        compare_with: input.compare_with,
        show_env_values: false,
    };
    let _ = history::report(&workload, &set, query, now);
    let _ = status::evaluate(&workload, input.revision);
    if let Ok(plan) = plan::plan(&workload, &set, input.to_revision, false) {
        let _ = plan.patch(Some("fuzz"));
        let cluster = ClusterIdentity {
            context: "fuzz",
            server: "https://127.0.0.1",
        };
        let _ = form::message(&plan, &cluster, Some("fuzz"), now);
    }
});
