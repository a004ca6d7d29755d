//! What the approval page shows, and its HTML.
//!
//! [`PageView`] is gathered once, when the page opens, from the same plan and briefing the
//! form question is made from (`crate::approval::form`), and shows more of it: the whole
//! template diff, coloured; the live revision's pods and Warning events; the workload's
//! history. Text from the agent or the cluster is escaped twice over: its control and format
//! characters as in the question ([`clip::untrusted`]), then as HTML by the template engine
//! (maud escapes every value it inserts). The page loads nothing from anywhere: one inline
//! style, allowed by its hash in the Content-Security-Policy ([`content_security_policy`]),
//! and no script.

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::jiff::SignedDuration;
use k8s_openapi::jiff::Timestamp;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::PageStatus;
use crate::approval::form::{APPROVER_CHARACTERS, Briefing, ClusterIdentity, REASON_SHOWN};
use crate::rollout::clip;
use crate::rollout::diff::Change;
use crate::rollout::history::{RevisionSummary, human_duration};
use crate::rollout::plan::RollbackPlan;
use crate::rollout::template::ContainerImage;

/// Everything the page shows, as text (escaped as HTML when rendered).
#[derive(Debug, Clone, Default)]
pub struct PageView {
    pub subject: String,
    pub context: String,
    pub server: String,
    pub kube_user: String,
    pub live_revision: Option<i64>,
    pub target_revision: i64,
    pub images: Vec<ImageRow>,
    pub live_state: String,
    pub live_message: String,
    pub evidence: Vec<String>,
    pub target: String,
    pub short_lived: Option<String>,
    pub changes: Vec<String>,
    pub diff: Vec<DiffLine>,
    pub annotation_changes: Vec<String>,
    pub admission_changes: Vec<String>,
    pub dry_run: String,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    pub not_restored: String,
    pub history: Vec<HistoryRow>,
    /// Prefills "Your name": the OS user's login name.
    pub os_user: String,
}

/// One container's image before and after.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub container: String,
    pub before: String,
    pub after: String,
    pub changed: bool,
}

/// One line of the unified diff, and how to colour it.
#[derive(Debug, Clone)]
pub struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

/// One revision of the workload's history.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub revision: i64,
    pub marks: String,
    pub age: String,
    pub live_for: String,
    pub images: String,
    pub change_cause: String,
}

fn show(text: &str) -> String {
    clip::untrusted(text, clip::VALUE)
}

fn describe(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|change| show(&change.describe()))
        .collect()
}

impl PageView {
    /// The page for `plan`, from what the question is made of.
    pub fn new(
        plan: &RollbackPlan,
        cluster: &ClusterIdentity<'_>,
        briefing: &Briefing<'_>,
        reason: Option<&str>,
        now: Timestamp,
        os_user: &str,
    ) -> Self {
        let target = &plan.target;
        let age = target
            .created
            .map_or("creation time unknown".into(), |created| {
                format!(
                    "created {} ({} ago)",
                    created.strftime("%Y-%m-%d %H:%M UTC"),
                    human_duration(now.duration_since(created))
                )
            });
        let live_for = briefing
            .target
            .and_then(|summary| summary.live_for_estimate.clone())
            .unwrap_or_else(|| "unknown".into());
        let references = if briefing.config_references.is_empty() {
            String::new()
        } else {
            format!(
                " (this template uses {})",
                show(&clip::list(briefing.config_references, clip::ITEMS, ", "))
            )
        };
        Self {
            subject: format!(
                "{} {}/{}",
                plan.kind,
                show(&plan.namespace),
                show(&plan.name)
            ),
            context: show(cluster.context),
            server: show(cluster.server),
            kube_user: cluster.kube_user.to_string(),
            live_revision: plan.live_revision,
            target_revision: target.number,
            images: image_rows(&plan.images_before, &plan.images_after),
            live_state: briefing.live.state.as_str().to_string(),
            live_message: show(&briefing.live.message),
            evidence: briefing
                .evidence
                .render()
                .lines()
                .map(|line| clip::untrusted(line, 2 * clip::VALUE))
                .collect(),
            target: format!(
                "{age}; live for {live_for} (an estimate from the API's timestamps); change-cause: \"{}\"",
                show(target.change_cause.as_deref().unwrap_or("<none>"))
            ),
            short_lived: briefing
                .target
                .and_then(|summary| summary.short_lived.as_deref())
                .map(show),
            changes: describe(&plan.diff.changes),
            diff: plan
                .diff
                .unified
                .lines()
                .map(|line| DiffLine {
                    class: match line.chars().next() {
                        Some('+') => "add",
                        Some('-') => "del",
                        Some('@') => "hunk",
                        _ => "same",
                    },
                    text: clip::escape(line),
                })
                .collect(),
            annotation_changes: describe(briefing.annotation_changes),
            admission_changes: briefing
                .admission
                .map(|admission| describe(&admission.changes))
                .unwrap_or_default(),
            dry_run: briefing.dry_run.to_string(),
            reason: reason.map(|reason| clip::untrusted(reason, REASON_SHOWN)),
            warnings: plan
                .warnings
                .iter()
                .map(|warning| clip::untrusted(warning, 2 * clip::VALUE))
                .collect(),
            not_restored: format!(
                "The contents of ConfigMaps and Secrets{references}, the replica count, and every other object: only the pod template changes."
            ),
            history: briefing
                .revisions
                .iter()
                .rev()
                .take(HISTORY_ROWS)
                .map(history_row)
                .collect(),
            os_user: clip::untrusted(login_name(os_user), APPROVER_CHARACTERS),
        }
    }
}

/// The login name in the OS user as `crate::cluster::identity::os_user` describes it
/// (`name (uid N)`), or nothing when it has none.
fn login_name(os_user: &str) -> &str {
    let name = os_user.split(" (uid ").next().unwrap_or_default();
    if name.starts_with("uid ") || name == "unknown" {
        ""
    } else {
        name
    }
}

/// The newest revisions the page lists.
const HISTORY_ROWS: usize = 30;

fn image_rows(before: &[ContainerImage], after: &[ContainerImage]) -> Vec<ImageRow> {
    let find = |list: &[ContainerImage], image: &ContainerImage| {
        list.iter()
            .find(|other| other.container == image.container && other.init == image.init)
            .map(|other| other.image.clone())
    };
    let label = |image: &ContainerImage| {
        if image.init {
            format!("{} (init)", show(&image.container))
        } else {
            show(&image.container)
        }
    };
    let mut rows: Vec<ImageRow> = after
        .iter()
        .take(clip::ITEMS)
        .map(|image| {
            let old = find(before, image);
            ImageRow {
                container: label(image),
                changed: old.as_deref() != Some(image.image.as_str()),
                before: old.map_or("(none)".into(), |old| show(&old)),
                after: show(&image.image),
            }
        })
        .collect();
    rows.extend(
        before
            .iter()
            .filter(|image| find(after, image).is_none())
            .take(clip::ITEMS)
            .map(|image| ImageRow {
                container: label(image),
                changed: true,
                before: show(&image.image),
                after: "(removed)".into(),
            }),
    );
    rows
}

fn history_row(summary: &RevisionSummary) -> HistoryRow {
    let mut marks = Vec::new();
    if summary.live {
        marks.push("live".to_string());
    }
    if let Some(health) = &summary.health {
        marks.push(show(health));
    }
    if summary.short_lived.is_some() {
        marks.push("short-lived".into());
    }
    HistoryRow {
        revision: summary.revision,
        marks: marks.join(", "),
        age: summary.age.clone().unwrap_or_default(),
        live_for: summary.live_for_estimate.clone().unwrap_or_default(),
        images: show(&clip::list(
            summary.images.iter().map(|image| image.image.as_str()),
            clip::ITEMS,
            ", ",
        )),
        change_cause: show(summary.change_cause.as_deref().unwrap_or("<none>")),
    }
}

/// The page's one style sheet, inline; the CSP allows exactly it.
const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#1d1f24}\
main{max-width:980px;margin:0 auto;padding:24px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #d6d9de;padding-bottom:4px}\
.sub{color:#555;margin:0 0 16px}.card{background:#fff;border:1px solid #d6d9de;border-radius:8px;padding:16px;margin:12px 0}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef1;vertical-align:top}\
th{color:#555;font-weight:600;width:30%}.mono,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}\
pre{margin:0;overflow-x:auto;background:#fbfbfc;border:1px solid #eceef1;border-radius:6px;padding:8px}\
.add{background:#e6ffec;color:#116329;display:block}.del{background:#ffebe9;color:#82071e;display:block}.hunk{color:#6639ba;display:block}.same{display:block}\
.changed{font-weight:600}.state-failed,.state-progressing{color:#b35900;font-weight:600}.state-complete{color:#116329;font-weight:600}\
.warn{background:#fff8c5;border-color:#d4a72c}.agent{background:#f1f4ff;border-left:4px solid #5a6fd6;padding:8px 12px;margin:8px 0}\
.decide{background:#fff;border:2px solid #1d1f24;border-radius:8px;padding:16px;margin:20px 0}\
label{font-weight:600;display:block;margin-bottom:4px}input[type=text]{font:inherit;padding:6px 8px;width:320px;max-width:100%}\
button{font:inherit;font-weight:600;padding:8px 18px;border-radius:6px;border:1px solid #1d1f24;margin:12px 8px 0 0;cursor:pointer}\
.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.decline{background:#fff;color:#1d1f24}\
.outcome{font-size:17px;font-weight:600}.ok{color:#116329}.bad{color:#82071e}ul{margin:4px 0;padding-left:20px}";

/// The Content-Security-Policy every answer carries: nothing from anywhere, no script, the
/// inline style by its hash, form posts to itself only, no framing.
pub fn content_security_policy() -> String {
    static HASH: LazyLock<String> = LazyLock::new(|| {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()))
    });
    format!(
        "default-src 'none'; style-src 'sha256-{}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        *HASH
    )
}

/// A whole document; `refresh` reloads it every two seconds (while an outcome is pending).
fn document(title: &str, body: Markup, refresh: bool) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="2"; }
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// A page that only says something (a refusal, an unknown address).
pub fn notice(title: &str, text: &str) -> String {
    document(
        title,
        html! {
            h1 { (title) }
            p { (text) }
        },
        false,
    )
}

fn list(items: &[String]) -> Markup {
    html! {
        ul { @for item in items { li class="mono" { (item) } } }
    }
}

/// The approval page for `view` as it stands (`status`), with its form while it is open.
pub fn render(view: &PageView, status: &PageStatus, csrf: &str, expires_in: Duration) -> String {
    let title = format!(
        "Approve rolling back {} to revision {}?",
        view.subject, view.target_revision
    );
    let live = view
        .live_revision
        .map_or("unknown".to_string(), |n| n.to_string());
    let (controls, refresh) = decision(view, status, csrf, expires_in);
    let body = html! {
        h1 { (title) }
        p class="sub" {
            "Context " strong { (view.context) } " (" span class="mono" { (view.server) } "), writes as " (view.kube_user) "."
        }
        div class="card" {
            table {
                tr { th { "Workload" } td class="mono" { (view.subject) } }
                tr { th { "Revision" } td { (live) " (live) → " strong { (view.target_revision) } " (its template becomes the live one)" } }
                tr { th { "Live revision now" } td { span class={ "state-" (view.live_state) } { (view.live_state) } " — " (view.live_message) } }
                tr { th { "Revision " (view.target_revision) " (target)" } td { (view.target) } }
                @if let Some(short) = &view.short_lived {
                    tr { th { "Caution" } td class="changed" { "revision " (view.target_revision) " was " (short) } }
                }
                tr { th { "Server dry run" } td { (view.dry_run) } }
            }
        }
        (controls)
        h2 { "Images" }
        table class="mono" {
            tr { th { "container" } th { "now" } th { "after the rollback" } }
            @for row in &view.images {
                tr class=[row.changed.then_some("changed")] { td { (row.container) } td { (row.before) } td { (row.after) } }
            }
        }
        h2 { "What changes in the template (" (view.changes.len()) ")" }
        (list(&view.changes))
        pre { @for line in &view.diff { span class=(line.class) { (line.text) } } }
        @if !view.annotation_changes.is_empty() {
            h2 { "Workload annotations the write changes (" (view.annotation_changes.len()) ")" }
            (list(&view.annotation_changes))
        }
        @if !view.admission_changes.is_empty() {
            div class="card warn" {
                strong { "Admission (a mutating webhook or policy) changes the restored template:" }
                (list(&view.admission_changes))
            }
        }
        h2 { "Why the live revision stands where it does" }
        @if view.evidence.is_empty() { p { "No pods or Warning events were found." } } @else { (list(&view.evidence)) }
        h2 { "The agent's reason" }
        @match &view.reason {
            Some(reason) => div class="agent" { "The agent wrote (its words, not verified): " q { (reason) } },
            None => p { "The agent gave no reason." },
        }
        h2 { "Warnings" }
        @if view.warnings.is_empty() { p { "None." } } @else { div class="card warn" { (list(&view.warnings)) } }
        h2 { "Not restored by an undo" }
        p { (view.not_restored) }
        h2 { "Revision history" }
        table class="mono" {
            tr { th { "revision" } th { "" } th { "age" } th { "live for" } th { "images" } th { "change-cause" } }
            @for row in &view.history {
                tr class=[(row.revision == view.target_revision).then_some("changed")] {
                    td { (row.revision) } td { (row.marks) } td { (row.age) } td { (row.live_for) } td { (row.images) } td { (row.change_cause) }
                }
            }
        }
    };
    document(&title, body, refresh)
}

/// The controls while the page is open, else what became of the approval; and whether the
/// page should reload until the outcome is known.
fn decision(
    view: &PageView,
    status: &PageStatus,
    csrf: &str,
    expires_in: Duration,
) -> (Markup, bool) {
    let expires_in = SignedDuration::try_from(expires_in).unwrap_or(SignedDuration::ZERO);
    let (class, text, refresh) = match status {
        PageStatus::Open => {
            let form = html! {
                form class="decide" method="post" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="approver" { "Your name" }
                    input type="text" id="approver" name="approver" value=(view.os_user)
                        maxlength=(APPROVER_CHARACTERS) autocomplete="name";
                    p class="sub" { "Recorded in the audit trail and the workload's change-cause. This page expires in " (human_duration(expires_in)) "." }
                    button class="approve" type="submit" name="decision" value="approve" { "Approve rollback" }
                    button class="decline" type="submit" name="decision" value="decline" { "Decline" }
                }
            };
            return (form, false);
        }
        PageStatus::Approved { approver } | PageStatus::Writing { approver } => (
            "outcome",
            format!(
                "Approved by {}. The rollback is being written; this page shows the outcome when it is known.",
                approver.as_deref().unwrap_or("an unnamed approver")
            ),
            true,
        ),
        PageStatus::Declined => (
            "outcome bad",
            "Declined. Nothing is written.".to_string(),
            false,
        ),
        PageStatus::Done { written, outcome } => (
            if *written { "outcome ok" } else { "outcome bad" },
            outcome.clone(),
            false,
        ),
        PageStatus::Superseded => (
            "outcome bad",
            "A newer approval request for this workload replaced this page. Nothing was written from it.".to_string(),
            false,
        ),
    };
    (
        html! { div class="decide" { p class=(class) { (text) } } },
        refresh,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> PageView {
        PageView {
            subject: "deployment shop/web".into(),
            reason: Some("</q><script>alert(1)</script>".into()),
            ..PageView::default()
        }
    }

    #[test]
    fn the_login_name_prefills_the_form() {
        assert_eq!(login_name("jane (uid 1000)"), "jane");
        assert_eq!(login_name("jane"), "jane");
        assert_eq!(login_name("uid 1000"), "");
        assert_eq!(login_name("unknown"), "");
    }

    #[test]
    fn values_are_escaped_and_the_form_shows_only_while_open() {
        let open = render(&view(), &PageStatus::Open, "tok", Duration::from_secs(90));
        assert!(open.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!open.contains("<script>"));
        assert!(open.contains(r#"name="csrf" value="tok""#) && open.contains("Approve rollback"));
        assert!(
            !open.contains("http-equiv"),
            "no reload while the person reads"
        );
        let writing = render(
            &view(),
            &PageStatus::Writing {
                approver: Some("jane".into()),
            },
            "tok",
            Duration::from_secs(90),
        );
        assert!(!writing.contains("Approve rollback") && !writing.contains("tok"));
        assert!(
            writing.contains(r#"http-equiv="refresh""#),
            "reloads until the outcome"
        );
        let done = render(
            &view(),
            &PageStatus::Done {
                written: true,
                outcome: "Written: x".into(),
            },
            "tok",
            Duration::from_secs(90),
        );
        assert!(done.contains("Written: x") && !done.contains("http-equiv"));
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style() {
        let policy = content_security_policy();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        assert!(policy.contains(&format!("style-src 'sha256-{hash}'")));
        assert!(!policy.contains("script-src") && policy.starts_with("default-src 'none'"));
    }
}
