//! `k8s_rollout_history`: the read-only first step. Two API requests per call (GET the
//! workload, LIST its revisions); showing one revision in full or diffing two adds none. When
//! the live revision is not healthy, two more (its pods and Warning events) say why.

use k8s_openapi::jiff::Timestamp;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::rollout::history::{self, HistoryQuery, HistoryReport, RevisionSummary};
use crate::rollout::template::ContainerImage;
use crate::rollout::{clip, revisions};

use crate::cluster::Cluster;
use crate::verify;

use super::RolloutServer;
use super::reply::ToolFailure;

/// The default number of revisions listed.
pub const DEFAULT_LIMIT: u32 = 20;

/// Arguments of `k8s_rollout_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryArgs {
    /// The workload type: deployment, daemonset or statefulset (plural, short names
    /// deploy/ds/sts and the Kind spelling work too).
    pub resource_type: String,
    /// The workload's name.
    pub name: String,
    /// The namespace (default: the server's --namespace, else the kubeconfig context's, else
    /// "default").
    pub namespace: Option<String>,
    /// The kubeconfig context to run in (default: the server's start context; the server's
    /// --allow-context decides which may be named).
    pub context: Option<String>,
    /// Show this revision in full (its pod template as an undo would restore it) and what would
    /// change if it were restored.
    #[schemars(range(min = 1))]
    pub revision: Option<i64>,
    /// With `revision`: diff it against this revision instead of the live template.
    #[schemars(range(min = 1))]
    pub compare_with: Option<i64>,
    /// How many of the newest revisions to list (default 20).
    #[schemars(range(min = 1))]
    pub limit: Option<u32>,
}

impl RolloutServer {
    pub(super) async fn history_report(
        &self,
        args: HistoryArgs,
    ) -> Result<(Cluster, HistoryReport), ToolFailure> {
        let cluster = self.cluster_for(args.context.as_deref()).await?;
        let report = self
            .history_in(&cluster, args)
            .await
            .map_err(|failure| failure.in_cluster(&cluster))?;
        Ok((cluster, report))
    }

    async fn history_in(
        &self,
        cluster: &Cluster,
        args: HistoryArgs,
    ) -> Result<HistoryReport, ToolFailure> {
        let target = self
            .target(
                cluster,
                &args.resource_type,
                &args.name,
                args.namespace.as_deref(),
            )
            .await?;
        let workload = target.fetch(cluster).await?;
        let set = cluster.revisions(&workload).await?;
        let query = HistoryQuery {
            limit: args.limit.unwrap_or(DEFAULT_LIMIT) as usize,
            revision: args.revision,
            compare_with: args.compare_with,
            show_env_values: self.settings.show_env_values,
        };
        let now = Timestamp::now();
        // A revision in full is diffed against another template, which for large templates
        // takes long enough to hold every other call: that is done on a blocking thread.
        let (workload, set, report) = if query.revision.is_some() {
            tokio::task::spawn_blocking(move || {
                let report = history::report(&workload, &set, query, now);
                (workload, set, report)
            })
            .await
            .map_err(|error| ToolFailure(format!("the revision could not be shown: {error}")))?
        } else {
            let report = history::report(&workload, &set, query, now);
            (workload, set, report)
        };
        let mut report = report.map_err(|error| {
            ToolFailure(format!(
                "{error} of {} {}/{}: revisions are {}",
                target.kind,
                target.namespace,
                target.name,
                revisions::describe_numbers(&set.numbers())
            ))
        })?;
        if !history::healthy(&workload) {
            report.evidence = Some(verify::evidence(cluster, &workload, &set).await);
        }
        Ok(report)
    }
}

/// The report as compact text: one line per revision, then the detail and warnings.
pub fn render(report: &HistoryReport) -> String {
    let mut out = format!("{} {}/{}", report.kind, report.namespace, report.name);
    match (&report.message, report.live_revision) {
        (Some(message), _) => out.push_str(&format!(": {message}\n")),
        (None, Some(live)) => out.push_str(&format!(": live revision {live}\n")),
        (None, None) => out.push_str(": live revision not yet recorded\n"),
    }
    if !report.revisions.is_empty() {
        out.push_str("REV AGE LIVE-FOR(est.) IMAGES CHANGE-CAUSE\n");
    }
    for revision in &report.revisions {
        out.push_str(&line(revision));
    }
    if report.revisions.iter().any(|r| r.short_lived.is_some()) {
        out.push_str(SHORT_LIVED_LEGEND);
    }
    if report.omitted_older > 0 {
        out.push_str(&format!(
            "({} older revisions not shown; raise limit to see them)\n",
            report.omitted_older
        ));
    }
    if let Some(evidence) = &report.evidence {
        out.push_str(&evidence.render());
    }
    if let Some(detail) = &report.detail {
        out.push_str(&format!(
            "\nrevision {} ({}), env values {}:\n",
            detail.revision, detail.object, report.env_values
        ));
        let template = serde_json::to_string_pretty(&detail.template).unwrap_or_default();
        out.push_str(&clip::text(&template, clip::BLOCK));
        out.push_str(&format!(
            "\n\nchanges from {} to {}:\n",
            detail.diff.from, detail.diff.to
        ));
        if detail.diff.changes.is_empty() {
            out.push_str("none: the templates are equal\n");
        }
        out.push_str(&detail.diff.describe_changes());
        out.push_str(&detail.diff.unified);
    }
    if !report.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in &report.warnings {
            out.push_str(&format!("- {warning}\n"));
        }
    }
    out
}

/// Under the rows when one is marked short-lived (`!`), once rather than on every row.
const SHORT_LIVED_LEGEND: &str =
    "(!: live for less than the progress deadline: it may never have finished rolling out)\n";

fn line(revision: &RevisionSummary) -> String {
    let marker = if revision.live { "*" } else { "" };
    let short = if revision.short_lived.is_some() {
        "!"
    } else {
        ""
    };
    let mut line = format!(
        "{}{marker} {} {}{short} {} {}\n",
        revision.revision,
        revision.age.as_deref().unwrap_or("?"),
        revision.live_for_estimate.as_deref().unwrap_or("?"),
        images(&revision.images),
        clip::untrusted(
            revision.change_cause.as_deref().unwrap_or("<none>"),
            clip::VALUE
        ),
    );
    if let Some(health) = &revision.health {
        line.push_str(&format!("  live: {health}\n"));
    }
    line
}

/// Images in one field: `img` for one container, `name=img,...` for several (at most
/// [`clip::ITEMS`], each at most [`clip::VALUE`] characters, control characters escaped: a
/// row cannot forge another).
fn images(images: &[ContainerImage]) -> String {
    match images {
        [] => "-".to_string(),
        [only] if !only.init => clip::untrusted(&only.image, clip::VALUE),
        several => clip::list(
            several.iter().map(|image| {
                clip::untrusted(
                    &format!(
                        "{}{}={}",
                        if image.init { "init:" } else { "" },
                        image.container,
                        image.image
                    ),
                    clip::VALUE,
                )
            }),
            clip::ITEMS,
            ",",
        ),
    }
}
