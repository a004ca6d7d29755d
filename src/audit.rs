//! The audit trail: every undo plan, approval decision and write attempt, one JSON object per
//! line, for operators (`jq`-friendly). A record is written and flushed to disk before the
//! call goes on; if the approval record cannot be written, the undo is refused with no write.
//!
//! The lines form a hash chain: each record's `prev` is the SHA-256 (lower-case hex) of the
//! previous line's bytes, read from the file itself under an exclusive `flock`, so servers
//! appending to one file keep one chain. [`verify`] checks it (`k8s-rollout-mcp audit
//! verify`); README "The audit log" says what the chain proves and what it cannot. The write
//! and its fsync run on a blocking thread, off the async runtime.
//!
//! Default location: `$XDG_STATE_HOME/k8s-rollout-mcp/audit.jsonl`, else
//! `~/.local/state/k8s-rollout-mcp/audit.jsonl`; the directory and file are created
//! owner-only (0700 and 0600).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::ApprovalPath;
use crate::rollout::clip;
use crate::rollout::template::sha256_hex;

/// Characters kept of a record's `error` and `note`: they carry API server and webhook
/// messages of any length, and every append reads the last line back.
const MESSAGE: usize = 4 * 1024;
/// The longest last line `append` reads back to chain to; a longer one refuses the append.
const MAX_LINE: u64 = 4 * 1024 * 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Random 128-bit hex ([`new_call_id`]), the same in every record of one tool call.
    pub call_id: String,
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
    /// The workload's resourceVersion when planned: what the write is conditional on.
    pub resource_version: Option<String>,
    /// SHA-256 of the target template the plan restores (`RollbackPlan::template_digest`).
    pub template_digest: Option<String>,
}

/// A fresh call id: 128 random bits in lower-case hex.
pub fn new_call_id() -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness, the time still tells calls apart.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = Timestamp::now().as_nanosecond().to_be_bytes();
        bytes.copy_from_slice(&nanos);
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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

impl Detail {
    /// The detail with `error` and `note` clipped to [`MESSAGE`] characters.
    fn clipped(&self) -> Self {
        let clipped = |text: &Option<String>| {
            text.as_deref()
                .map(|text| clip::text(text, MESSAGE).into_owned())
        };
        Self {
            error: clipped(&self.error),
            note: clipped(&self.note),
            ..self.clone()
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Serialize)]
struct Record<'a> {
    /// SHA-256 of the previous line; absent on a file's first line.
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: Option<String>,
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

/// An append-only, hash-chained JSON Lines file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
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

    /// Appends one record, stamped with the current time, its `error` and `note` clipped to
    /// 4,096 characters and chained to the last line, and flushes it to disk, on a
    /// blocking thread. Returns the new line's SHA-256.
    pub async fn append(
        &self,
        event: AuditEvent,
        call: &CallFacts,
        detail: &Detail,
    ) -> Result<String, AuditError> {
        let path = self.path.clone();
        let (call, detail) = (call.clone(), detail.clipped());
        let failed = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        tokio::task::spawn_blocking(move || append_chained(&path, event, &call, &detail))
            .await
            .map_err(|join| failed(std::io::Error::other(join)))?
            .map_err(failed)
    }
}

/// Locks the file, chains the record to its last line, writes and syncs it.
fn append_chained(
    path: &Path,
    event: AuditEvent,
    call: &CallFacts,
    detail: &Detail,
) -> std::io::Result<String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    // Another server appending to the same file waits here: one chain.
    file.lock()?;
    let last = last_line(&mut file)?;
    let mut line = String::new();
    if last.as_ref().is_some_and(|last| !last.ends_with_newline) {
        // A torn last line (a crash mid-write) stays its own line; verify reports it.
        line.push('\n');
    }
    let record = Record {
        prev: last.map(|last| sha256_hex(&last.bytes)),
        time: Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
        event,
        call,
        detail,
    };
    let json = serde_json::to_string(&record).map_err(std::io::Error::other)?;
    let hash = sha256_hex(json.as_bytes());
    line.push_str(&json);
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.sync_data()?;
    // A new file's directory entry must reach the disk too, or a crash could lose the whole log.
    if let Some(dir) = dir.filter(|_| created) {
        File::open(dir)?.sync_all()?;
    }
    Ok(hash)
}

/// The last line of a file, without its newline.
struct LastLine {
    bytes: Vec<u8>,
    ends_with_newline: bool,
}

/// Reads the last line by seeking back from the end, at most [`MAX_LINE`] bytes.
fn last_line(file: &mut File) -> std::io::Result<Option<LastLine>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let window = len.min(MAX_LINE + 1);
    file.seek(SeekFrom::Start(len - window))?;
    let mut tail = Vec::with_capacity(window as usize);
    file.take(window).read_to_end(&mut tail)?;
    let ends_with_newline = tail.last() == Some(&b'\n');
    if ends_with_newline {
        tail.pop();
    }
    match tail.iter().rposition(|&byte| byte == b'\n') {
        Some(newline) => tail.drain(..=newline).count(),
        None if window < len => {
            return Err(std::io::Error::other(format!(
                "its last line is longer than {MAX_LINE} bytes, so the next record cannot be chained to it"
            )));
        }
        None => 0,
    };
    Ok(Some(LastLine {
        bytes: tail,
        ends_with_newline,
    }))
}

/// What [`verify`] found in an intact log.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Records in the file.
    pub records: usize,
    /// Records before the first chained one (written before the chain existed).
    pub unchained: usize,
    /// The last record, parsed.
    pub last: Option<Value>,
}

/// Where and why a log's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainBreak {
    /// 1-based.
    pub line: usize,
    pub problem: String,
}

/// Checks every line parses as a JSON object and every `prev` is the SHA-256 of the line
/// before. Lines without `prev` are accepted only before the first line that has one (a log
/// begun before the chain, or a new file's first line); after it, a missing `prev` breaks it.
pub fn verify(text: &[u8]) -> Result<Verified, ChainBreak> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut verified = Verified {
        records: 0,
        unchained: 0,
        last: None,
    };
    if body.is_empty() {
        return Ok(verified);
    }
    let mut previous: Option<&[u8]> = None;
    let mut chained = false;
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        let broken = |problem: String| ChainBreak {
            line: index + 1,
            problem,
        };
        let record: Value = serde_json::from_slice(line)
            .map_err(|error| broken(format!("not a JSON record ({error})")))?;
        if !record.is_object() {
            return Err(broken("not a JSON object".into()));
        }
        match (record.get("prev"), previous) {
            (None | Some(Value::Null), _) if chained => {
                return Err(broken(
                    "no `prev` after chained records: a record was replaced or the chain cut"
                        .into(),
                ));
            }
            (None | Some(Value::Null), _) => verified.unchained += 1,
            (Some(prev), None) => {
                return Err(broken(format!(
                    "`prev` is {prev} but this is the first line: the lines before it were removed"
                )));
            }
            (Some(prev), Some(previous)) => {
                let expected = sha256_hex(previous);
                if prev.as_str() != Some(expected.as_str()) {
                    return Err(broken(format!(
                        "`prev` is {prev}, but line {} hashes to \"{expected}\": a line was edited, removed or moved",
                        index
                    )));
                }
                chained = true;
            }
        }
        previous = Some(line);
        verified.records += 1;
        verified.last = Some(record);
    }
    Ok(verified)
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

    fn facts(call_id: &str) -> CallFacts {
        CallFacts {
            call_id: call_id.into(),
            namespace: "shop".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn appends_json_lines_owner_only() {
        let dir = temp_dir("append");
        let path = dir.join("state").join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        for event in [AuditEvent::Planned, AuditEvent::Approved] {
            let detail = Detail {
                approver: Some("alice".into()),
                ..Default::default()
            };
            log.append(event, &facts("c1"), &detail).await.unwrap();
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
        assert_eq!(lines[1]["call_id"], "c1");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn each_line_carries_the_hash_of_the_one_before_and_append_returns_its_own() {
        let dir = temp_dir("chain");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::new(path.clone());
        let mut hashes = Vec::new();
        for event in [
            AuditEvent::Planned,
            AuditEvent::Approved,
            AuditEvent::Written,
        ] {
            hashes.push(
                log.append(event, &facts("c1"), &Detail::default())
                    .await
                    .unwrap(),
            );
        }
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let parsed: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            parsed[0].get("prev").is_none(),
            "a new file's first line has no prev"
        );
        for i in 0..3 {
            assert_eq!(hashes[i], sha256_hex(lines[i].as_bytes()));
        }
        assert_eq!(parsed[1]["prev"], hashes[0]);
        assert_eq!(parsed[2]["prev"], hashes[1]);
        let verified = verify(text.as_bytes()).unwrap();
        assert_eq!((verified.records, verified.unchained), (3, 1));
        assert_eq!(verified.last.unwrap()["event"], "written");
        fs::remove_dir_all(dir).unwrap();
    }

    /// Three chained lines: an unchained first and two that link back.
    fn chained(lines: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in lines {
            let mut record: Value = serde_json::from_str(line).unwrap();
            if let Some(previous) = out.last() {
                record["prev"] = Value::String(sha256_hex(previous.as_bytes()));
            }
            out.push(record.to_string());
        }
        out
    }

    fn text(lines: &[String]) -> Vec<u8> {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    }

    #[test]
    fn verify_names_the_first_line_an_edit_a_deletion_or_a_swap_breaks() {
        let lines = chained(&[
            r#"{"event":"planned","n":1}"#,
            r#"{"event":"approved","n":2}"#,
            r#"{"event":"written","n":3}"#,
            r#"{"event":"planned","n":4}"#,
        ]);
        assert_eq!(verify(&text(&lines)).unwrap().records, 4);

        let mut edited = lines.clone();
        edited[1] = edited[1].replace(r#""n":2"#, r#""n":7"#);
        assert_eq!(verify(&text(&edited)).unwrap_err().line, 3);

        let mut deleted = lines.clone();
        deleted.remove(1);
        assert_eq!(verify(&text(&deleted)).unwrap_err().line, 2);

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&text(&swapped)).unwrap_err().line, 2);

        let mut garbage = lines.clone();
        garbage[2] = "not json".into();
        let broken = verify(&text(&garbage)).unwrap_err();
        assert_eq!(broken.line, 3);
        assert!(broken.problem.contains("not a JSON record"), "{broken}");

        let head_cut = verify(&text(&lines[1..])).unwrap_err();
        assert_eq!(head_cut.line, 1);
        assert!(head_cut.problem.contains("first line"), "{head_cut}");

        let mut unlinked = lines.clone();
        unlinked[3] = r#"{"event":"planned","n":4}"#.into();
        assert_eq!(verify(&text(&unlinked)).unwrap_err().line, 4);
        assert_eq!(verify(b"").unwrap().records, 0);
    }

    #[tokio::test]
    async fn a_log_begun_before_the_chain_is_chained_from_its_last_line_on() {
        let dir = temp_dir("legacy");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        fs::write(&path, "{\"event\":\"planned\"}\n{\"event\":\"written\"}\n").unwrap();
        let log = AuditLog::new(path.clone());
        log.append(AuditEvent::Planned, &facts("c2"), &Detail::default())
            .await
            .unwrap();
        let verified = verify(&fs::read(&path).unwrap()).unwrap();
        assert_eq!((verified.records, verified.unchained), (3, 2));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn two_writers_on_one_file_keep_one_chain() {
        let dir = temp_dir("writers");
        let path = dir.join("audit.jsonl");
        let writers: Vec<_> = (0..2)
            .map(|writer| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        append_chained(
                            &path,
                            AuditEvent::Planned,
                            &facts(&format!("w{writer}")),
                            &Detail::default(),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let verified = verify(&fs::read(&path).unwrap()).unwrap();
        assert_eq!((verified.records, verified.unchained), (50, 1));
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn errors_and_notes_are_clipped_to_4_kib_so_a_webhook_cannot_swell_the_log() {
        let dir = temp_dir("clip");
        let path = dir.join("audit.jsonl");
        let detail = Detail {
            error: Some("e".repeat(1 << 20)),
            note: Some("n".repeat(5000)),
            ..Default::default()
        };
        AuditLog::new(path.clone())
            .append(AuditEvent::Failed, &facts("c1"), &detail)
            .await
            .unwrap();
        let record: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let error = record["error"].as_str().unwrap();
        let (kept, rest) = error.split_at(4096);
        assert!(kept.bytes().all(|byte| byte == b'e'));
        assert_eq!(rest, format!("... ({} more characters)", (1 << 20) - 4096));
        assert_eq!(
            record["note"],
            format!("{}... (904 more characters)", "n".repeat(4096))
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_unwritable_path_is_an_error_naming_it() {
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
            .await
            .unwrap_err();
        assert!(error.to_string().contains("file/audit.jsonl"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
