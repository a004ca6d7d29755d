//! The audit trail: every undo plan, approval decision and write attempt, one JSON object per
//! line, for operators (`jq`-friendly). A record is written and flushed to disk before the
//! call goes on; if the approval record cannot be written, the undo is refused with no write.
//!
//! The lines form a hash chain: each record's `prev` is the SHA-256 (lower-case hex) of the
//! previous line's bytes, read back from the end of the file itself under an exclusive lock
//! (`File::lock`: `flock` on Unix, `LockFileEx` on Windows), so servers appending to one file keep one chain. A line torn by a crash or a full disk is
//! covered by the next record's `prev` together with the record before it (`tail`), so
//! [`verify`] (`k8s-rollout-mcp audit verify`) can accept and report it rather than fail on it
//! for ever; README "The audit log" says what the chain proves and what it cannot. `error` and
//! `note` are clipped, so no message makes a line huge. The write and its fsync run on a
//! blocking thread, off the async runtime.
//!
//! Default location: `k8s-rollout-mcp/audit.jsonl` under the platform's state directory
//! (`$XDG_STATE_HOME`, else `~/.local/state`, on Linux and macOS; `%LOCALAPPDATA%` on Windows);
//! the directory and file are created owner-only (`crate::platform` says how per platform).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::ApprovalPath;
use crate::platform;
use crate::rollout::clip;
use crate::rollout::template::sha256_hex;

/// Characters kept of a record's `error` and `note`: they carry API server and webhook
/// messages of any length, and every append reads the last line back.
const MESSAGE: usize = 4 * 1024;
/// Bytes read at a time while looking back from the end of the file for the last line.
const CHUNK: usize = 4 * 1024;

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
    /// A dry run came back stored (a new resourceVersion): something between this server and
    /// the API server dropped `dryRun=All`, and the patch was written without approval.
    DryRunStored,
    /// The approved patch was written, recorded as soon as the API server's answer (or a
    /// re-read, when the answer was lost: `note` says so) proved it.
    Written,
    /// After `written`: the revision the controller gave the restored template
    /// (`resulting_revision`, absent when it was not observed in time; `note` says how it was
    /// determined).
    ReadBack,
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
    /// SHA-256 of the exact patch body sent (a dry run or the write).
    pub patch_sha256: Option<String>,
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

    /// The default path, under [`platform::state_dir`].
    pub fn default_path() -> Option<PathBuf> {
        Some(
            platform::state_dir()?
                .join("k8s-rollout-mcp")
                .join("audit.jsonl"),
        )
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

/// Locks the file, chains the record to its last line (and any torn lines), writes and
/// syncs it.
fn append_chained(
    path: &Path,
    event: AuditEvent,
    call: &CallFacts,
    detail: &Detail,
) -> std::io::Result<String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = dir {
        platform::create_private_dir_all(dir)?;
    }
    let created = !path.exists();
    let mut file = platform::open_private_append(path)?;
    // Another server appending to the same file waits here: one chain.
    file.lock()?;
    let tail = tail(&file)?;
    let mut line = String::new();
    if !tail.ends_with_newline {
        // A torn last line stays its own line, which this record's `prev` covers.
        line.push('\n');
    }
    let record = Record {
        prev: tail.prev,
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
        platform::sync_dir(dir)?;
    }
    Ok(hash)
}

/// What the next record chains to, read back from the end of the file.
struct Tail {
    /// The next record's `prev`; `None` for an empty file.
    prev: Option<String>,
    /// Whether the file ends with a newline; if not, the next record starts a new line.
    ends_with_newline: bool,
}

/// The next record's `prev`: the SHA-256 of the last line, without its newline. When the file
/// ends in torn lines ([`is_torn`]), of everything from the start of the whole line before them
/// to the end of the file, so that one record covers both the torn lines and the record they
/// follow (README "The audit log"). The file is read backwards in [`CHUNK`]s: the work is
/// bounded by those last lines, whatever their length, not by the file.
fn tail(file: &File) -> std::io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail {
            prev: None,
            ends_with_newline: true,
        });
    }
    let ends_with_newline = read(file, len - 1, len)? == b"\n";
    let end = if ends_with_newline { len - 1 } else { len };
    let mut start = line_start(file, end)?;
    let mut covered = read(file, start, end)?;
    // Torn lines are rare and short, so the covered bytes are read again as each is found.
    while start > 0
        && covered
            .split(|&byte| byte == b'\n')
            .next()
            .is_some_and(is_torn)
    {
        start = line_start(file, start - 1)?;
        covered = read(file, start, end)?;
    }
    Ok(Tail {
        prev: Some(sha256_hex(&covered)),
        ends_with_newline,
    })
}

/// Where the line that ends at byte `end` begins: just after the newline before it, or at 0.
fn line_start(file: &File, end: u64) -> std::io::Result<u64> {
    let mut chunk = [0u8; CHUNK];
    let mut start = end;
    while start > 0 {
        let size = start.min(CHUNK as u64);
        let from = start - size;
        let chunk = &mut chunk[..size as usize];
        platform::read_exact_at(file, chunk, from)?;
        if let Some(newline) = chunk.iter().rposition(|&byte| byte == b'\n') {
            return Ok(from + newline as u64 + 1);
        }
        start = from;
    }
    Ok(0)
}

/// The file's bytes from `start` to `end`.
fn read(file: &File, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(end - start).map_err(std::io::Error::other)?;
    let mut bytes = vec![0; len];
    platform::read_exact_at(file, &mut bytes, start)?;
    Ok(bytes)
}

/// Whether `line` is a record cut short, as a crash or a full disk mid-write leaves one: the
/// start of a JSON object whose end never reached the file. An edited line, or anything else
/// that does not parse, is not torn.
fn is_torn(line: &[u8]) -> bool {
    line.starts_with(b"{")
        && serde_json::from_slice::<IgnoredAny>(line).is_err_and(|error| error.is_eof())
}

/// What [`verify`] found in an intact log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verified {
    /// Records in the file (torn lines are not records).
    pub records: usize,
    /// Records before the first chained one (written before the chain existed).
    pub unchained: usize,
    /// The last record, parsed.
    pub last: Option<Value>,
    /// The torn lines, in file order.
    pub torn: Vec<TornLine>,
}

/// A line [`verify`] accepted as torn: a record cut short by a crash or a full disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// 1-based.
    pub line: usize,
    /// The line of the record whose `prev` covers it; `None` while no record follows it.
    pub covered_by: Option<usize>,
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
/// A torn line (`is_torn`) is accepted when the next record's `prev` covers it, together
/// with the whole line before it, as `tail` chains it, or when no record follows it yet.
pub fn verify(text: &[u8]) -> Result<Verified, ChainBreak> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut verified = Verified::default();
    if body.is_empty() {
        return Ok(verified);
    }
    // Where the bytes the next record's `prev` covers begin (the start of the last record's
    // line, or of the file when only torn lines came before), and that line's number.
    let mut covered_from: Option<(usize, usize)> = None;
    // Torn lines since the last record, waiting for a record to cover them.
    let mut torn: Vec<usize> = Vec::new();
    let mut chained = false;
    let mut offset = 0;
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        let (number, start) = (index + 1, offset);
        offset += line.len() + 1;
        let broken = |problem: String| ChainBreak {
            line: number,
            problem,
        };
        let record: Value = match serde_json::from_slice(line) {
            Ok(record) => record,
            Err(_) if is_torn(line) => {
                covered_from.get_or_insert((0, number));
                torn.push(number);
                continue;
            }
            Err(error) => return Err(broken(format!("not a JSON record ({error})"))),
        };
        if !record.is_object() {
            return Err(broken("not a JSON object".into()));
        }
        let covered = covered_from.map(|(from, first)| (&text[from..start - 1], first));
        match (record.get("prev"), covered) {
            (None | Some(Value::Null), _) if !torn.is_empty() => {
                return Err(broken(format!(
                    "no `prev` to cover the torn line {index} before it: a record was replaced or the chain cut"
                )));
            }
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
            (Some(prev), Some((covered, first))) => {
                let expected = sha256_hex(covered);
                if prev.as_str() != Some(expected.as_str()) {
                    let lines = if first == index {
                        format!("line {index} hashes")
                    } else {
                        format!("lines {first} to {index} hash")
                    };
                    return Err(broken(format!(
                        "`prev` is {prev}, but {lines} to \"{expected}\": a line was edited, removed or moved"
                    )));
                }
                chained = true;
            }
        }
        verified.torn.extend(torn.drain(..).map(|line| TornLine {
            line,
            covered_by: Some(number),
        }));
        covered_from = Some((start, number));
        verified.records += 1;
        verified.last = Some(record);
    }
    verified.torn.extend(torn.into_iter().map(|line| TornLine {
        line,
        covered_by: None,
    }));
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};

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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
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

    /// `lines` joined as a file, the last without its newline when `torn_tail`.
    fn file(lines: &[&str], torn_tail: bool) -> Vec<u8> {
        let mut text = lines.join("\n");
        if !torn_tail {
            text.push('\n');
        }
        text.into_bytes()
    }

    /// A record chained to `covered`, as [`tail`] chains it.
    fn covering(covered: &str) -> String {
        format!(
            r#"{{"prev":"{}","event":"planned"}}"#,
            sha256_hex(covered.as_bytes())
        )
    }

    #[test]
    fn verify_accepts_a_torn_line_the_next_record_covers_with_the_record_before_it() {
        let lines = chained(&[r#"{"event":"planned"}"#, r#"{"event":"approved"}"#]);
        let (first, second) = (lines[0].as_str(), lines[1].as_str());
        let torn = r#"{"prev":"ab12","event":"wri"#;

        let verified = verify(&file(&[first, second, torn], true)).unwrap();
        assert_eq!((verified.records, verified.unchained), (2, 1));
        assert_eq!(
            verified.torn,
            [TornLine {
                line: 3,
                covered_by: None
            }]
        );

        let next = covering(&format!("{second}\n{torn}"));
        let verified = verify(&file(&[first, second, torn, &next], false)).unwrap();
        assert_eq!(verified.records, 3);
        assert_eq!(verified.last.unwrap()["event"], "planned");
        assert_eq!(
            verified.torn,
            [TornLine {
                line: 3,
                covered_by: Some(4)
            }]
        );

        // Two crashes in a row, and a torn first line of a new file.
        let again = "{";
        let next = covering(&format!("{second}\n{torn}\n{again}"));
        let verified = verify(&file(&[first, second, torn, again, &next], false)).unwrap();
        assert_eq!(verified.torn.len(), 2);
        let next = covering(torn);
        let verified = verify(&file(&[torn, &next], false)).unwrap();
        assert_eq!((verified.records, verified.unchained), (1, 0));
    }

    #[test]
    fn verify_refuses_a_torn_line_the_next_record_does_not_cover_with_the_record_before_it() {
        let lines = chained(&[r#"{"event":"planned"}"#, r#"{"event":"approved"}"#]);
        let (first, second) = (lines[0].as_str(), lines[1].as_str());
        let torn = r#"{"prev":"ab12","event":"wri"#;
        let broken = |lines: &[&str]| verify(&file(lines, false)).unwrap_err();

        // Covering the torn line alone leaves the record before it open to edits.
        let alone = covering(torn);
        let error = broken(&[first, second, torn, &alone]);
        assert_eq!(error.line, 4);
        assert!(
            error.problem.contains("but lines 2 to 3 hash to"),
            "{error}"
        );
        // Skipping it leaves the torn line open to edits.
        let skipping = covering(second);
        assert_eq!(broken(&[first, second, torn, &skipping]).line, 4);
        // The record before it was edited: the record after the torn line says so.
        let next = covering(&format!("{second}\n{torn}"));
        let edited = second.replace("approved", "declined");
        assert_eq!(broken(&[first, &edited, torn, &next]).line, 4);
        // A record with no `prev` cannot cover it.
        let error = broken(&[first, second, torn, r#"{"event":"planned"}"#]);
        assert_eq!(error.line, 4);
        assert!(error.problem.contains("torn line 3"), "{error}");
        // A line that is not the start of a record is not torn, even at the end.
        for garbage in [r#"{"event":}"#, r#"["prev""#, "written"] {
            let error = verify(&file(&[first, second, garbage], true)).unwrap_err();
            assert_eq!(error.line, 3, "{garbage}");
        }
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
    async fn a_last_line_of_any_length_is_chained_to() {
        let dir = temp_dir("long");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let long = serde_json::json!({"event": "failed", "error": "x".repeat(5 << 20)});
        fs::write(&path, format!("{long}\n")).unwrap();
        AuditLog::new(path.clone())
            .append(AuditEvent::Planned, &facts("c1"), &Detail::default())
            .await
            .unwrap();
        let verified = verify(&fs::read(&path).unwrap()).unwrap();
        assert_eq!((verified.records, verified.unchained), (2, 1));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn after_a_torn_line_the_next_record_covers_it_with_the_whole_record_before() {
        let dir = temp_dir("torn-append");
        let path = dir.join("audit.jsonl");
        let append =
            || append_chained(&path, AuditEvent::Planned, &facts("c1"), &Detail::default());
        append().unwrap();
        append().unwrap();
        let whole = fs::read(&path).unwrap().len();
        // A crash cut the third record short; the next append starts a new line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"prev\":\"00").unwrap();
        append().unwrap();
        let text = fs::read(&path).unwrap();
        let lines: Vec<&[u8]> = text
            .strip_suffix(b"\n")
            .unwrap()
            .split(|&b| b == b'\n')
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], b"{\"prev\":\"00");
        let covered = &text[whole - lines[1].len() - 1..whole + lines[2].len()];
        let record: Value = serde_json::from_slice(lines[3]).unwrap();
        assert_eq!(record["prev"], sha256_hex(covered), "lines 2 and 3");
        assert!(verify(&text).is_ok());

        // A crash that wrote only the newline before a record: the torn line ends in one.
        file.write_all(b"{\"prev\"\n").unwrap();
        append().unwrap();
        assert!(verify(&fs::read(&path).unwrap()).is_ok());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_last_line_is_found_whatever_chunks_it_spans() {
        let dir = temp_dir("chunks");
        fs::create_dir_all(&dir).unwrap();
        for len in [1, CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let last = "x".repeat(len);
            for before in ["", "{}\n"] {
                let path = dir.join("audit.jsonl");
                fs::write(&path, format!("{before}{last}\n")).unwrap();
                let tail = tail(&File::open(&path).unwrap()).unwrap();
                assert_eq!(tail.prev, Some(sha256_hex(last.as_bytes())), "{len}");
            }
        }
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
