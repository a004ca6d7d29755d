//! The audit trail: every undo plan, approval decision and write attempt, one JSON object per
//! line, for operators (`jq`-friendly). A record is written and flushed to disk before the
//! call goes on; if the approval record cannot be written, the undo is refused with no write.
//!
//! Default location: `$XDG_STATE_HOME/k8s-rollout-mcp/audit.jsonl`, else
//! `~/.local/state/k8s-rollout-mcp/audit.jsonl`; the directory and file are created
//! owner-only (0700 and 0600).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::approval::ApprovalPath;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// An undo was planned (target found, kubectl's checks passed).
    Planned,
    /// A human was asked to approve.
    ApprovalRequested,
    Approved,
    Declined,
    Cancelled,
    TimedOut,
    /// The client cannot elicit, so no human could be asked.
    NotSupported,
    /// A 2026-07-28 approval state was tampered, expired, replayed or foreign.
    StateRejected,
    /// A server-side dry run.
    DryRun,
    /// The approved patch was written (`note` says so when its answer was lost and a re-read
    /// showed it applied).
    Written,
    /// The write was refused with 409 Conflict (the workload changed since approval).
    Conflict,
    /// The write was refused before it could apply, the approval request failed, or a
    /// waited-for rollout failed.
    Failed,
    /// The answer to the write was lost (5xx, timeout, reset) and a re-read did not show it
    /// applied: it may still apply.
    Unknown,
}

/// The facts of one tool call that every record of it repeats.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallFacts {
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub protocol_version: Option<String>,
    /// The Kubernetes user the writes run as, as the API server reported it
    /// (`crate::cluster::identity`); `None` with `kube_user_unknown` saying why.
    pub kube_user: Option<String>,
    pub kube_groups: Option<Vec<String>>,
    pub kube_user_unknown: Option<String>,
    /// The operating-system user running the server.
    pub os_user: Option<String>,
    /// The reason the caller gave.
    pub reason: Option<String>,
    pub context: String,
    pub cluster_server: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub uid: Option<String>,
    pub live_revision: Option<i64>,
    pub target_revision: Option<i64>,
}

/// What one record adds to the call's facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Detail {
    pub approval_path: Option<ApprovalPath>,
    pub approver: Option<String>,
    pub resulting_revision: Option<i64>,
    pub error: Option<String>,
    /// What else the record needs said (a lost answer, a re-read's finding).
    pub note: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Serialize)]
struct Record<'a> {
    /// RFC 3339, UTC.
    time: String,
    event: AuditEvent,
    #[serde(flatten)]
    call: &'a CallFacts,
    #[serde(flatten)]
    detail: &'a Detail,
}

/// The audit log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the audit log {path}: {source}")]
pub struct AuditError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// An append-only JSON Lines file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// Serialises appends from concurrent calls so lines never interleave.
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    /// The default path, from `XDG_STATE_HOME` or `HOME`.
    pub fn default_path() -> Option<PathBuf> {
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|dir| Path::new(dir).is_absolute())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".local").join("state"))
            })?;
        Some(state.join("k8s-rollout-mcp").join("audit.jsonl"))
    }

    /// Appends one record, stamped with the current time, and flushes it to disk.
    pub fn append(
        &self,
        event: AuditEvent,
        call: &CallFacts,
        detail: &Detail,
    ) -> Result<(), AuditError> {
        let record = Record {
            time: Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            event,
            call,
            detail,
        };
        let mut line = serde_json::to_string(&record).expect("audit records serialise");
        line.push('\n');
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.write(line.as_bytes()).map_err(|source| AuditError {
            path: self.path.clone(),
            source,
        })
    }

    fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let dir = self.path.parent().filter(|dir| !dir.as_os_str().is_empty());
        if let Some(dir) = dir {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let created = !self.path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(line)?;
        file.sync_data()?;
        // A new file's directory entry must reach the disk too, or a crash could lose the
        // whole log.
        match dir {
            Some(dir) if created => fs::File::open(dir)?.sync_all(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("audit-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appends_json_lines_owner_only() {
        let dir = temp_dir("append");
        let path = dir.join("state").join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        let call = CallFacts {
            namespace: "shop".into(),
            ..Default::default()
        };
        for event in [AuditEvent::Planned, AuditEvent::Approved] {
            let detail = Detail {
                approver: Some("alice".into()),
                ..Default::default()
            };
            log.append(event, &call, &detail).unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["event"], "approved");
        assert_eq!(lines[1]["approver"], "alice");
        assert_eq!(lines[1]["namespace"], "shop");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = temp_dir("unwritable");
        fs::create_dir_all(&dir).unwrap();
        let blocker = dir.join("file");
        fs::write(&blocker, "not a directory").unwrap();
        let log = AuditLog::new(blocker.join("audit.jsonl"));
        let error = log
            .append(
                AuditEvent::Planned,
                &CallFacts::default(),
                &Detail::default(),
            )
            .unwrap_err();
        assert!(error.to_string().contains("file/audit.jsonl"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
